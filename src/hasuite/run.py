"""Running experiments: recorders around the fault, measurements, verdicts, the run folder.

The Chaos Toolkit glue in :mod:`hasuite.chaos` is thin; the logic lives here so the CLI and pytest
can use it without chaoslib internals:

- :class:`ExperimentSession`: one experiment's recorders, fault instant, recovery instant and,
  at the end, its measurements and verdicts (written to ``<run_dir>/<experiment>/``);
- :func:`measure_experiment`: the pure step from a timeline + ledger read-back to measurements;
- :func:`wait_recovered`, :func:`check_stack_healthy`, :func:`bounded`: bounded waits used by the
  Chaos Toolkit providers (chaoslib does not enforce Python provider timeouts: these do);
- :func:`run_experiments`: run experiment files through chaoslib (main thread only) and write
  the run folder.

Run folder (``reports/<run-id>/``, ``reports/latest`` points at the newest)::

    summary.json                 see SUMMARY SCHEMA below
    <experiment>/journal.json    the Chaos Toolkit journal
    <experiment>/samples.jsonl   one Sample per line ({"at", "wall", "probe", "ok", "latency_s",
                                 "error", "backend", "key"})
    <experiment>/roles.jsonl     one RoleObservation per line
    <experiment>/events.json     [{"at", "wall", "kind", "component", "detail"}], sorted by
                                 "at": fault / recovered / alert-firing / alert-resolved (the
                                 alert ones as in alerts.jsonl)
    <experiment>/ledger.json     every acknowledged write, each with its source (probe/load),
                                 {"acknowledged", "by_source": {kind: {source: {"acknowledged",
                                 "missing"}}}, "orders_present", "orders_confirmed",
                                 "orders_error", "task_counts"}
    <experiment>/measurements.json  [{"name", "value", "unit", "detail", "at_least"}]
    <experiment>/result.json     {"name", "status", "reason", "promises": [...], ...}
    <experiment>/load-records.jsonl  the load's requests, written by loadtests/locustfile.py
                                 (format in its docstring): {"event": "request", "wall", "mono",
                                 "method", "name", "status", "ok", "latency_s", "error",
                                 "detail", "order_id"} plus "start"/"stop" marker lines; on the
                                 timeline each request is Sample(probe="http", at=mono)
    <experiment>/locust.log      Locust's own output
    <experiment>/load.json       the load (only with `load:`): {"profile": {...}, "ran": bool,
                                 "asked_rps", "achieved_rps", "achieved_ratio", "adequate":
                                 bool | null, "adequacy": text, "window_s", "cpu_s",
                                 "cpu_percent" (of one core), "exit_code", "stopped_by",
                                 "requests", "bad_record_lines",
                                 "phases": [{"phase", "start", "end", "requests", "failures",
                                   "failure_rate", "rate_rps", "p50_s", "p95_s", "p99_s",
                                   "max_success_gap_s", "gap_at_least",
                                   "failures_by_kind": [[kind, count], ...]}],
                                 "orders": {"acknowledged", "present", "missing": [ids],
                                   "confirmed", "unconfirmed": [ids], "error"}}
    <experiment>/alerts.jsonl    (when alerts are recorded) one JSON object per line:
                                 {"source": "alertmanager", "at", "wall", "kind":
                                   "alert-firing" | "alert-resolved", "component", "detail":
                                   {"alertname", "severity", "fingerprint", "labels",
                                    "starts_at", "state", "already_firing"?}}
                                 (polled from Alertmanager API v2 at ~1 Hz; "at" monotonic =
                                 the poll that saw the change), then
                                 {"source": "receiver", "received": wall, "payload": <the
                                   Alertmanager webhook JSON>} for each notification the
                                 lab's receiver got during the experiment, or
                                 {"source": "receiver", "error": text}

Load measurements (measurements.json): ``load_{requests,failures,failure_ratio,p50_s,p95_s,
p99_s,max_success_gap_s}_{before,during,recovery,after}``, ``load_achieved_ratio``,
alert ones: ``alert_fire_s``,
``alert_resolve_s``, ``false_alarms``.

SUMMARY SCHEMA (``summary.json``)::

    {"schema_version": 1, "run_id": str, "target": str, "started": ISO-8601,
     "finished": ISO-8601 | null,
     "status": "PASS" | "FAIL" | "ERROR" | "SKIPPED" | "INTERRUPTED",
     "experiments": [{"name": str, "status": verdict, "reason": str, "dir": str,
                      "promises": [{"id", "verdict", "measured", "threshold", "unit", "reason",
                                    "checks": [...]}]}]}

``status`` of an experiment is the worst verdict of its promises (INTERRUPTED > ERROR > FAIL >
PASS > SKIPPED); the run's status is the worst over experiments.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import requests

from hasuite.analysis import (
    aggregate_status,
    build_phases,
    confirm_deadline,
    count_by_source,
    error_result,
    interrupted_result,
    judge_all,
    measure_beat_resume,
    measure_beat_slots,
    measure_duplicates,
    measure_failed_requests,
    measure_instance_ready,
    measure_lost,
    measure_max_success_gap,
    measure_outage,
    measure_phase_errors,
    measure_time_to_first_success,
    measure_time_to_new_role,
    measure_unconfirmed,
    unhealthy_baseline,
)
from hasuite.analysis.alerts import measure_alert_fire, measure_alert_resolve, measure_false_alarms
from hasuite.analysis.load import (
    LoadAdequacy,
    PhaseLoadStats,
    build_timeline_load_stats,
    measure_load_adequacy,
    measure_phase_load,
    note_load_adequacy,
)
from hasuite.analysis.recommend import with_recommendation
from hasuite.drivers.alerting import AlertingError, AlertRecorder, fetch_notifications
from hasuite.drivers.load import LoadProfile, LoadResult, LoadRun, check_reachable, start_load
from hasuite.drivers.load import load_profile as _load_profile
from hasuite.drivers.recorders import (
    ObserverSet,
    ProbeConfig,
    ProbeSet,
    fetch_ledger_check,
    fetch_order_read_back,
)
from hasuite.errors import ConfigError, HasuiteError
from hasuite.model import (
    Event,
    Injection,
    LedgerCheck,
    LedgerEntry,
    Measurement,
    OrderReadBack,
    Promise,
    PromiseResult,
    RoleObservation,
    Sample,
    Timeline,
    Verdict,
)
from hasuite.promises import PromiseCatalog, load_promises
from hasuite.settings import (
    StackSettings,
    flat_settings,
    load_stack,
    project_dir,
    suite_settings_from_env,
)
from hasuite.target import COMPONENT_ROLES, Target

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The role that makes a component's instance "primary" (the one a failover must replace).
PRIMARY_ROLE = {"postgres": "leader", "redis": "master"}
#: Components whose health makes "the stack healthy" (steady-state hypothesis).
STACK_COMPONENTS = (
    "postgres",
    "pooler",
    "redis",
    "sentinel",
    "django",
    "celery-worker",
    "celery-beat",
    "nginx",
)
REQUEST_PROBES = ("order-write", "cache-write", "task-enqueue")
#: Bumped when summary.json changes incompatibly (a field removed or its meaning changed).
SUMMARY_SCHEMA_VERSION = 1
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_ALERT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Measurements that need Alertmanager recorded (a session judging them polls its API).
ALERT_MEASUREMENTS = ("alert_fire_s", "alert_resolve_s", "false_alarms")


# --------------------------------------------------------------------------------------------
# Bounded calls
# --------------------------------------------------------------------------------------------


def bounded(fn: Callable[[], T], timeout_s: float, what: str) -> T:
    """Run ``fn`` in a daemon thread; raise HasuiteError when it takes over ``timeout_s``.

    chaoslib does not enforce ``timeout`` on Python providers: every provider wraps its work in
    this. A call that overruns keeps running in its (daemon) thread but cannot hang the run.
    """
    box: dict[str, Any] = {}

    def call() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    t = threading.Thread(target=call, name=f"bounded-{what}", daemon=True)
    t.start()
    t.join(timeout_s)
    if t.is_alive():
        raise HasuiteError(f"{what} did not finish within {timeout_s:.0f} s (abandoned)")
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value


# --------------------------------------------------------------------------------------------
# Experiments on disk
# --------------------------------------------------------------------------------------------


def known_experiments(experiments_dir: Path) -> list[str]:
    """Experiment names (file stems of ``*.yaml``) in ``experiments_dir``, sorted."""
    return sorted(p.stem for p in experiments_dir.glob("*.yaml"))


def resolve_experiments(names: Sequence[str], experiments_dir: Path) -> list[Path]:
    """The files of ``names`` (all when empty); ConfigError listing the known ones otherwise."""
    known = known_experiments(experiments_dir)
    if not names:
        return [experiments_dir / f"{n}.yaml" for n in known]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(
            f"unknown experiment(s) {', '.join(unknown)}; known: {', '.join(known) or 'none'} "
            f"(files in {experiments_dir})"
        )
    return [experiments_dir / f"{n}.yaml" for n in names]


@dataclass(frozen=True, kw_only=True)
class ExperimentOptions:
    """The ``hasuite`` extension of an experiment file.

    ``name``: the experiment's name (its file stem); ``promises``: ids judged; ``observe``:
    components whose roles/readiness are recorded; ``probes``: which app probes run;
    ``baseline_s``: recording before the fault; ``settle_s``: recording after recovery.
    """

    name: str
    promises: tuple[str, ...]
    observe: tuple[str, ...] = ()
    probes: tuple[str, ...] = ("order-write", "cache-write", "task-enqueue", "task-run")
    baseline_s: float = 3.0
    settle_s: float = 3.0
    settle_timeout_s: float = 60.0
    beat: bool = False
    #: the Locust profile running through the whole recording (loadtests/profiles.yaml); None = none
    load: LoadProfile | None = None
    #: the alerts the fault must make fire (env/alerts/rules); judged by ALERT-FIRES/-RESOLVES
    alerts: tuple[str, ...] = ()
    #: False for fault-less experiments (healthy baseline): no injection is then not an ERROR
    fault: bool = True
    #: work each probe task simulates (s): tasks are running and queued when workers die
    task_hold_s: float = 0.0
    #: after recovery, wait up to this long (s) for acknowledged tasks to run, within the
    #: task deadline (broker visibility timeout + grace); 0 = no wait
    task_wait_s: float = 0.0


def parse_options(experiment: Mapping[str, Any]) -> ExperimentOptions:
    """Read the ``hasuite`` extension (ConfigError naming the key on bad input)."""
    ext = next(
        (e for e in experiment.get("extensions", []) or [] if e.get("name") == "hasuite"), None
    )
    title = experiment.get("title", "?")
    if ext is None:
        raise ConfigError(f"experiment {title!r}: no `extensions: [{{name: hasuite, ...}}]`")
    where = f"experiment {title!r}: extensions.hasuite"
    name = ext.get("experiment")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{where}.experiment: expected the experiment's name, got {name!r}")
    promises = ext.get("promises")
    if not isinstance(promises, list) or not all(isinstance(p, str) for p in promises):
        raise ConfigError(f"{where}.promises: expected a list of promise ids, got {promises!r}")
    observe = ext.get("observe", [])
    bad = [c for c in observe if c not in COMPONENT_ROLES]
    if bad:
        raise ConfigError(f"{where}.observe: unknown component(s) {bad}")
    kwargs: dict[str, Any] = {}
    for key in ("baseline_s", "settle_s", "settle_timeout_s", "task_hold_s", "task_wait_s"):
        if key in ext:
            value = ext[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ConfigError(f"{where}.{key}: expected a number >= 0, got {value!r}")
            kwargs[key] = float(value)
    if "probes" in ext:
        kwargs["probes"] = tuple(ext["probes"])
    if "beat" in ext:
        kwargs["beat"] = bool(ext["beat"])
    if "fault" in ext:
        if not isinstance(ext["fault"], bool):
            raise ConfigError(
                f"{where}.fault: expected true (the method injects a fault) or false (a "
                f"fault-less experiment such as a healthy baseline), got {ext['fault']!r}"
            )
        kwargs["fault"] = ext["fault"]
    if "load" in ext:
        kwargs["load"] = parse_load_option(ext["load"], where=f"{where}.load")
    if "alerts" in ext:
        kwargs["alerts"] = parse_alerts_option(ext["alerts"], where=f"{where}.alerts")
    return ExperimentOptions(name=name, promises=tuple(promises), observe=tuple(observe), **kwargs)


def parse_load_option(
    raw: Any, *, where: str, profiles_path: Path | None = None
) -> LoadProfile | None:
    """``load: {profile: NAME}`` -> the validated profile (``load: null`` = no load)."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or set(raw) != {"profile"}:
        raise ConfigError(
            f"{where}: expected {{profile: <name>}} naming a profile of loadtests/profiles.yaml, "
            f"got {raw!r}"
        )
    name = raw["profile"]
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}.profile: expected a profile name, got {name!r}")
    try:
        if profiles_path is None:
            return _load_profile(name)
        return _load_profile(name, profiles_path)
    except ConfigError as exc:
        raise ConfigError(f"{where}.profile: {exc}") from exc


def known_alert_names(rules_dir: Path | None = None) -> frozenset[str]:
    """Alert names defined by the shared rule files (env/alerts/rules/*.yml)."""
    import yaml

    if rules_dir is None:
        rules_dir = project_dir() / "env" / "alerts" / "rules"
    names: set[str] = set()
    for path in sorted(rules_dir.glob("*.yml")):
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read alert rules {path}: {exc}") from exc
        for group in doc.get("groups", []) or []:
            names.update(str(r["alert"]) for r in group.get("rules", []) or [] if "alert" in r)
    return frozenset(names)


def parse_alerts_option(
    raw: Any, *, where: str, known: frozenset[str] | None = None
) -> tuple[str, ...]:
    """``alerts: [AlertName, ...]``: names of rules in env/alerts/rules (ConfigError otherwise)."""
    if not isinstance(raw, list) or not all(isinstance(a, str) for a in raw):
        raise ConfigError(f"{where}: expected a list of alert names, got {raw!r}")
    bad = [a for a in raw if not _ALERT_NAME.match(a)]
    if bad:
        raise ConfigError(f"{where}: {bad} are not alert names (letters, digits, _)")
    known = known_alert_names() if known is None else known
    unknown = [a for a in raw if a not in known]
    if unknown:
        raise ConfigError(
            f"{where}: no alert rule named {', '.join(unknown)} in env/alerts/rules; known: "
            f"{', '.join(sorted(known)) or 'none'}"
        )
    return tuple(raw)


def select_promises(catalog: PromiseCatalog, options: ExperimentOptions) -> tuple[Promise, ...]:
    """The promises the experiment judges; each must name the experiment in promises.yaml."""
    chosen = tuple(catalog.get(pid) for pid in options.promises)
    wrong = [p.id for p in chosen if options.name not in p.experiments]
    if wrong:
        raise ConfigError(
            f"experiment {options.name} judges {', '.join(wrong)}, but {catalog.source} does "
            f"not list {options.name} among their experiments"
        )
    return chosen


# --------------------------------------------------------------------------------------------
# Health and recovery (bounded waits used by the providers)
# --------------------------------------------------------------------------------------------


def check_stack_healthy(
    target: Target, components: Sequence[str] = STACK_COMPONENTS, *, app_timeout_s: float = 2.0
) -> tuple[bool, str]:
    """(healthy, why): every instance ready, one primary per role-holding component, app ready."""
    problems: list[str] = []
    for component in components:
        try:
            found = target.instances(component)
        except HasuiteError as exc:
            problems.append(f"{component}: {exc}")
            continue
        down = [f"{i.name} ({i.detail or 'not ready'})" for i in found if not i.ready]
        if not found:
            problems.append(f"{component}: no instances")
        if down:
            problems.append(f"{component}: not ready: {', '.join(down)}")
        role = PRIMARY_ROLE.get(component)
        if role:
            holders = [i.name for i in found if i.role == role and i.ready]
            if len(holders) != 1:
                problems.append(f"{component}: {len(holders)} ready {role}(s) {holders}")
    try:
        url = target.endpoints().app_url.rstrip("/") + "/readyz"
        resp = requests.get(url, timeout=app_timeout_s)
        if resp.status_code != 200:
            # the body is not quoted: an error page may carry connection strings or secrets
            problems.append(f"app {url}: HTTP {resp.status_code} (see the app instances' logs)")
    except requests.RequestException as exc:
        problems.append(f"app: {type(exc).__name__}")
    return (not problems, "; ".join(problems) or "every component ready")


@dataclass(frozen=True, kw_only=True)
class Recovery:
    at: float
    wall: float
    detail: str


def wait_recovered(
    target: Target,
    component: str,
    *,
    timeout_s: float,
    injection: Injection | None = None,
    stable_s: float = 3.0,
    poll_s: float = 0.25,
    clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Recovery:
    """Wait until ``component`` is back per the control plane; return when it first was.

    Back = every instance ready, exactly one ready primary (leader/master) where the component
    has one, and, when ``injection`` hit a primary, the primary changed or the hit instance was
    seen not ready since; all of it continuously for ``stable_s``. HasuiteError after
    ``timeout_s`` with the last answer.
    """
    start = clock()
    deadline = start + timeout_s
    role = PRIMARY_ROLE.get(component)
    hit = set(injection.instances) if injection else set()
    hit_primary = bool(injection and injection.role and injection.role == role)
    hit_seen_down = False
    since: tuple[float, float] | None = None
    last = "not observed yet"
    while True:
        try:
            found = target.instances(component)
            error = None
        except Exception as exc:  # an unreachable control plane is "not back"
            found, error = [], f"{type(exc).__name__}: {exc}"
        now, now_wall = clock(), wall()
        if any(i.name in hit and (not i.ready or (role and i.role != role)) for i in found):
            hit_seen_down = True
        holders = [i.name for i in found if role and i.role == role and i.ready]
        ok = bool(found) and all(i.ready for i in found) and error is None
        if role:
            ok = ok and len(holders) == 1
        if ok and hit_primary:
            ok = hit_seen_down or holders[0] not in hit
        last = error or ", ".join(
            f"{i.name} {i.role or '-'} {'ready' if i.ready else 'NOT ready'}" for i in found
        )
        if ok:
            since = since or (now, now_wall)
            if now - since[0] >= stable_s:
                return Recovery(at=since[0], wall=since[1], detail=last)
        else:
            since = None
        if now >= deadline:
            raise HasuiteError(
                f"{component} not recovered {timeout_s:.0f} s after the fault; expected every "
                f"instance ready{f' and one {role}' if role else ''} for {stable_s:.0f} s; "
                f"last seen: {last}"
            )
        sleep(poll_s)


# --------------------------------------------------------------------------------------------
# Measurements (pure)
# --------------------------------------------------------------------------------------------


def _unmeasured(name: str, unit: str, why: str) -> Measurement:
    return Measurement(name=name, value=None, unit=unit, detail=why)


def _measure_orders(
    ledger: Sequence[LedgerEntry],
    orders: OrderReadBack | None,
    *,
    error: str | None,
    recovered_at: float | None,
    confirm_within_s: float | None,
) -> list[Measurement]:
    """lost, duplicate and unconfirmed orders over every source's acknowledged orders."""
    names = ("lost_orders", "duplicate_orders", "unconfirmed_orders")
    if not any(e.kind == "order" for e in ledger):
        why = "no acknowledged order in the ledger (no probe or user order was answered)"
        return [_unmeasured(n, "count", why) for n in names]
    if orders is None:
        why = f"orders not read back: {error or 'no read-back'}"
        return [_unmeasured(n, "count", why) for n in names]
    out = [
        measure_lost(ledger, orders.check, kind="order"),
        measure_duplicates(ledger, orders.check, kind="order"),
    ]
    if confirm_within_s is None:
        out.append(
            _unmeasured("unconfirmed_orders", "count", "no judged promise sets a confirm deadline")
        )
    else:
        out.append(
            measure_unconfirmed(
                ledger, orders, recovered_at=recovered_at, within_s=confirm_within_s
            )
        )
    return out


def beat_restart_slot(
    roles: Sequence[RoleObservation], *, fault_at: float | None, interval_s: float
) -> int | None:
    """The slot in which celery-beat was first seen ready again after the fault (pure)."""
    if fault_at is None or interval_s <= 0:
        return None
    obs = sorted(
        (r for r in roles if r.component == "celery-beat" and r.at >= fault_at), key=lambda r: r.at
    )
    down = next((i for i, r in enumerate(obs) if not r.ready), None)
    candidates = obs[down:] if down is not None else obs
    back = next((r for r in candidates if r.ready), None)
    return int(back.wall // interval_s) if back else None


def measure_experiment(
    timeline: Timeline,
    *,
    ledger: Sequence[LedgerEntry],
    orders: OrderReadBack | None,
    tasks: LedgerCheck | None,
    injection: Injection | None,
    end: float,
    resolution_s: float = 0.1,
    task_deadline_s: float | None = None,
    confirm_within_s: float | None = None,
    beat: Mapping[str, Any] | None = None,
    ledger_error: str | None = None,
    orders_error: str | None = None,
) -> list[Measurement]:
    """Every measurement this experiment can give (pure; None values say why not).

    ``ledger`` holds every acknowledged write of every source (probes and load); ``orders`` is
    the read-back of all its orders, ``tasks`` of the probe tasks.
    """
    fault = timeline.fault_at()
    out: list[Measurement] = []
    by_probe = {p: timeline.for_probe(p) for p in timeline.probes()}

    def outage(probe: str, name: str) -> Measurement:
        if probe not in by_probe:
            return _unmeasured(name, "s", f"the {probe} probe did not run")
        return measure_outage(by_probe[probe], fault_at=fault, name=name, resolution_s=resolution_s)

    out.append(outage("order-write", "write_outage_s"))
    out.append(outage("cache-write", "cache_write_outage_s"))
    out.append(outage("task-enqueue", "task_enqueue_outage_s"))
    if "order-write" in by_probe:
        out.append(measure_time_to_first_success(by_probe["order-write"], after=fault))
    else:
        out.append(_unmeasured("write_first_success_s", "s", "the order-write probe did not run"))
    # Celery consumes NEW tasks again: tasks acknowledged after the fault, first seen executed.
    acked = {e.key: e.acknowledged_at for e in ledger if e.kind == "task"}
    runs = [
        s
        for s in by_probe.get("task-run", ())
        if fault is not None and s.key is not None and acked.get(s.key, -math.inf) >= fault
    ]
    if fault is None:
        out.append(_unmeasured("task_resume_s", "s", "no fault instant on the timeline"))
    elif "task-enqueue" not in by_probe:
        out.append(_unmeasured("task_resume_s", "s", "the task-enqueue probe did not run"))
    elif not runs:
        waited = max(end - fault, 0.0)
        out.append(
            Measurement(
                name="task_resume_s",
                value=waited,
                unit="s",
                at_least=True,
                detail=f"no task acknowledged after the fault was seen executed within "
                f"{waited:.1f} s",
            )
        )
    else:
        out.append(measure_time_to_first_success(runs, after=fault, name="task_resume_s"))
    out.append(
        measure_time_to_new_role(
            timeline.roles,
            component="postgres",
            role="leader",
            fault_at=fault,
            name="time_to_new_leader_s",
        )
    )
    out.append(
        measure_time_to_new_role(
            timeline.roles,
            component="redis",
            role="master",
            fault_at=fault,
            name="time_to_new_master_s",
        )
    )
    if injection is not None:
        out.append(
            measure_instance_ready(
                timeline.roles,
                component=injection.component,
                instances=injection.instances,
                fault_at=fault,
            )
        )
    else:
        out.append(_unmeasured("instance_ready_s", "s", "no injection recorded"))
    # What users saw: the request probes and the load's requests (probe "http").
    requests_ = [s for p in (*REQUEST_PROBES, "http") for s in by_probe.get(p, ())]
    if fault is None:
        why = "no fault instant on the timeline"
        out += [
            _unmeasured("failed_requests", "count", why),
            _unmeasured("failed_request_ratio", "ratio", why),
            _unmeasured("max_success_gap_s", "s", why),
        ]
    else:
        out += list(measure_failed_requests(requests_, start=fault, end=end))
        if requests_:
            out.append(measure_max_success_gap(requests_, start=fault, end=end))
        else:
            out.append(_unmeasured("max_success_gap_s", "s", "no request samples"))
    span = timeline.span()
    if span is not None:
        phases = build_phases(timeline.events, start=span[0], end=max(span[1], end))
        out += list(measure_phase_errors(requests_, phases))
    # ledgers: every source's orders, the probe tasks
    out += _measure_orders(
        ledger,
        orders,
        error=orders_error,
        recovered_at=timeline.recovered_at(),
        confirm_within_s=confirm_within_s,
    )
    if tasks is None:
        why = f"ledger not read back: {ledger_error or 'no read-back'}"
        out += [
            _unmeasured("lost_tasks", "count", why),
            _unmeasured("duplicate_tasks", "count", why),
        ]
    else:
        out.append(measure_lost(ledger, tasks, kind="task", deadline_s=task_deadline_s))
        out.append(measure_duplicates(ledger, tasks, kind="task"))
    out.append(
        _unmeasured(
            "lost_keys",
            "count",
            "the app has no cache read-back endpoint (POST /probe/cache reads back only at write)",
        )
    )
    # celery beat
    if beat is None:
        why = "beat slots not recorded for this experiment"
        out += [
            _unmeasured("beat_resume_intervals", "intervals", why),
            _unmeasured("missed_slots", "count", why),
            _unmeasured("doubled_slots", "count", why),
        ]
    else:
        interval = float(beat["interval"])
        slots = [(int(s["slot"]), int(s["ticks"])) for s in beat["slots"]]
        first, last = int(beat["first_slot"]), int(beat["last_slot"])
        restart = beat_restart_slot(timeline.roles, fault_at=fault, interval_s=interval)
        out.append(measure_beat_resume(slots, restart_slot=restart, last_slot=last))
        missed_from = restart + 1 if restart is not None else last + 1
        missed, _ = measure_beat_slots(slots, first_slot=missed_from, last_slot=last)
        _, doubled = measure_beat_slots(slots, first_slot=first, last_slot=last)
        out += [missed, doubled]
    return out


# --------------------------------------------------------------------------------------------
# One experiment's session
# --------------------------------------------------------------------------------------------


def _iso(wall: float | None) -> str | None:
    return datetime.fromtimestamp(wall, UTC).isoformat() if wall is not None else None


@dataclass
class ExperimentResult:
    name: str
    status: Verdict
    reason: str
    promises: tuple[PromiseResult, ...]
    measurements: tuple[Measurement, ...] = ()
    dir: str = ""

    def explain(self, result: PromiseResult) -> str:
        """``result``'s verdict and reason, then the detail of every check that did not hold.

        A CI log is often all there is to tell a cause: "4 of 2521 requests failed (http 502
        x4)" says more than "failed requests 4 != 0".
        """
        details = {m.name: m.detail for m in self.measurements if m.detail}
        lines = [f"{self.name}: {result.verdict.value}: {result.reason}"]
        for check in result.checks:
            name = check.check.measurement
            if check.holds is not True and name in details:
                lines.append(f"    {name}: {details[name]}")
        if self.dir:
            lines.append(f"    evidence: {self.dir}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status.value,
            "reason": self.reason,
            "dir": self.dir,
            "promises": [p.to_dict() for p in self.promises],
        }


@dataclass
class ExperimentSession:
    """One experiment's recording and judgement. Used by the Chaos Toolkit control.

    Lifecycle: ``start_recorders()`` -> (``note_injection``, ``note_recovered``) ->
    ``stop_and_measure()`` -> ``finish(journal_status)``; ``note_error`` at any point makes the
    verdicts ERROR with that reason. Every step is bounded and safe to call twice.
    """

    options: ExperimentOptions
    promises: tuple[Promise, ...]
    target: Target
    run_dir: Path
    probe_hz: float = 10.0
    probe_timeout_s: float = 1.0
    observe_hz: float = 4.0
    task_deadline_s: float | None = None
    #: the one wait scale (HASUITE_TIMEOUT_MULTIPLIER, read like every other suite setting)
    timeout_multiplier: float = field(
        default_factory=lambda: suite_settings_from_env(os.environ).timeout_multiplier
    )
    alert_poll_s: float = 1.0
    #: longest wait for orders to be confirmed at the read-back, past the deadline the
    #: ORDER-CONFIRMED promise sets (scaled by timeout_multiplier)
    order_confirm_wait_s: float = 90.0
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    probes: ProbeSet | None = None
    observers: ObserverSet | None = None
    load_run: LoadRun | None = None
    load_result: LoadResult | None = None
    alert_recorder: AlertRecorder | None = None
    #: the settings under test and the known-good profile (recommendations of a FAIL)
    stack: StackSettings | None = None
    known_good: StackSettings | None = None
    #: why the fault must not be injected (the actions refuse); None = go ahead
    refused: str | None = None
    injections: list[Injection] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    last_health: str = ""
    measurements: tuple[Measurement, ...] | None = None
    result: ExperimentResult | None = None
    started_wall: float = field(default_factory=time.time)
    _samples: tuple[Sample, ...] = ()
    _roles: tuple[RoleObservation, ...] = ()
    _ledger: tuple[LedgerEntry, ...] = ()
    _tasks: LedgerCheck | None = None
    _orders: OrderReadBack | None = None
    _orders_error: str | None = None
    _load_stats: tuple[PhaseLoadStats, ...] = ()
    _adequacy: LoadAdequacy | None = None
    _extra: list[Measurement] = field(default_factory=list)
    _alert_error: str | None = None
    _alert_started: float | None = None
    _notifications: list[dict[str, Any]] = field(default_factory=list)
    _notifications_error: str | None = None

    @property
    def name(self) -> str:
        return self.options.name

    @property
    def records_alerts(self) -> bool:
        """True when a judged promise needs an alert measurement (the experiment's alerts are
        then recorded; a run that judges only other promises does not wait for alerts)."""
        needed = {m for p in self.promises for m in p.measurement_names()}
        return bool(needed & set(ALERT_MEASUREMENTS))

    def threshold(self, measurement: str) -> float | None:
        """The (first) threshold a judged promise sets on ``measurement``."""
        for p in self.promises:
            for c in p.checks:
                if c.measurement == measurement:
                    return c.threshold
        return None

    def refuse(self, reason: str) -> None:
        """Make the fault actions refuse to inject (the experiment is then ERROR)."""
        if self.refused is None:
            self.refused = reason
        self.note_error(reason)

    @property
    def out_dir(self) -> Path:
        return self.run_dir / self.name

    def observed_components(self) -> tuple[str, ...]:
        return self.options.observe

    # -- recording ---------------------------------------------------------------------------

    def _preflight(self, app_url: str, alertmanager_url: str) -> AlertRecorder | None:
        """Refuse the fault unless the load's host and Alertmanager answer (HasuiteError)."""
        if self.options.load is not None:
            check_reachable(app_url, timeout_s=3.0 * self.timeout_multiplier)
        if not self.records_alerts:
            return None
        recorder = AlertRecorder(
            alertmanager_url,
            poll_s=self.alert_poll_s,
            timeout_s=2.0 * self.timeout_multiplier,
            clock=self.clock,
            wall=self.wall,
        )
        recorder.check()
        return recorder

    def start_recorders(self) -> None:
        """Preflight, then load, probes, observers and the alert recorder; then the baseline.

        An unreachable app or Alertmanager, or a load that does not start, refuses the fault
        (see :meth:`refuse`): nothing is recorded and the experiment is ERROR.
        """
        if self.probes is not None or self.refused is not None:
            return
        endpoints = self.target.endpoints()
        try:
            recorder = self._preflight(endpoints.app_url, endpoints.alertmanager_url)
            if self.options.load is not None:
                self.load_run = start_load(
                    endpoints.app_url,
                    self.options.load,
                    run_dir=self.out_dir,
                    check_host=False,
                    timeout_multiplier=self.timeout_multiplier,
                )
        except HasuiteError as exc:
            self.refuse(f"fault not injected: {exc}")
            return
        if recorder is not None:
            self.alert_recorder = recorder
            self._alert_started = self.clock()
            recorder.start()
        self.probes = ProbeSet(
            ProbeConfig(
                app_url=endpoints.app_url,
                token=endpoints.probe_token,
                rate_hz=self.probe_hz,
                timeout_s=self.probe_timeout_s,
                probes=self.options.probes,
                task_hold_s=self.options.task_hold_s,
            ),
            clock=self.clock,
            wall=self.wall,
        )
        self.observers = ObserverSet(
            self.target,
            self.observed_components(),
            rate_hz=self.observe_hz,
            clock=self.clock,
            wall=self.wall,
        )
        self.probes.start()
        self.observers.start()
        log.info(
            "%s: recorders started (%s at %.0f Hz; observing %s)",
            self.name,
            ", ".join(self.options.probes),
            self.probe_hz,
            ", ".join(self.observed_components()) or "nothing",
        )
        ramp = self.options.load.ramp_s if self.options.load is not None else 0.0
        self.sleep(ramp + self.options.baseline_s)

    def note_injection(self, injection: Injection) -> None:
        self.injections.append(injection)
        self.events.append(injection.to_event())

    def note_recovered(self, component: str, recovery: Recovery) -> None:
        self.events.append(
            Event(
                at=recovery.at,
                wall=recovery.wall,
                kind="recovered",
                component=component,
                detail=recovery.detail,
            )
        )

    def add_measurements(self, measurements: Sequence[Measurement]) -> None:
        """Measurements an action took itself (e.g. the HPA cycle); they win over computed ones
        of the same name."""
        self._extra.extend(measurements)

    def note_error(self, reason: str) -> None:
        log.warning("%s: %s", self.name, reason)
        self.errors.append(reason)

    def _settle(self) -> None:
        """Keep recording until every request probe succeeded after its last failure."""
        if self.probes is None:
            return
        self.sleep(self.options.settle_s)
        deadline = self.clock() + self.options.settle_timeout_s
        while self.clock() < deadline:
            samples = self.probes.samples()
            pending = []
            for probe in REQUEST_PROBES:
                mine = [s for s in samples if s.probe == probe]
                if mine and not max(mine, key=lambda s: s.at).ok:
                    pending.append(probe)
            if not pending:
                return
            self.sleep(0.2)
        log.warning(
            "%s: probes still failing %.0f s after recovery",
            self.name,
            self.options.settle_timeout_s,
        )

    def _await_tasks(self) -> None:
        """Wait (bounded) until the tasks acknowledged so far ran, so lost_tasks can be judged.

        The wait ends at the earliest of: all ran, ``task_wait_s`` (scaled), the last one's
        deadline (``task_deadline_s`` after its acknowledgement). Tasks not run and not yet due
        stay "not due yet" in lost_tasks (a lower bound: ERROR, never PASS).
        """
        if self.probes is None or self.options.task_wait_s <= 0 or self.task_deadline_s is None:
            return
        acked = {e.key: e.acknowledged_at for e in self.probes.ledger() if e.kind == "task"}
        if not acked:
            return
        start = self.clock()
        limit = start + self.options.task_wait_s * self.timeout_multiplier
        while True:
            seen = self.probes.task_first_seen()
            missing = [k for k in acked if k not in seen]
            # no point waiting past the deadline of the last task still missing
            if not missing or self.clock() >= min(
                limit, max(acked[k] for k in missing) + self.task_deadline_s
            ):
                break
            self.sleep(1.0)
        log.info(
            "%s: %d of %d acknowledged tasks ran after %.0f s of waiting",
            self.name,
            len(acked) - len(missing),
            len(acked),
            self.clock() - start,
        )

    def stop_and_measure(self) -> tuple[Measurement, ...]:
        """Settle, stop the recorders, read the ledger back, compute measurements (once)."""
        if self.measurements is not None:
            return self.measurements
        if self.probes is None or self.observers is None:
            self.measurements = ()
            return self.measurements
        if self.injections:
            self._settle()
            self._await_tasks()
            self._await_alerts()
        self.probes.stop()
        self.observers.stop()
        self._stop_alerts()
        if self.load_run is not None:
            self.load_result = self.load_run.stop()
        end = self.clock()
        self._samples = self.probes.samples()
        self._roles = self.observers.roles()
        # one ledger: the probes' acknowledged writes and the load's orders
        self._ledger = self.probes.ledger() + (
            self.load_result.ledger if self.load_result is not None else ()
        )
        endpoints = self.target.endpoints()
        self._read_back_orders(endpoints.app_url)
        if self.records_alerts and endpoints.alert_receiver_url:
            try:
                self._notifications = fetch_notifications(
                    endpoints.alert_receiver_url, since_wall=self.started_wall
                )
            except AlertingError as exc:
                self._notifications_error = str(exc)
        ledger_error = None
        try:
            self._tasks = fetch_ledger_check(
                endpoints.app_url,
                endpoints.probe_token,
                task_seqs=self.probes.acked_seqs("task"),
                task_first_seen=self.probes.task_first_seen(),
                clock=self.clock,
            )
        except HasuiteError as exc:
            ledger_error = str(exc)
            self.note_error(f"ledger read-back failed: {exc}")
        beat = (
            self._fetch_beat(endpoints.app_url, endpoints.probe_token)
            if (self.options.beat)
            else None
        )
        load_samples = self.load_result.samples if self.load_result is not None else ()
        timeline = Timeline(
            samples=self._samples + load_samples, roles=self._roles, events=tuple(self.events)
        )
        if self.load_result is not None:
            self._load_stats = build_timeline_load_stats(timeline)
            fault_at = self.injections[0].at if self.injections else None
            recovered = [e.at for e in self.events if e.kind == "recovered"]
            self._adequacy = self.load_result.adequacy(
                exclude=(fault_at, max(recovered) if recovered else end)
                if fault_at is not None
                else None
            )
        self.measurements = tuple(
            measure_experiment(
                timeline,
                ledger=self._ledger,
                orders=self._orders,
                tasks=self._tasks,
                injection=self.injections[0] if self.injections else None,
                end=end,
                resolution_s=1.0 / self.probe_hz,
                task_deadline_s=self.task_deadline_s,
                confirm_within_s=self.confirm_within_s,
                beat=beat,
                ledger_error=ledger_error,
                orders_error=self._orders_error,
            )
        ) + tuple(
            measure_load_and_alerts(
                timeline,
                load=self.load_result,
                stats=self._load_stats,
                adequacy=self._adequacy,
                alerts=self.options.alerts if self.records_alerts else None,
                alert_error=self._alert_error,
                alert_start=self._alert_started,
                end=end,
            )
        )
        if self._extra:
            extra = {m.name for m in self._extra}
            self.measurements = tuple(m for m in self.measurements if m.name not in extra) + tuple(
                self._extra
            )
        return self.measurements

    def _await_alerts(self) -> None:
        """Keep recording until the expected alerts fired and resolved, bounded by the promises.

        Waits for a first firing up to the ALERT-FIRES bound after the fault, then for every
        fired expected alert to be resolved up to the ALERT-RESOLVES bound after recovery (+ two
        polls of margin each). Without those promises it does not wait.
        """
        rec = self.alert_recorder
        fault = next((e.at for e in self.events if e.kind == "fault"), None)
        if rec is None or not self.options.alerts or fault is None:
            return
        names = self.options.alerts
        fire_bound = self.threshold("alert_fire_s")
        resolve_bound = self.threshold("alert_resolve_s")
        margin = 2 * self.alert_poll_s + 1.0
        while True:
            now = self.clock()
            recovered = next((e.at for e in self.events if e.kind == "recovered"), None)
            fired = {
                str(e.detail.get("alertname"))
                for e in rec.events()
                if e.kind == "alert-firing"
                and e.at >= fault
                and isinstance(e.detail, Mapping)
                and e.detail.get("alertname") in names
            }
            if not fired:
                if fire_bound is None or now >= fault + fire_bound + margin:
                    return
            else:
                if resolve_bound is None or recovered is None or not (rec.firing(names) & fired):
                    return
                if now >= recovered + resolve_bound + margin:
                    return
            self.sleep(min(self.alert_poll_s, 1.0))

    def _stop_alerts(self) -> None:
        rec = self.alert_recorder
        if rec is None:
            return
        rec.stop()
        alert_events = rec.events()
        self.events.extend(alert_events)
        self.events.sort(key=lambda e: e.at)
        if rec.polls <= 1 or rec.unreachable_s > max(5.0, 5 * rec.poll_s):
            self._alert_error = (
                f"Alertmanager unreachable for {rec.unreachable_s:.0f} s during the recording "
                f"({rec.failed_polls} failed polls of {rec.polls + rec.failed_polls}; last: "
                f"{rec.last_error})"
            )
            self.note_error(self._alert_error)

    @property
    def confirm_within_s(self) -> float | None:
        """ORDER-CONFIRMED's deadline (params.confirm_within_s) when a judged promise checks
        unconfirmed_orders; None: confirmations are not waited for."""
        for p in self.promises:
            if "unconfirmed_orders" in p.measurement_names():
                return float(p.params.get("confirm_within_s", 60.0))
        return None

    def _read_back_orders(self, app_url: str) -> None:
        """Read every acknowledged order (probes and load) back; with a confirm deadline, wait
        (bounded) until each is confirmed or its deadline passed."""
        entries = [e for e in self._ledger if e.kind == "order"]
        if not entries:
            return
        within = self.confirm_within_s
        until = None
        if within is not None:
            recovered = next((e.at for e in self.events if e.kind == "recovered"), None)
            last = max(
                confirm_deadline(e, recovered_at=recovered, within_s=within) for e in entries
            )
            cap = self.clock() + self.order_confirm_wait_s * self.timeout_multiplier
            until = min(last + 1.0, cap)
        try:
            self._orders = fetch_order_read_back(
                app_url,
                [e.key for e in entries],
                confirm_until=until,
                clock=self.clock,
                sleep=self.sleep,
            )
        except HasuiteError as exc:
            self._orders_error = str(exc)
            self.note_error(f"order read-back failed: {exc}")

    def _fetch_beat(self, app_url: str, token: str | None) -> dict[str, Any] | None:
        since = int(self.started_wall)
        try:
            resp = requests.get(
                f"{app_url.rstrip('/')}/probe/beat?since={since}",
                headers={"X-Probe-Token": token or ""},
                timeout=5,
            )
            body: dict[str, Any] = resp.json()
            interval = float(body["interval"])
            return {
                "interval": interval,
                "slots": body["slots"],
                # whole slots inside the recording only
                "first_slot": int(since // interval) + 1,
                "last_slot": int(body["current_slot"]) - 1,
            }
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            self.note_error(f"beat slots could not be read: {type(exc).__name__}: {exc}")
            return None

    # -- judgement ---------------------------------------------------------------------------

    def finish(self, journal_status: str | None = None) -> ExperimentResult:
        """Judge and write the experiment folder (once). Stops recorders if still running."""
        if self.result is not None:
            return self.result
        interrupted = journal_status == "interrupted"
        measurements: tuple[Measurement, ...] = ()
        try:
            measurements = self.stop_and_measure()
        except Exception as exc:  # a verdict must still be written
            log.exception("%s: measuring failed", self.name)
            self.note_error(f"measuring failed: {type(exc).__name__}: {exc}")
        target_name = self.target.name
        if interrupted:
            reason = "run interrupted (Ctrl-C or signal) before the experiment completed"
            results = tuple(interrupted_result(p, reason) for p in self.promises)
        elif self.errors and not self.injections:
            reason = "; ".join(self.errors)
            results = tuple(error_result(p, reason) for p in self.promises)
        elif not self.injections and self.options.fault:
            reason = "no fault was injected (the method did not run or its action failed)"
            results = tuple(error_result(p, reason) for p in self.promises)
        else:
            reason = "; ".join(self.errors)
            results = judge_all(self.promises, measurements, target_name)
            if self._adequacy is not None:
                adequacy = self._adequacy
                results = tuple(note_load_adequacy(r, adequacy) for r in results)
            if self.errors:
                results = tuple(
                    _downgrade(r, reason) if r.verdict == Verdict.PASS else r for r in results
                )
            baseline = unhealthy_baseline(measurements) if self.options.fault else None
            if baseline:
                # Neither PASS nor FAIL can be trusted: the numbers mix the fault with the
                # earlier trouble (issue: "the stack unhealthy before the fault: ERROR").
                reason = "; ".join((*self.errors, baseline))
                results = tuple(
                    _downgrade(r, baseline) if r.verdict in (Verdict.PASS, Verdict.FAIL) else r
                    for r in results
                )
        results = self._recommend(results)
        status = Verdict.INTERRUPTED if interrupted else aggregate_status(results)
        self.result = ExperimentResult(
            name=self.name,
            status=status,
            reason=reason,
            promises=results,
            measurements=measurements,
            dir=str(self.out_dir),
        )
        self._write()
        return self.result

    def _recommend(self, results: tuple[PromiseResult, ...]) -> tuple[PromiseResult, ...]:
        """Give every FAIL its recommendation, also at the end of its reason."""
        if self.stack is None:
            return results
        current = flat_settings(self.stack)
        good = flat_settings(self.known_good) if self.known_good is not None else None
        by_id = {p.id: p for p in self.promises}
        out = []
        for r in results:
            promise = by_id.get(r.id)
            if promise is not None:
                r = with_recommendation(r, promise, current=current, known_good=good)
                if r.recommendation:
                    r = replace(r, reason=f"{r.reason}; recommended: {r.recommendation}")
            out.append(r)
        return tuple(out)

    def _write(self) -> None:
        out = self.out_dir
        out.mkdir(parents=True, exist_ok=True)
        with (out / "samples.jsonl").open("w") as fh:
            for s in self._samples:
                fh.write(json.dumps(asdict(s)) + "\n")
        with (out / "roles.jsonl").open("w") as fh:
            for r in self._roles:
                fh.write(json.dumps(asdict(r)) + "\n")
        _dump(out / "events.json", [asdict(e) for e in self.events])
        orders, tasks = self._orders, self._tasks
        _dump(
            out / "ledger.json",
            {
                "acknowledged": [asdict(e) for e in self._ledger],
                "by_source": {
                    "order": count_by_source(
                        self._ledger, orders.check if orders else None, kind="order"
                    ),
                    "task": count_by_source(self._ledger, tasks, kind="task"),
                    "key": count_by_source(self._ledger, None, kind="key"),
                },
                "orders_present": sorted(orders.check.present) if orders else None,
                "orders_confirmed": sorted(orders.confirmed) if orders else None,
                "orders_error": self._orders_error,
                "task_counts": dict(tasks.executions) if tasks else None,
            },
        )
        _dump(
            out / "measurements.json",
            [asdict(m) for m in self.result.measurements] if self.result else [],
        )
        if self.load_result is not None or self.options.load is not None:
            _dump(out / "load.json", self._load_json())
        if self.alert_recorder is not None or self.records_alerts:
            with (out / "alerts.jsonl").open("w") as fh:
                for e in self.events:
                    if e.kind in ("alert-firing", "alert-resolved"):
                        line = {"source": "alertmanager", **asdict(e)}
                        fh.write(json.dumps(line, default=str) + "\n")
                for n in self._notifications:
                    fh.write(json.dumps({"source": "receiver", **n}, default=str) + "\n")
                if self._notifications_error:
                    fh.write(
                        json.dumps({"source": "receiver", "error": self._notifications_error})
                        + "\n"
                    )
        assert self.result is not None
        _dump(
            out / "result.json",
            {
                **self.result.to_dict(),
                "target": self.target.name,
                "started": _iso(self.started_wall),
                "finished": _iso(self.wall()),
                "injections": [asdict(i) for i in self.injections],
                "errors": self.errors,
            },
        )

    def _load_json(self) -> dict[str, Any]:
        profile = self.options.load
        res = self.load_result
        ad = self._adequacy
        orders = self._orders
        acked = sorted({e.key for e in res.ledger}) if res is not None else []
        present = orders.check.present & set(acked) if orders else frozenset()
        confirmed = orders.confirmed & present if orders else frozenset()
        return {
            "profile": asdict(profile) if profile is not None else None,
            "ran": res is not None,
            "asked_rps": ad.asked_rps if ad else (profile.asked_rps if profile else None),
            "achieved_rps": ad.achieved_rps if ad else None,
            "achieved_ratio": ad.ratio if ad else None,
            "adequate": ad.adequate if ad else None,
            "adequacy": ad.text if ad else None,
            "window_s": ad.window_s if ad else None,
            "cpu_s": res.cpu_s if res else None,
            "cpu_percent": res.cpu_percent if res else None,
            "exit_code": res.exit_code if res else None,
            "stopped_by": res.stopped_by if res else None,
            "requests": len(res.samples) if res else 0,
            "bad_record_lines": res.records.bad_lines if res else 0,
            "phases": [asdict(st) for st in self._load_stats],
            "orders": {
                "acknowledged": len(acked),
                "present": len(present) if orders else None,
                "missing": sorted(set(acked) - present) if orders else None,
                "confirmed": len(confirmed) if orders else None,
                "unconfirmed": sorted(present - confirmed) if orders else None,
                "error": self._orders_error,
            },
        }


def measure_load_and_alerts(
    timeline: Timeline,
    *,
    load: LoadResult | None,
    stats: Sequence[PhaseLoadStats],
    adequacy: LoadAdequacy | None,
    alerts: Sequence[str] | None,
    alert_error: str | None,
    alert_start: float | None,
    end: float,
) -> list[Measurement]:
    """Load (per phase, adequacy) and alert measurements (pure). The load's orders are in the
    one ledger (:func:`measure_experiment`).

    ``alerts`` None: Alertmanager was not recorded (no alert measurement at all).
    """
    out: list[Measurement] = []
    if load is not None:
        out += list(measure_phase_load(stats))
        if adequacy is not None:
            out.append(measure_load_adequacy(adequacy))
    if alerts is None:
        return out
    names = set(alerts)
    if alert_error is not None:
        return out + [
            _unmeasured(m, "count" if m == "false_alarms" else "s", alert_error)
            for m in ALERT_MEASUREMENTS
        ]
    fault = timeline.fault_at()
    events = timeline.events
    out.append(measure_alert_fire(events, alertnames=names, fault_at=fault, until=end))
    out.append(
        measure_alert_resolve(
            events, alertnames=names, recovered_at=timeline.recovered_at(), until=end
        )
    )
    start = alert_start if alert_start is not None else (timeline.span() or (end, end))[0]
    out.append(measure_false_alarms(events, start=start, end=fault if fault is not None else end))
    return out


def _downgrade(result: PromiseResult, reason: str) -> PromiseResult:
    """A verdict that cannot be trusted (a recording error, an unhealthy baseline): ERROR with
    both reasons."""
    return PromiseResult(
        id=result.id,
        verdict=Verdict.ERROR,
        measured=result.measured,
        threshold=result.threshold,
        unit=result.unit,
        reason=f"{reason}; measured: {result.reason}",
        checks=result.checks,
    )


def _dump(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


# --------------------------------------------------------------------------------------------
# The active session (the control and the providers run in one process)
# --------------------------------------------------------------------------------------------

_active: ExperimentSession | None = None
_bound_target: Target | None = None
_lock = threading.Lock()


def active_session() -> ExperimentSession | None:
    return _active


def set_active_session(session: ExperimentSession | None) -> None:
    global _active
    with _lock:
        _active = session


@contextlib.contextmanager
def bound_target(target: Target) -> Iterator[Target]:
    """Make providers and the control use ``target`` instead of building one from config."""
    global _bound_target
    previous, _bound_target = _bound_target, target
    try:
        yield target
    finally:
        _bound_target = previous


def task_deadline(promises: Path) -> float:
    """When an acknowledged task counts as lost: CELERY-NOLOSS's ``deadline_s`` after its
    acknowledgement (a deadline users care about, independent of the broker's settings)."""
    return float(load_promises(promises).get("CELERY-NOLOSS").params.get("deadline_s", 120.0))


def stack_of(target: Target) -> StackSettings:
    """The settings under test on ``target``: the lab's own (with its profile) on local,
    env/stack.yaml's production settings elsewhere."""
    from hasuite.drivers.local.target import LocalTarget

    if isinstance(target, LocalTarget):
        return target.lab.stack
    return load_stack()


def known_good_stack() -> StackSettings | None:
    """env/stack.yaml with its known-good profile (None if the file has no such profile)."""
    try:
        return load_stack(profile="known-good")
    except ConfigError:
        return None


def make_target(name: str, env: Mapping[str, str]) -> Target:
    """The target named ``name`` built from HASUITE_* settings (the bound one wins)."""
    if _bound_target is not None:
        if _bound_target.name != name:
            raise ConfigError(f"target {name!r} requested but {_bound_target.name!r} is bound")
        return _bound_target
    if name != "local":
        raise ConfigError(f"target {name!r} is not available yet; known: local")
    from hasuite.drivers.local.lab import LocalLab
    from hasuite.drivers.local.target import LocalTarget

    suite = suite_settings_from_env(env)
    profile = None
    state_file = suite.lab_dir / "lab.json"
    with contextlib.suppress(OSError, ValueError):
        profile = json.loads(state_file.read_text()).get("profile")
    lab = LocalLab(suite, load_stack(profile=profile), project_dir())
    return LocalTarget(lab=lab)


# --------------------------------------------------------------------------------------------
# Running experiment files
# --------------------------------------------------------------------------------------------


def new_run_id(now: float | None = None) -> str:
    stamp = datetime.fromtimestamp(now if now is not None else time.time(), UTC)
    return stamp.strftime("%Y%m%dT%H%M%SZ")


def _point_latest(reports_dir: Path, run_dir: Path) -> None:
    latest = reports_dir / "latest"
    tmp = reports_dir / f".latest-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(run_dir.name)
    tmp.replace(latest)


@dataclass
class RunResult:
    run_id: str
    run_dir: Path
    status: Verdict
    experiments: list[ExperimentResult]


def run_experiments(
    names: Sequence[str],
    target: Target,
    *,
    reports_dir: Path,
    experiments_dir: Path,
    promises_path: Path,
    probe_hz: float = 10.0,
    task_deadline_s: float | None = None,
    run_id: str | None = None,
    progress: Callable[[str], None] = lambda _: None,
    timeout_multiplier: float | None = None,
    only_promises: Collection[str] | None = None,
    stack: StackSettings | None = None,
) -> RunResult:
    """Run experiment files through chaoslib on ``target``; write ``reports/<run-id>/``.

    Must be called from the main thread (chaoslib installs signal handlers). Rollbacks always
    run (also when the stack was unhealthy before the fault). Ctrl-C stops the run after the
    current experiment's rollbacks; the summary is then marked INTERRUPTED. ``only_promises``
    narrows what each experiment judges (default: all it names).
    """
    from chaoslib.experiment import ensure_experiment_is_valid
    from chaoslib.loader import load_experiment
    from chaoslib.run import Runner
    from chaoslib.types import Strategy

    if threading.current_thread() is not threading.main_thread():
        raise HasuiteError("run_experiments must be called from the main thread (chaoslib)")
    files = resolve_experiments(names, experiments_dir)
    catalog = load_promises(promises_path)
    run_id = run_id or new_run_id()
    run_dir = reports_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    _point_latest(reports_dir, run_dir)
    started = time.time()
    results: list[ExperimentResult] = []
    interrupted = False
    settings = {"runtime": {"rollbacks": {"strategy": "always"}}}

    def write_summary(finished: float | None) -> Verdict:
        pending = [f.stem for f in files if f.stem not in {r.name for r in results}]
        entries = [r.to_dict() for r in results] + [
            {
                "name": n,
                "status": Verdict.INTERRUPTED.value if interrupted else "PENDING",
                "reason": "not run: the run was interrupted" if interrupted else "not run yet",
                "dir": "",
                "promises": [],
            }
            for n in pending
        ]
        status = (
            aggregate_status(
                [
                    PromiseResult(
                        id=r.name,
                        verdict=r.status,
                        measured=None,
                        threshold=None,
                        unit="",
                        reason="",
                    )
                    for r in results
                ]
            )
            if results
            else Verdict.ERROR
        )
        if interrupted:
            status = Verdict.INTERRUPTED
        _dump(
            run_dir / "summary.json",
            {
                "schema_version": SUMMARY_SCHEMA_VERSION,
                "run_id": run_id,
                "target": target.name,
                "started": _iso(started),
                "finished": _iso(finished),
                "status": status.value,
                "experiments": entries,
            },
        )
        return status

    write_summary(None)
    with bound_target(target), contextlib.suppress(KeyboardInterrupt):
        for path in files:
            if interrupted:
                break
            experiment = load_experiment(str(path), settings)
            ensure_experiment_is_valid(experiment)
            options = parse_options(experiment)
            session = ExperimentSession(
                options=options,
                promises=tuple(
                    p
                    for p in select_promises(catalog, options)
                    if only_promises is None or p.id in only_promises
                ),
                target=target,
                run_dir=run_dir,
                probe_hz=probe_hz,
                task_deadline_s=task_deadline_s,
                stack=stack if stack is not None else stack_of(target),
                known_good=known_good_stack(),
            )
            if timeout_multiplier:
                session.timeout_multiplier = timeout_multiplier
            set_active_session(session)
            progress(f"{options.name}: running")
            t0 = time.monotonic()
            journal: dict[str, Any] = {}
            try:
                journal = Runner(Strategy.DEFAULT).run(
                    experiment,
                    settings,
                    experiment_vars=({"run_dir": str(run_dir), "target": target.name}, {}),
                )
            except KeyboardInterrupt:
                # Escaped chaoslib (e.g. a second Ctrl-C): rollbacks may not have run.
                journal = {"status": "interrupted"}
                try:
                    bounded(target.restore, 240.0, "restore the stack after Ctrl-C")
                except (HasuiteError, KeyboardInterrupt) as exc:
                    log.warning("restore after Ctrl-C failed: %s", exc)
            finally:
                set_active_session(None)
            if journal.get("status") == "interrupted":
                interrupted = True
            result = session.finish(journal.get("status"))
            session.out_dir.mkdir(parents=True, exist_ok=True)
            _dump(session.out_dir / "journal.json", journal)
            results.append(result)
            progress(f"{options.name}: {result.status.value} in {time.monotonic() - t0:.0f} s")
            write_summary(None)
    if len(results) < len(files) and not interrupted:
        interrupted = True  # Ctrl-C between experiments (suppressed above)
    status = write_summary(time.time())
    return RunResult(run_id=run_id, run_dir=run_dir, status=status, experiments=results)
