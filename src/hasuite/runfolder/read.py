"""Read a run folder (``reports/<run-id>/``) into typed, redacted records for the renderers.

What must be there: ``summary.json`` (valid against ``summary.schema.json``) and, for every
experiment that ran, its folder with ``samples.jsonl``, ``roles.jsonl``, ``events.json``,
``measurements.json`` and ``result.json``. Optional (newer runs): ``load-records.jsonl``,
``load.json``, ``alerts.jsonl``, ``journal.json``. A missing or unreadable required file is a
:class:`RunFolderError` naming it; nothing is rendered from a half-read run.

Every string read from the folder passes through a :class:`~hasuite.report.redact.Redactor`
before it reaches a renderer, so an error message that echoed a password or a token never lands
in ``report.html``, ``junit.xml`` or the history.
"""

from __future__ import annotations

import json
from dataclasses import fields, is_dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from hasuite.errors import HasuiteError
from hasuite.model import Event, Injection, Measurement, RoleObservation, Sample
from hasuite.runfolder.records import (
    AlertLine,
    CheckRecord,
    ExperimentData,
    LoadFile,
    LoadOrders,
    LoadPhase,
    LoadRecord,
    PromiseRecord,
    ResultFile,
    RunData,
    RunSummary,
    SourceCount,
    SummaryEntry,
)
from hasuite.runfolder.redact import Redactor

__all__ = [
    "SUPPORTED_SCHEMA_VERSION",
    "RunFolderError",
    "load_run",
    "summary_schema",
    "validate_summary",
]

SUPPORTED_SCHEMA_VERSION = 1
#: Files every experiment that ran has (written by :func:`hasuite.runfolder.write_experiment`).
REQUIRED_FILES = ("samples.jsonl", "roles.jsonl", "events.json", "measurements.json", "result.json")
NOT_RUN = ("PENDING",)


class RunFolderError(HasuiteError):
    """A run folder cannot be read: something missing, unreadable or of an unknown format."""


@cache
def summary_schema() -> dict[str, Any]:
    """The JSON Schema of ``summary.json`` (``hasuite/runfolder/summary.schema.json``)."""
    text = resources.files("hasuite.runfolder").joinpath("summary.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate_summary(data: Any, *, where: str = "summary.json") -> dict[str, Any]:
    """Validate ``data`` against the schema; return it (legacy: version added).

    RunFolderError if it does not match.

    A summary without ``schema_version`` was written before the field existed; it has the
    version-1 shape and is read as version 1. A newer version than this hasuite knows is refused.
    """
    if not isinstance(data, dict):
        raise RunFolderError(f"{where}: expected a JSON object, got {type(data).__name__}")
    summary: dict[str, Any] = dict(data)
    version = summary.setdefault("schema_version", SUPPORTED_SCHEMA_VERSION)
    if isinstance(version, int) and version > SUPPORTED_SCHEMA_VERSION:
        raise RunFolderError(
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
        raise RunFolderError(
            f"{where} does not match the summary schema (version {SUPPORTED_SCHEMA_VERSION}): "
            f"{shown}{more}; the file is corrupt or was edited by hand"
        )
    return summary


def _read_text(path: Path, what: str) -> str:
    if not path.exists():
        raise RunFolderError(f"{what}: {path} is missing; {_hint(path)}")
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise RunFolderError(f"{what}: {path} cannot be read ({exc})") from exc


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
        raise RunFolderError(
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
            raise RunFolderError(
                f"{what}: {path} line {n} is not valid JSON ({exc.msg}); the file is corrupt"
            ) from exc
        if not isinstance(item, dict):
            raise RunFolderError(f"{what}: {path} line {n}: expected a JSON object")
        out.append(item)
    return out


def _make(cls: type[Any], item: Any, where: str, **nested: Any) -> Any:
    """``cls`` from the JSON object ``item`` (unknown keys ignored: a newer hasuite may add
    some; ``nested`` overrides the keys whose values are records themselves)."""
    if not isinstance(item, dict):
        raise RunFolderError(f"{where}: expected a JSON object, got {type(item).__name__}")
    assert is_dataclass(cls)
    names = {f.name for f in fields(cls)}
    try:
        return cls(**{k: v for k, v in item.items() if k in names and k not in nested}, **nested)
    except TypeError as exc:
        raise RunFolderError(f"{where}: not a {cls.__name__} ({exc}); the file is corrupt") from exc


def _each(cls: type[Any], items: Any, where: str) -> tuple[Any, ...]:
    if not isinstance(items, list):
        raise RunFolderError(f"{where}: expected a JSON list; the file is corrupt")
    return tuple(_make(cls, item, f"{where} entry {n}") for n, item in enumerate(items, 1))


def _promise(item: Any, where: str) -> PromiseRecord:
    checks = item.get("checks") if isinstance(item, dict) else None
    rec: PromiseRecord = _make(
        PromiseRecord, item, where, checks=_each(CheckRecord, checks or [], f"{where} checks")
    )
    return rec


def _promises(items: Any, where: str) -> tuple[PromiseRecord, ...]:
    if not isinstance(items, list):
        raise RunFolderError(f"{where}: expected a JSON list of promises; the file is corrupt")
    return tuple(_promise(p, f"{where} promise {n}") for n, p in enumerate(items, 1))


def _summary(data: dict[str, Any], where: str) -> RunSummary:
    entries = tuple(
        _make(
            SummaryEntry,
            e,
            f"{where} experiment {n}",
            promises=_promises(e["promises"], f"{where} experiment {n}"),
        )
        for n, e in enumerate(data["experiments"], 1)
    )
    summary: RunSummary = _make(RunSummary, data, where, experiments=entries)
    return summary


def _result(data: Any, where: str) -> ResultFile:
    if not isinstance(data, dict):
        raise RunFolderError(f"{where}: expected a JSON object; the file is corrupt")
    injections = tuple(
        _make(Injection, i, f"{where} injection {n}", instances=tuple(i.get("instances") or ()))
        for n, i in enumerate(data.get("injections") or [], 1)
        if isinstance(i, dict)
    )
    result: ResultFile = _make(
        ResultFile,
        data,
        where,
        promises=_promises(data.get("promises") or [], where),
        injections=injections,
        errors=tuple(str(e) for e in data.get("errors") or ()),
    )
    return result


def _load(data: Any, where: str) -> LoadFile:
    if not isinstance(data, dict):
        raise RunFolderError(f"{where}: expected a JSON object; the file is corrupt")
    phases = tuple(
        _make(
            LoadPhase,
            p,
            f"{where} phase {n}",
            failures_by_kind=tuple((str(k), int(c)) for k, c in (p.get("failures_by_kind") or ())),
        )
        for n, p in enumerate(data.get("phases") or [], 1)
        if isinstance(p, dict)
    )
    raw = data.get("orders") or {}
    orders = _make(
        LoadOrders,
        raw,
        f"{where} orders",
        missing=_strs(raw.get("missing")) if isinstance(raw, dict) else None,
        unconfirmed=_strs(raw.get("unconfirmed")) if isinstance(raw, dict) else None,
    )
    load: LoadFile = _make(LoadFile, data, where, phases=phases, orders=orders)
    return load


def _strs(value: Any) -> tuple[str, ...] | None:
    return None if value is None else tuple(str(v) for v in value)


def _by_source(data: Any) -> dict[str, dict[str, SourceCount]] | None:
    if not isinstance(data, dict) or not isinstance(data.get("by_source"), dict):
        return None
    out: dict[str, dict[str, SourceCount]] = {}
    for kind, sources in data["by_source"].items():
        if not isinstance(sources, dict):
            continue
        out[str(kind)] = {
            str(source): SourceCount(
                acknowledged=int(n.get("acknowledged") or 0),
                missing=None if n.get("missing") is None else int(n["missing"]),
            )
            for source, n in sources.items()
            if isinstance(n, dict)
        }
    return out


def _load_experiment(entry: SummaryEntry, run_folder: Path, redactor: Redactor) -> ExperimentData:
    name = entry.name
    folder = run_folder / name
    ran = entry.status not in NOT_RUN and bool(entry.dir)
    base: dict[str, Any] = {
        "name": name,
        "status": entry.status,
        "reason": entry.reason,
        "promises": entry.promises,
        "folder": folder,
        "ran": ran,
    }
    if not ran:
        return ExperimentData(**base)
    if not folder.is_dir():
        raise RunFolderError(
            f"experiment {name}: folder {folder} is missing although summary.json lists it as "
            f"run ({entry.status}); {_hint(folder)}"
        )
    what = f"experiment {name}"

    def read(file: str, about: str) -> Any:
        return redactor.data(_read_json(folder / file, f"{what} {about}"))

    def lines(file: str, about: str) -> list[Any]:
        return [redactor.data(x) for x in _read_jsonl(folder / file, about)]

    events = read("events.json", "events")
    measurements = read("measurements.json", "measurements")
    result = read("result.json", "result")
    optional = {
        f: (folder / f).exists()
        for f in ("load-records.jsonl", "load.json", "alerts.jsonl", "ledger.json")
    }
    return ExperimentData(
        **base,
        result=_result(result, str(folder / "result.json")),
        samples=_each(
            Sample, lines("samples.jsonl", f"{what} samples"), str(folder / "samples.jsonl")
        ),
        roles=_each(
            RoleObservation,
            lines("roles.jsonl", f"{what} role observations"),
            str(folder / "roles.jsonl"),
        ),
        events=_each(Event, events, str(folder / "events.json")),
        measurements=_each(Measurement, measurements, str(folder / "measurements.json")),
        load_records=_each(
            LoadRecord,
            lines("load-records.jsonl", f"load records of {name}"),
            str(folder / "load-records.jsonl"),
        )
        if optional["load-records.jsonl"]
        else None,
        load=_load(read("load.json", "load summary"), str(folder / "load.json"))
        if optional["load.json"]
        else None,
        alerts=_each(
            AlertLine, lines("alerts.jsonl", f"{what} alerts"), str(folder / "alerts.jsonl")
        )
        if optional["alerts.jsonl"]
        else None,
        ledger_by_source=_by_source(read("ledger.json", "ledger"))
        if optional["ledger.json"]
        else None,
    )


def load_run(folder: Path, *, redactor: Redactor | None = None) -> RunData:
    """Read a run folder (``reports/<run-id>`` or the ``latest`` link). RunFolderError if
    unusable."""
    redactor = redactor or Redactor()
    if not folder.exists():
        raise RunFolderError(
            f"run folder {folder} does not exist; pass a folder under reports/ "
            f"(e.g. reports/latest) or a run id"
        )
    if not folder.is_dir():
        raise RunFolderError(f"run folder {folder} is not a folder")
    folder = folder.resolve()
    where = str(folder / "summary.json")
    raw = validate_summary(_read_json(folder / "summary.json", "run summary"), where=where)
    summary = _summary(redactor.data(raw), where)
    experiments = tuple(_load_experiment(e, folder, redactor) for e in summary.experiments)
    return RunData(folder=folder, summary=summary, experiments=experiments)
