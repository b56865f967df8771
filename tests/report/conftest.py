"""Run folders for the report tests.

``real_run``: a copy of a real lab run (tests/report/data: 3 of the 8 experiments of the
2026-11-28 full run, samples thinned; failures and role changes kept). ``add_load_and_alerts``
adds what newer runs carry (load records, load.json, alert events) to one experiment of it;
``add_newer_run`` adds those, a FAIL's recommendation and an experiment SKIPPED before it
started whose load did not run.
"""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

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
    (folder / "load.json").write_text(json.dumps(load_json(fault_at=_fault_at(folder))))
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


def _fault_at(folder: Path) -> float:
    events = json.loads((folder / "events.json").read_text())
    return float(next(e["at"] for e in events if e["kind"] == "fault"))


#: every key hasuite.runfolder.write writes in load.json (tests/report/test_load_html.py checks
#: they are the fields the reader knows)
def load_json(*, fault_at: float = 0.0, ran: bool = True) -> dict[str, Any]:
    """A load.json as the session writes it: a profile, the rate, phases and orders."""
    profile = {
        "name": "steady",
        "users": 20,
        "spawn_rate": 5.0,
        "duration_s": 120.0,
        "fixed_rate": 0.0,
        "think_min_s": 1.0,
        "think_max_s": 3.0,
        "request_timeout_s": 10.0,
        "stop_timeout_s": 2.0,
        "min_ratio": 0.9,
        "description": "people browsing and ordering",
    }
    if not ran:
        return {
            "profile": profile,
            "ran": False,
            "asked_rps": 10.0,
            **dict.fromkeys(
                ("achieved_rps", "achieved_ratio", "adequate", "adequacy", "window_s"), None
            ),
            **dict.fromkeys(("cpu_s", "cpu_percent", "exit_code", "stopped_by"), None),
            "requests": 0,
            "bad_record_lines": 0,
            "phases": [],
            "orders": {
                "acknowledged": 0,
                "present": None,
                "missing": None,
                "confirmed": None,
                "unconfirmed": None,
                "error": None,
            },
        }

    def phase(name: str, start: float, end: float, requests: int, failures: int) -> dict[str, Any]:
        kinds = [["http-503", failures - 2], ["timeout", 2]] if failures else []
        return {
            "phase": name,
            "start": fault_at + start,
            "end": fault_at + end,
            "requests": requests,
            "failures": failures,
            "failure_rate": failures / requests,
            "rate_rps": requests / (end - start),
            "p50_s": 0.021,
            "p95_s": 0.35,
            "p99_s": 4.2,
            "max_success_gap_s": 29.4 if failures else 0.4,
            "gap_at_least": False,
            "failures_by_kind": kinds,
        }

    return {
        "profile": profile,
        "ran": True,
        "asked_rps": 10.0,
        "achieved_rps": 9.6,
        "achieved_ratio": 0.96,
        "adequate": True,
        "adequacy": "load 9.6 of 10 req/s asked (96 %, 34 requests in 3.5 s, outside the fault "
        "window)",
        "window_s": 3.5,
        "cpu_s": 3.2,
        "cpu_percent": 12.5,
        "exit_code": 0,
        "stopped_by": "request",
        "requests": 330,
        "bad_record_lines": 0,
        "phases": [
            phase("baseline", -3.0, 0.0, 30, 0),
            phase("outage", 0.0, 30.0, 300, 290),
        ],
        "orders": {
            "acknowledged": 41,
            "present": 40,
            "missing": ["o-1017"],
            "confirmed": 38,
            "unconfirmed": ["o-1020", "o-1033"],
            "error": None,
        },
    }


SKIPPED = "postgres-partition"
SKIP_REASON = (
    "no packet filter on this machine (iptables not found): the partition cannot be made; "
    "nothing was injected"
)
RECOMMENDATION = "django.graceful_timeout_s 0 -> 30 (the known-good profile)"


def add_newer_run(run: Path) -> None:
    """What a newer run carries: load and alerts, a FAIL's recommendation (also at the end of
    its reason, as the session writes it) and an experiment SKIPPED before it started, whose
    load.json says the load did not run."""
    add_load_and_alerts(run)
    summary = json.loads((run / "summary.json").read_text())
    rollout = next(e for e in summary["experiments"] if e["name"] == "django-rollout")
    for p in rollout["promises"]:
        p["recommendation"] = RECOMMENDATION
        p["reason"] += f"; recommended: {RECOMMENDATION}"
    promise = {
        "id": "PG-PARTITION",
        "verdict": "SKIPPED",
        "measured": None,
        "threshold": 30.0,
        "unit": "s",
        "reason": SKIP_REASON,
        "checks": [],
        "recommendation": None,
    }
    folder = run / SKIPPED
    entry = {"name": SKIPPED, "status": "SKIPPED", "reason": SKIP_REASON, "dir": str(folder)}
    summary["experiments"].append({**entry, "promises": [promise]})
    (run / "summary.json").write_text(json.dumps(summary, indent=2))
    folder.mkdir()
    for name in ("samples.jsonl", "roles.jsonl"):
        (folder / name).write_text("")
    (folder / "events.json").write_text("[]")
    (folder / "measurements.json").write_text("[]")
    result = {**entry, "promises": [promise], "target": "local", "injections": [], "errors": []}
    (folder / "result.json").write_text(json.dumps(result))
    (folder / "load.json").write_text(json.dumps(load_json(ran=False)))


class _Cells(HTMLParser):
    """The text of every <td> of a page (entities decoded, nested markup's text included)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.cells: list[str] = []
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "td":
            self._depth += 1
            self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._depth:
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._depth:
            self.cells[-1] += data


def table_cells(html: str) -> list[str]:
    parser = _Cells()
    parser.feed(html)
    return parser.cells


def cells_with_json(html: str) -> list[str]:
    """The table cells that show a JSON object (``{"``)."""
    return [c for c in table_cells(html) if '{"' in c]
