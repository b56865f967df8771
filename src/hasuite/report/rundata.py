"""Load a run folder (``reports/<run-id>/``) into typed, redacted records for the renderers.

What must be there: ``summary.json`` (valid against ``summary.schema.json``) and, for every
experiment that ran, its folder with ``samples.jsonl``, ``roles.jsonl``, ``events.json``,
``measurements.json`` and ``result.json``. Optional (newer runs): ``load-records.jsonl``,
``load.json``, ``alerts.jsonl``, ``journal.json``. A missing or unreadable required file is a
:class:`ReportError` naming it; nothing is rendered from a half-read run.

Every string read from the folder passes through a :class:`~hasuite.report.redact.Redactor`
before it reaches a renderer, so an error message that echoed a password or a token never lands
in ``report.html``, ``junit.xml`` or the history.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from hasuite.errors import HasuiteError
from hasuite.model import Event, Measurement, RoleObservation, Sample
from hasuite.report.redact import Redactor

__all__ = [
    "SUPPORTED_SCHEMA_VERSION",
    "ExperimentData",
    "ReportError",
    "RunData",
    "load_run",
    "summary_schema",
    "validate_summary",
]

SUPPORTED_SCHEMA_VERSION = 1
#: Files every experiment that ran has (written by ExperimentSession._write).
REQUIRED_FILES = ("samples.jsonl", "roles.jsonl", "events.json", "measurements.json", "result.json")
NOT_RUN = ("PENDING",)


class ReportError(HasuiteError):
    """A run folder cannot be rendered: something missing, unreadable or of an unknown format."""


@cache
def summary_schema() -> dict[str, Any]:
    """The JSON Schema of ``summary.json`` (``hasuite/report/summary.schema.json``)."""
    text = resources.files("hasuite.report").joinpath("summary.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate_summary(data: Any, *, where: str = "summary.json") -> dict[str, Any]:
    """Validate ``data`` against the schema; return it (legacy: version added). ReportError if not.

    A summary without ``schema_version`` was written before the field existed; it has the
    version-1 shape and is read as version 1. A newer version than this hasuite knows is refused.
    """
    if not isinstance(data, dict):
        raise ReportError(f"{where}: expected a JSON object, got {type(data).__name__}")
    summary: dict[str, Any] = dict(data)
    version = summary.setdefault("schema_version", SUPPORTED_SCHEMA_VERSION)
    if isinstance(version, int) and version > SUPPORTED_SCHEMA_VERSION:
        raise ReportError(
            f"{where}: schema_version {version} is newer than this hasuite reads "
            f"({SUPPORTED_SCHEMA_VERSION}); re-render with the hasuite that wrote the run"
        )
    validator = jsonschema.Draft202012Validator(summary_schema())
    errors = sorted(validator.iter_errors(summary), key=lambda e: list(e.absolute_path))
    if errors:
        shown = "; ".join(
            f"at {'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}"
            for e in errors[:3]
        )
        more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
        raise ReportError(
            f"{where} does not match the summary schema (version {SUPPORTED_SCHEMA_VERSION}): "
            f"{shown}{more}; the file is corrupt or was edited by hand"
        )
    return summary


@dataclass(frozen=True, kw_only=True)
class ExperimentData:
    """One experiment of a run, as read from its folder (all strings redacted)."""

    name: str
    status: str
    reason: str
    promises: tuple[dict[str, Any], ...]
    folder: Path
    ran: bool
    result: dict[str, Any] = field(default_factory=dict)
    samples: tuple[Sample, ...] = ()
    roles: tuple[RoleObservation, ...] = ()
    events: tuple[Event, ...] = ()
    measurements: tuple[Measurement, ...] = ()
    load_records: tuple[dict[str, Any], ...] | None = None
    load: dict[str, Any] | None = None
    alerts: tuple[dict[str, Any], ...] | None = None
    #: ledger.json's ``by_source``: {kind: {source: {"acknowledged", "missing"}}}
    ledger_by_source: dict[str, Any] | None = None

    def measurement(self, name: str) -> Measurement | None:
        return next((m for m in self.measurements if m.name == name), None)

    @property
    def fault_at(self) -> float | None:
        return next(
            (e.at for e in sorted(self.events, key=lambda e: e.at) if e.kind == "fault"), None
        )

    @property
    def recovered_at(self) -> float | None:
        fault = self.fault_at
        return next(
            (
                e.at
                for e in sorted(self.events, key=lambda e: e.at)
                if e.kind == "recovered" and (fault is None or e.at >= fault)
            ),
            None,
        )

    @property
    def duration_s(self) -> float | None:
        from datetime import datetime

        try:
            start = datetime.fromisoformat(str(self.result["started"]))
            end = datetime.fromisoformat(str(self.result["finished"]))
        except (KeyError, ValueError, TypeError):
            return None
        return max((end - start).total_seconds(), 0.0)


@dataclass(frozen=True, kw_only=True)
class RunData:
    """A run folder: the summary and its experiments."""

    folder: Path
    summary: dict[str, Any]
    experiments: tuple[ExperimentData, ...]

    @property
    def run_id(self) -> str:
        return str(self.summary["run_id"])

    @property
    def status(self) -> str:
        return str(self.summary["status"])


def _read_text(path: Path, what: str) -> str:
    if not path.exists():
        raise ReportError(f"{what}: {path} is missing; {_hint(path)}")
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{what}: {path} cannot be read ({exc})") from exc


def _hint(path: Path) -> str:
    return (
        "the run folder is incomplete (the run died, or files were deleted); run the "
        "experiment again or pass another run folder"
    )


def _read_json(path: Path, what: str) -> Any:
    text = _read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(
            f"{what}: {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg}); the file is corrupt (a run killed while writing it?)"
        ) from exc


def _read_jsonl(path: Path, what: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    lines = _read_text(path, what).splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            if n == len(lines) and what.startswith("load records"):
                # The load generator flushes while running: a killed one may leave half a line.
                break
            raise ReportError(
                f"{what}: {path} line {n} is not valid JSON ({exc.msg}); the file is corrupt"
            ) from exc
        if not isinstance(item, dict):
            raise ReportError(f"{what}: {path} line {n}: expected a JSON object")
        out.append(item)
    return out


def _typed(cls: type[Any], items: list[dict[str, Any]], path: Path) -> tuple[Any, ...]:
    names = {f.name for f in fields(cls)}
    out = []
    for n, item in enumerate(items, 1):
        try:
            out.append(cls(**{k: v for k, v in item.items() if k in names}))
        except TypeError as exc:
            raise ReportError(
                f"{path} entry {n}: not a {cls.__name__} ({exc}); the file is corrupt"
            ) from exc
    return tuple(out)


def _load_experiment(
    entry: Mapping[str, Any], run_folder: Path, redactor: Redactor
) -> ExperimentData:
    name = str(entry["name"])
    folder = run_folder / name
    ran = entry["status"] not in NOT_RUN and bool(entry["dir"])
    base: dict[str, Any] = {
        "name": name,
        "status": str(entry["status"]),
        "reason": redactor.text(str(entry["reason"])),
        "promises": tuple(redactor.data(p) for p in entry["promises"]),
        "folder": folder,
        "ran": ran,
    }
    if not ran:
        return ExperimentData(**base)
    if not folder.is_dir():
        raise ReportError(
            f"experiment {name}: folder {folder} is missing although summary.json lists it as "
            f"run ({entry['status']}); {_hint(folder)}"
        )
    what = f"experiment {name}"
    samples = _read_jsonl(folder / "samples.jsonl", f"{what} samples")
    roles = _read_jsonl(folder / "roles.jsonl", f"{what} role observations")
    events = _read_json(folder / "events.json", f"{what} events")
    measurements = _read_json(folder / "measurements.json", f"{what} measurements")
    result = _read_json(folder / "result.json", f"{what} result")
    for data, file in ((events, "events.json"), (measurements, "measurements.json")):
        if not isinstance(data, list):
            raise ReportError(f"{folder / file}: expected a JSON list; the file is corrupt")
    if not isinstance(result, dict):
        raise ReportError(f"{folder / 'result.json'}: expected a JSON object; the file is corrupt")
    load_records = alerts = None
    load = None
    if (folder / "load-records.jsonl").exists():
        load_records = tuple(
            redactor.data(r)
            for r in _read_jsonl(folder / "load-records.jsonl", f"load records of {name}")
        )
    if (folder / "load.json").exists():
        raw = _read_json(folder / "load.json", f"{what} load summary")
        if not isinstance(raw, dict):
            raise ReportError(f"{folder / 'load.json'}: expected a JSON object; corrupt")
        load = redactor.data(raw)
    if (folder / "alerts.jsonl").exists():
        alerts = tuple(
            redactor.data(a) for a in _read_jsonl(folder / "alerts.jsonl", f"{what} alerts")
        )
    ledger_by_source = None
    if (folder / "ledger.json").exists():
        raw = _read_json(folder / "ledger.json", f"{what} ledger")
        if isinstance(raw, dict) and isinstance(raw.get("by_source"), dict):
            ledger_by_source = redactor.data(raw["by_source"])
    return ExperimentData(
        **base,
        result=redactor.data(result),
        samples=_typed(Sample, [redactor.data(s) for s in samples], folder / "samples.jsonl"),
        roles=_typed(RoleObservation, roles, folder / "roles.jsonl"),
        events=_typed(Event, [redactor.data(e) for e in events], folder / "events.json"),
        measurements=_typed(
            Measurement, [redactor.data(m) for m in measurements], folder / "measurements.json"
        ),
        load_records=load_records,
        load=load,
        alerts=alerts,
        ledger_by_source=ledger_by_source,
    )


def load_run(folder: Path, *, redactor: Redactor | None = None) -> RunData:
    """Read a run folder (``reports/<run-id>`` or the ``latest`` link). ReportError if unusable."""
    redactor = redactor or Redactor()
    if not folder.exists():
        raise ReportError(
            f"run folder {folder} does not exist; pass a folder under reports/ "
            f"(e.g. reports/latest) or a run id"
        )
    if not folder.is_dir():
        raise ReportError(f"run folder {folder} is not a folder")
    folder = folder.resolve()
    summary = validate_summary(
        _read_json(folder / "summary.json", "run summary"), where=str(folder / "summary.json")
    )
    summary = redactor.data(summary)
    experiments = tuple(_load_experiment(e, folder, redactor) for e in summary["experiments"])
    return RunData(folder=folder, summary=summary, experiments=experiments)
