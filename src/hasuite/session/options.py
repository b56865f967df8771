"""Experiment files and the options of their ``hasuite`` extension (a stage of the run).

:func:`resolve_experiments` finds the files; :func:`parse_options` validates the extension into
:class:`ExperimentOptions`; :func:`select_promises` picks the promises an experiment judges.
Every problem is a ConfigError naming the field.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hasuite.drivers.load import LoadProfile
from hasuite.drivers.load import load_profile as _load_profile
from hasuite.errors import ConfigError
from hasuite.model import (
    Promise,
)
from hasuite.paths import project_dir
from hasuite.promises import PromiseCatalog, load_promises
from hasuite.target import COMPONENT_ROLES

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_ALERT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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
    ``baseline_s``: recording before the fault; ``settle_s``: recording after recovery;
    ``baseline_timeout_s``: how long the steady-state gate waits for ``baseline_s`` of request
    probes without a failure before it refuses to inject the fault.
    """

    name: str
    promises: tuple[str, ...]
    observe: tuple[str, ...] = ()
    probes: tuple[str, ...] = ("order-write", "cache-write", "task-enqueue", "task-run")
    baseline_s: float = 3.0
    baseline_timeout_s: float = 60.0
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


#: The keys of an experiment's ``hasuite`` extension (anything else is a typo, refused).
_EXTENSION_KEYS = (
    "name",
    "experiment",
    "promises",
    "observe",
    "probes",
    "load",
    "alerts",
    "fault",
    "beat",
    "baseline_s",
    "baseline_timeout_s",
    "settle_s",
    "settle_timeout_s",
    "task_hold_s",
    "task_wait_s",
)


def parse_options(experiment: Mapping[str, Any]) -> ExperimentOptions:
    """Read the ``hasuite`` extension (ConfigError naming the key on bad input)."""
    ext = next(
        (e for e in experiment.get("extensions", []) or [] if e.get("name") == "hasuite"), None
    )
    title = experiment.get("title", "?")
    if ext is None:
        raise ConfigError(f"experiment {title!r}: no `extensions: [{{name: hasuite, ...}}]`")
    where = f"experiment {title!r}: extensions.hasuite"
    unknown = sorted(str(k) for k in ext if k not in _EXTENSION_KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(_EXTENSION_KEYS)}"
        )
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
    for key in (
        "baseline_s",
        "baseline_timeout_s",
        "settle_s",
        "settle_timeout_s",
        "task_hold_s",
        "task_wait_s",
    ):
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


def task_deadline(promises: Path) -> float:
    """When an acknowledged task counts as lost: CELERY-NOLOSS's ``deadline_s`` after its
    acknowledgement (a deadline users care about, independent of the broker's settings)."""
    return float(load_promises(promises).get("CELERY-NOLOSS").params.get("deadline_s", 120.0))
