"""The run folder: what a run writes to ``reports/<run-id>/`` (a stage of the run).

This module writes the folder; :mod:`hasuite.report.rundata` reads it back (typed records) for
the report. The format:

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
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hasuite.analysis import count_by_source
from hasuite.analysis.load import LoadAdequacy, PhaseLoadStats
from hasuite.drivers.load import LoadProfile, LoadResult
from hasuite.model import (
    Event,
    Injection,
    LedgerCheck,
    LedgerEntry,
    Measurement,
    OrderReadBack,
    RoleObservation,
    Sample,
)

__all__ = [
    "SUMMARY_SCHEMA_VERSION",
    "ExperimentRecord",
    "dump",
    "iso",
    "new_run_id",
    "point_latest",
    "write_experiment",
    "write_summary",
]

#: Bumped when summary.json changes incompatibly (a field removed or its meaning changed).
SUMMARY_SCHEMA_VERSION = 1


def iso(wall: float | None) -> str | None:
    return datetime.fromtimestamp(wall, UTC).isoformat() if wall is not None else None


def dump(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def new_run_id(now: float | None = None) -> str:
    stamp = datetime.fromtimestamp(now if now is not None else time.time(), UTC)
    return stamp.strftime("%Y%m%dT%H%M%SZ")


def point_latest(reports_dir: Path, run_dir: Path) -> None:
    """Point ``reports/latest`` at ``run_dir`` (atomically)."""
    latest = reports_dir / "latest"
    tmp = reports_dir / f".latest-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(run_dir.name)
    tmp.replace(latest)


@dataclass(frozen=True, kw_only=True)
class ExperimentRecord:
    """Everything one experiment's folder holds, as values (what the session recorded)."""

    out: Path
    samples: Sequence[Sample]
    roles: Sequence[RoleObservation]
    events: Sequence[Event]
    ledger: Sequence[LedgerEntry]
    orders: OrderReadBack | None
    tasks: LedgerCheck | None
    keys: LedgerCheck | None
    orders_error: str | None
    measurements: Sequence[Measurement]
    #: the load: None when the experiment asked for none (no load.json)
    load_profile: LoadProfile | None
    load_result: LoadResult | None
    adequacy: LoadAdequacy | None
    load_stats: Sequence[PhaseLoadStats]
    #: alerts.jsonl is written when alerts were recorded
    alerts_recorded: bool
    notifications: Sequence[Mapping[str, Any]]
    notifications_error: str | None
    result: Mapping[str, Any]
    target: str
    started_wall: float
    finished_wall: float
    injections: Sequence[Injection]
    errors: Sequence[str]


def _ledger_json(r: ExperimentRecord) -> dict[str, Any]:
    orders, tasks = r.orders, r.tasks
    return {
        "acknowledged": [asdict(e) for e in r.ledger],
        "by_source": {
            "order": count_by_source(r.ledger, orders.check if orders else None, kind="order"),
            "task": count_by_source(r.ledger, tasks, kind="task"),
            "key": count_by_source(r.ledger, r.keys, kind="key"),
        },
        "orders_present": sorted(orders.check.present) if orders else None,
        "orders_confirmed": sorted(orders.confirmed) if orders else None,
        "orders_error": r.orders_error,
        "task_counts": dict(tasks.executions) if tasks else None,
    }


def _load_json(r: ExperimentRecord) -> dict[str, Any]:
    profile, res, ad, orders = r.load_profile, r.load_result, r.adequacy, r.orders
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
        "phases": [asdict(st) for st in r.load_stats],
        "orders": {
            "acknowledged": len(acked),
            "present": len(present) if orders else None,
            "missing": sorted(set(acked) - present) if orders else None,
            "confirmed": len(confirmed) if orders else None,
            "unconfirmed": sorted(present - confirmed) if orders else None,
            "error": r.orders_error,
        },
    }


def _write_lines(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    with path.open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row, default=str) + "\n")


def write_experiment(r: ExperimentRecord) -> None:
    """Write ``r`` to its folder (created if needed)."""
    out = r.out
    out.mkdir(parents=True, exist_ok=True)
    _write_lines(out / "samples.jsonl", [asdict(s) for s in r.samples])
    _write_lines(out / "roles.jsonl", [asdict(x) for x in r.roles])
    dump(out / "events.json", [asdict(e) for e in r.events])
    dump(out / "ledger.json", _ledger_json(r))
    dump(out / "measurements.json", [asdict(m) for m in r.measurements])
    if r.load_result is not None or r.load_profile is not None:
        dump(out / "load.json", _load_json(r))
    if r.alerts_recorded:
        rows: list[Mapping[str, Any]] = [
            {"source": "alertmanager", **asdict(e)}
            for e in r.events
            if e.kind in ("alert-firing", "alert-resolved")
        ]
        rows += [{"source": "receiver", **n} for n in r.notifications]
        if r.notifications_error:
            rows.append({"source": "receiver", "error": r.notifications_error})
        _write_lines(out / "alerts.jsonl", rows)
    dump(
        out / "result.json",
        {
            **r.result,
            "target": r.target,
            "started": iso(r.started_wall),
            "finished": iso(r.finished_wall),
            "injections": [asdict(i) for i in r.injections],
            "errors": list(r.errors),
        },
    )


def write_summary(
    run_dir: Path,
    *,
    run_id: str,
    target: str,
    started: float,
    finished: float | None,
    status: str,
    experiments: Sequence[Mapping[str, Any]],
) -> None:
    """Write ``summary.json`` (see SUMMARY SCHEMA above)."""
    dump(
        run_dir / "summary.json",
        {
            "schema_version": SUMMARY_SCHEMA_VERSION,
            "run_id": run_id,
            "target": target,
            "started": iso(started),
            "finished": iso(finished),
            "status": status,
            "experiments": list(experiments),
        },
    )
