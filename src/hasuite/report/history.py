"""``reports/history.jsonl``: one line per promise check of every rendered run, for trends.

A line::

    {"run_id": "20261128T002349Z", "started": "2026-11-28T00:23:49+00:00", "target": "local",
     "experiment": "postgres-leader-kill", "promise": "PG-FAILOVER", "verdict": "PASS",
     "measurement": "write_outage_s", "value": 29.9, "at_least": false, "unit": "s",
     "comparison": "<=", "threshold": 30.0, "enforce": true}

A promise without checks (an ERROR before anything was measured) gives one line with
``measurement`` null. Rendering a run again replaces that run's lines (idempotent); the file is
rewritten through a temporary file and a rename under a lock, so it is never half-written.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hasuite.report.errors import ReportError
from hasuite.report.files import write_atomic
from hasuite.runfolder import RunData

__all__ = ["history_lines", "read_history", "update_history"]


def history_lines(run: RunData) -> list[dict[str, Any]]:
    """The history lines of ``run`` (pure)."""
    s = run.summary
    base = {"run_id": run.run_id, "started": s.started, "target": s.target}
    out: list[dict[str, Any]] = []
    for exp in run.experiments:
        for p in exp.promises:
            head = {**base, "experiment": exp.name, "promise": p.id, "verdict": p.verdict}
            if not p.checks:
                out.append({**head, "measurement": None, "value": None, "at_least": False})
            for c in p.checks:
                m = exp.measurement(c.measurement)
                out.append(
                    {
                        **head,
                        "measurement": c.measurement,
                        "value": c.measured,
                        "at_least": bool(m and m.at_least),
                        "unit": c.unit,
                        "comparison": c.comparison,
                        "threshold": c.threshold,
                        "enforce": c.enforce,
                    }
                )
    return out


def read_history(path: Path) -> list[dict[str, Any]]:
    """Every line of the history file (empty when it does not exist)."""
    if not path.exists():
        return []
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ReportError(
                f"{path} line {n} is not valid JSON ({exc.msg}); fix or delete that line "
                f"(the history is rebuilt by re-rendering runs: hasuite report RUN)"
            ) from exc
        out.append(item)
    return out


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    lock = path.with_name(f".{path.name}.lock")
    with lock.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def update_history(path: Path, run: RunData) -> int:
    """Replace ``run``'s lines in the history file; return how many lines it has now."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        kept = [h for h in read_history(path) if h.get("run_id") != run.run_id]
        lines = sorted(
            kept + history_lines(run), key=lambda h: (str(h.get("started")), str(h.get("run_id")))
        )
        write_atomic(path, "".join(json.dumps(h, sort_keys=True) + "\n" for h in lines))
    return sum(1 for h in lines if h["run_id"] == run.run_id)
