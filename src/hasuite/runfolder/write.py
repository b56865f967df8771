"""Write a run folder from typed records (the format: :mod:`hasuite.runfolder`)."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hasuite.analysis import count_by_source
from hasuite.runfolder.records import ExperimentRecord

__all__ = [
    "SUMMARY_SCHEMA_VERSION",
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
    """Write ``data`` as JSON through a temporary file: ``path`` is never left half-written
    (a killed or interrupted run left an empty summary.json)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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
    res, ad, orders = r.load, r.adequacy, r.orders
    acked = sorted({e.key for e in res.ledger}) if res is not None else []
    present = orders.check.present & set(acked) if orders else frozenset()
    confirmed = orders.confirmed & present if orders else frozenset()
    return {
        "profile": dict(r.load_profile) if r.load_profile is not None else None,
        "ran": res is not None,
        "asked_rps": ad.asked_rps if ad else r.load_asked_rps,
        "achieved_rps": ad.achieved_rps if ad else None,
        "achieved_ratio": ad.ratio if ad else None,
        "adequate": ad.adequate if ad else None,
        "adequacy": ad.text if ad else None,
        "window_s": ad.window_s if ad else None,
        "cpu_s": res.cpu_s if res else None,
        "cpu_percent": res.cpu_percent if res else None,
        "exit_code": res.exit_code if res else None,
        "stopped_by": res.stopped_by if res else None,
        "requests": res.requests if res else 0,
        "bad_record_lines": res.bad_record_lines if res else 0,
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


def write_experiment(r: ExperimentRecord) -> list[str]:
    """Write ``r`` to its folder (created if needed); the files that could not be written.

    Each file is written on its own: a full disk (or any OSError) loses that file only, what
    was written stays, and the caller turns the verdicts into ERROR naming what is missing.
    result.json goes first: it holds the verdicts.
    """
    out = r.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return [f"{out}: {exc.strerror or exc}"]
    writes: list[tuple[str, Callable[[Path], None]]] = [
        ("result.json", lambda p: dump(p, _result_json(r))),
        ("events.json", lambda p: dump(p, [asdict(e) for e in r.events])),
        ("measurements.json", lambda p: dump(p, [asdict(m) for m in r.measurements])),
        ("ledger.json", lambda p: dump(p, _ledger_json(r))),
        ("roles.jsonl", lambda p: _write_lines(p, [asdict(x) for x in r.roles])),
        ("samples.jsonl", lambda p: _write_lines(p, [asdict(s) for s in r.samples])),
    ]
    if r.load is not None or r.load_profile is not None:
        writes.append(("load.json", lambda p: dump(p, _load_json(r))))
    if r.alerts_recorded:
        writes.append(("alerts.jsonl", lambda p: _write_lines(p, _alert_rows(r))))
    failed = []
    for name, write in writes:
        try:
            write(out / name)
        except OSError as exc:
            failed.append(f"{name}: {exc.strerror or exc}")
    return failed


def _result_json(r: ExperimentRecord) -> dict[str, Any]:
    return {
        **r.result,
        "target": r.target,
        "started": iso(r.started_wall),
        "finished": iso(r.finished_wall),
        "injections": [asdict(i) for i in r.injections],
        "errors": list(r.errors),
    }


def _alert_rows(r: ExperimentRecord) -> list[Mapping[str, Any]]:
    rows: list[Mapping[str, Any]] = [
        {"source": "alertmanager", **asdict(e)}
        for e in r.events
        if e.kind in ("alert-firing", "alert-resolved")
    ]
    rows += [{"source": "receiver", **n} for n in r.notifications]
    if r.notifications_error:
        rows.append({"source": "receiver", "error": r.notifications_error})
    return rows


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
    """Write ``summary.json`` (see SUMMARY SCHEMA in :mod:`hasuite.runfolder`)."""
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
