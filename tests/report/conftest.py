"""Run folders for the report tests.

``real_run``: a copy of a real lab run (tests/report/data: 3 of the 8 experiments of the
2026-11-28 full run, samples thinned; failures and role changes kept). ``with_load_and_alerts``
adds what newer runs carry (load records, load.json, alert events) to one experiment of it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
REAL_RUN = "20261128T002349Z"
EXPERIMENTS = ("postgres-leader-kill", "redis-master-kill", "django-rollout")


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    folder = tmp_path / "reports"
    folder.mkdir()
    return folder


@pytest.fixture
def real_run(reports: Path) -> Path:
    run = reports / REAL_RUN
    shutil.copytree(DATA / REAL_RUN, run)
    return run


def add_load_and_alerts(run: Path, experiment: str = "postgres-leader-kill") -> None:
    """Load records mirroring the order-write probe, a load.json and an alert firing/resolving."""
    folder = run / experiment
    samples = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    with (folder / "load-records.jsonl").open("w") as fh:
        for s in samples:
            fh.write(
                json.dumps(
                    {
                        "event": "request",
                        "wall": s["wall"],
                        "mono": s["at"],
                        "method": "POST",
                        "name": "/api/orders",
                        "status": 201 if s["ok"] else 503,
                        "ok": s["ok"],
                        "latency_s": s["latency_s"],
                        "error": None if s["ok"] else "http-503",
                        "detail": None,
                        "order_id": None,
                    }
                )
                + "\n"
            )
    (folder / "load.json").write_text(
        json.dumps(
            {
                "ran": True,
                "asked_rps": 10.0,
                "achieved_rps": 9.6,
                "cpu_percent": 12.5,
                "phases": [
                    {"phase": "baseline", "requests": 30, "failures": 0},
                    {"phase": "outage", "requests": 300, "failures": 290},
                ],
            }
        )
    )
    events = json.loads((folder / "events.json").read_text())
    fault = next(e for e in events if e["kind"] == "fault")
    alert = {"alertname": "PostgresLeaderMissing", "severity": "critical"}
    events += [
        {**fault, "at": fault["at"] + 15, "kind": "alert-firing", "component": "", "detail": alert},
        {
            **fault,
            "at": fault["at"] + 40,
            "kind": "alert-resolved",
            "component": "",
            "detail": alert,
        },
    ]
    (folder / "events.json").write_text(json.dumps(events))
    (folder / "alerts.jsonl").write_text(
        "".join(json.dumps({"source": "alertmanager", **e}) + "\n" for e in events[-2:])
    )
