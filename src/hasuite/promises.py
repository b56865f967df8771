"""Load and validate ``suites/promises.yaml``: the promises as data.

``load_promises(path)`` reads the file; ``parse_promises(data, source=...)`` is a pure function of
the loaded mapping. Every problem is a :class:`~hasuite.errors.ConfigError` naming the file, the
promise id and the field, e.g.::

    suites/promises.yaml: promise PG-FAILOVER: checks[1].comparison: '=<' is not one of
    <=, <, ==, >=, >

The format is described in ``suites/README.md``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hasuite.analysis.measurements import MEASUREMENTS, UNITS
from hasuite.errors import ConfigError
from hasuite.model import COMPARISONS, FAULT_CLASSES, KNOWN_TARGETS, Check, Fix, Promise
from hasuite.paths import PROMISES_IN_CHECKOUT, project_paths
from hasuite.settings import stack_setting_paths

__all__ = [
    "DEFAULT_PROMISES_PATH",
    "PromiseCatalog",
    "load_promises",
    "parse_promises",
]

#: Where the promises live, relative to the repository root (ProjectPaths.promises).
DEFAULT_PROMISES_PATH = PROMISES_IN_CHECKOUT

_ID = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$")
_EXPERIMENT = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_SETTING = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")
_TOP_KEYS = {"version": False, "promises": True}
_PROMISE_KEYS = {
    "id": True,
    "text": True,
    "experiments": True,
    "checks": True,
    "targets": False,
    "params": False,
    "note": False,
    "fixes": False,
    "faults": False,
}
_FIX_KEYS = {"measurement": True, "settings": True, "measured": False}
_CHECK_KEYS = {
    "measurement": True,
    "comparison": True,
    "threshold": True,
    "unit": True,
    "label": False,
    "enforce": False,
    "note": False,
}
SUPPORTED_VERSIONS = (1,)


@dataclass(frozen=True, slots=True, kw_only=True)
class PromiseCatalog:
    """The validated promises of one file, in file order."""

    source: str
    promises: tuple[Promise, ...]

    def __iter__(self) -> Iterator[Promise]:
        return iter(self.promises)

    def __len__(self) -> int:
        return len(self.promises)

    @property
    def ids(self) -> tuple[str, ...]:
        """Promise ids in file order."""
        return tuple(p.id for p in self.promises)

    def get(self, promise_id: str) -> Promise:
        """The promise with this id; ConfigError listing the known ids otherwise."""
        for p in self.promises:
            if p.id == promise_id:
                return p
        raise ConfigError(
            f"{self.source}: unknown promise {promise_id!r}; known: {', '.join(self.ids)}"
        )

    def for_experiment(self, experiment: str) -> tuple[Promise, ...]:
        """The promises an experiment checks (empty when none names it)."""
        return tuple(p for p in self.promises if experiment in p.experiments)

    def experiments(self) -> tuple[str, ...]:
        """Every experiment named by some promise, sorted."""
        return tuple(sorted({e for p in self.promises for e in p.experiments}))


def load_promises(
    path: str | Path | None = None,
    *,
    known_experiments: Collection[str] | None = None,
) -> PromiseCatalog:
    """Read and validate a promises file (default: the checkout's; see :func:`parse_promises`)."""
    path = path if path is not None else project_paths().promises
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"{source}: cannot read the promises file ({exc.strerror or exc}); "
            f"expected it at {DEFAULT_PROMISES_PATH} in the repository"
        ) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{source}:{where}: not valid YAML: {problem}") from exc
    return parse_promises(data, source=source, known_experiments=known_experiments)


def parse_promises(
    data: Any,
    *,
    source: str = str(DEFAULT_PROMISES_PATH),
    known_experiments: Collection[str] | None = None,
) -> PromiseCatalog:
    """Validate the loaded YAML document and build the catalogue (pure).

    ``known_experiments``, when given, makes an experiment name outside it an error.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{source}: expected a mapping with a 'promises' list at the top, "
            f"got {type(data).__name__}"
        )
    _keys(data, _TOP_KEYS, f"{source}: top level")
    version = data.get("version", 1)
    if version not in SUPPORTED_VERSIONS:
        raise ConfigError(
            f"{source}: version: {version!r} is not supported "
            f"(supported: {', '.join(map(str, SUPPORTED_VERSIONS))})"
        )
    raw = data["promises"]
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{source}: promises: expected a non-empty list of promises")
    promises: list[Promise] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(raw):
        promise = _promise(item, index, source, known_experiments)
        if promise.id in seen:
            raise ConfigError(
                f"{source}: promise {promise.id}: id: duplicate id (promises[{seen[promise.id]}] "
                f"and promises[{index}])"
            )
        seen[promise.id] = index
        promises.append(promise)
    return PromiseCatalog(source=source, promises=tuple(promises))


def _keys(item: Mapping[Any, Any], spec: Mapping[str, bool], where: str) -> None:
    unknown = sorted(str(k) for k in item if k not in spec)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(spec)})"
        )
    missing = [k for k, required in spec.items() if required and k not in item]
    if missing:
        raise ConfigError(f"{where}: missing field(s) {', '.join(missing)}")


def _str(value: Any, where: str, *, pattern: re.Pattern[str] | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: expected a non-empty string, got {value!r}")
    if pattern is not None and not pattern.match(value):
        raise ConfigError(f"{where}: {value!r} does not match {pattern.pattern}")
    return value.strip()


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    return float(value)


def _str_list(value: Any, where: str, *, pattern: re.Pattern[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: expected a non-empty list, got {value!r}")
    items = tuple(_str(v, f"{where}[{i}]", pattern=pattern) for i, v in enumerate(value))
    if len(set(items)) != len(items):
        raise ConfigError(
            f"{where}: listed twice: {sorted({i for i in items if items.count(i) > 1})}"
        )
    return items


def _promise(
    item: Any, index: int, source: str, known_experiments: Collection[str] | None
) -> Promise:
    if not isinstance(item, Mapping):
        raise ConfigError(f"{source}: promises[{index}]: expected a mapping, got {item!r}")
    raw_id = item.get("id")
    label = raw_id if isinstance(raw_id, str) and raw_id else f"promises[{index}]"
    where = f"{source}: promise {label}"
    _keys(item, _PROMISE_KEYS, where)
    promise_id = _str(raw_id, f"{where}: id", pattern=_ID)
    text = _str(item["text"], f"{where}: text")
    experiments = _str_list(item["experiments"], f"{where}: experiments", pattern=_EXPERIMENT)
    if known_experiments is not None:
        unknown = [e for e in experiments if e not in known_experiments]
        if unknown:
            raise ConfigError(
                f"{where}: experiments: unknown experiment(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known_experiments))}"
            )
    targets = _names(item, "targets", KNOWN_TARGETS, where) or KNOWN_TARGETS
    faults = _names(item, "faults", tuple(FAULT_CLASSES), where)
    params: dict[str, float] = {}
    if "params" in item:
        raw_params = item["params"]
        if not isinstance(raw_params, Mapping):
            raise ConfigError(f"{where}: params: expected a mapping of name: number")
        for key, value in raw_params.items():
            params[_str(key, f"{where}: params")] = _number(value, f"{where}: params.{key}")
    note = _str(item["note"], f"{where}: note") if "note" in item else ""
    raw_checks = item["checks"]
    if not isinstance(raw_checks, list) or not raw_checks:
        raise ConfigError(f"{where}: checks: expected a non-empty list of checks")
    checks = tuple(_check(c, f"{where}: checks[{i}]") for i, c in enumerate(raw_checks))
    names = [c.measurement for c in checks]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{where}: checks: measurement(s) checked twice: {', '.join(twice)}")
    if not any(c.enforce for c in checks):
        raise ConfigError(f"{where}: checks: at least one check must be enforced")
    fixes = _fixes(item.get("fixes", []), f"{where}: fixes", set(names))
    return Promise(
        id=promise_id,
        text=" ".join(text.split()),
        experiments=experiments,
        checks=checks,
        targets=targets,
        params=params,
        note=" ".join(note.split()),
        fixes=fixes,
        faults=faults,
    )


def _names(
    item: Mapping[str, Any], key: str, known: tuple[str, ...], where: str
) -> tuple[str, ...]:
    """The optional list ``key`` of names, each one of ``known``; () when absent."""
    if key not in item:
        return ()
    names = _str_list(item[key], f"{where}: {key}", pattern=_EXPERIMENT)
    bad = [n for n in names if n not in known]
    if bad:
        raise ConfigError(f"{where}: {key}: unknown {', '.join(bad)}; known: {', '.join(known)}")
    return names


def _fixes(raw: Any, where: str, checked: set[str]) -> tuple[Fix, ...]:
    """``fixes:``: which env/stack.yaml settings move which checked measurement."""
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: expected a list of {{measurement, settings, measured}}")
    known = stack_setting_paths()
    out: list[Fix] = []
    for i, item in enumerate(raw):
        here = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{here}: expected a mapping, got {item!r}")
        _keys(item, _FIX_KEYS, here)
        measurement = _str(item["measurement"], f"{here}.measurement")
        if measurement not in checked:
            raise ConfigError(
                f"{here}.measurement: {measurement!r} is not checked by this promise "
                f"(checked: {', '.join(sorted(checked))})"
            )
        paths = _str_list(item["settings"], f"{here}.settings", pattern=_SETTING)
        unknown = [p for p in paths if p not in known]
        if unknown:
            raise ConfigError(
                f"{here}.settings: unknown env/stack.yaml setting(s) {', '.join(unknown)} "
                "(a dotted path such as celery.beat_sync_every)"
            )
        measured = _str(item["measured"], f"{here}.measured") if "measured" in item else ""
        out.append(
            Fix(measurement=measurement, settings=paths, measured=" ".join(measured.split()))
        )
    return tuple(out)


def _check(item: Any, where: str) -> Check:
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {item!r}")
    _keys(item, _CHECK_KEYS, where)
    measurement = _str(item["measurement"], f"{where}.measurement")
    if measurement not in MEASUREMENTS:
        raise ConfigError(
            f"{where}.measurement: unknown measurement {measurement!r}; known: "
            f"{', '.join(sorted(MEASUREMENTS))} (add new ones to hasuite/analysis/measurements.py)"
        )
    comparison = item["comparison"]
    if comparison not in COMPARISONS:
        raise ConfigError(
            f"{where}.comparison: {comparison!r} is not one of {', '.join(COMPARISONS)}"
        )
    threshold = _number(item["threshold"], f"{where}.threshold")
    unit = _str(item["unit"], f"{where}.unit")
    if unit not in UNITS:
        raise ConfigError(f"{where}.unit: {unit!r} is not one of {', '.join(UNITS)}")
    expected_unit = MEASUREMENTS[measurement][0]
    if unit != expected_unit:
        raise ConfigError(
            f"{where}.unit: {measurement} is measured in {expected_unit!r}, not {unit!r}"
        )
    enforce = item.get("enforce", True)
    if not isinstance(enforce, bool):
        raise ConfigError(f"{where}.enforce: expected true or false, got {enforce!r}")
    label = _str(item["label"], f"{where}.label") if "label" in item else ""
    note = _str(item["note"], f"{where}.note") if "note" in item else ""
    return Check(
        measurement=measurement,
        comparison=comparison,
        threshold=threshold,
        unit=unit,
        label=label,
        enforce=enforce,
        note=note,
    )
