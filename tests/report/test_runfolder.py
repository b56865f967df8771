"""The run folder's format, both ways: what the session writes is what the report reads back.

One experiment written with :func:`write_experiment` and :func:`write_summary` from hand-built
records, then read with :func:`load_run`: every typed value comes back equal (no lab, no clock).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hasuite.analysis.load import LoadAdequacy, PhaseLoadStats
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
from hasuite.runfolder import (
    ExperimentRecord,
    LoadFacts,
    Redactor,
    RunFolderError,
    load_run,
    write_experiment,
    write_summary,
)

WALL = 1_800_000_000.0
NAME = "pooler-kill"


def _promise(verdict: str) -> dict[str, object]:
    return {
        "id": "POOLER",
        "verdict": verdict,
        "measured": 2.5,
        "threshold": 5.0,
        "unit": "s",
        "reason": "write outage 2.5 s <= 5 s",
        "recommendation": None,
        "checks": [
            {
                "measurement": "write_outage_s",
                "comparison": "<=",
                "threshold": 5.0,
                "unit": "s",
                "measured": 2.5,
                "holds": True,
                "enforce": True,
                "text": "write outage 2.5 s <= 5 s",
            }
        ],
    }


def _record(run_dir: Path) -> ExperimentRecord:
    ledger = (
        LedgerEntry(kind="order", key="1", acknowledged_at=1.0),
        LedgerEntry(kind="order", key="2", acknowledged_at=2.0, source="load"),
        LedgerEntry(kind="order", key="3", acknowledged_at=3.0, source="load"),
    )
    check = LedgerCheck(present=frozenset({"1", "2"}))
    stats = PhaseLoadStats(
        phase="during",
        start=10.0,
        end=12.5,
        requests=20,
        failures=3,
        failure_rate=0.15,
        rate_rps=8.0,
        p50_s=0.02,
        p95_s=0.3,
        p99_s=0.5,
        max_success_gap_s=1.25,
        failures_by_kind=(("http 502", 3),),
    )
    return ExperimentRecord(
        out=run_dir / NAME,
        samples=(
            Sample(at=9.9, wall=WALL + 9.9, probe="order-write", ok=True, latency_s=0.01, key="1"),
            Sample(at=10.1, wall=WALL + 10.1, probe="order-write", ok=False, error="http 502"),
        ),
        roles=(
            RoleObservation(
                at=9.0, wall=WALL + 9, component="pgbouncer", instance="a", role="", ready=True
            ),
        ),
        events=(
            Event(at=10.0, wall=WALL + 10, kind="fault", component="pgbouncer", detail={"x": 1}),
            Event(at=12.0, wall=WALL + 12, kind="recovered", component="pgbouncer"),
        ),
        ledger=ledger,
        orders=OrderReadBack(check=check, confirmed=frozenset({"1"})),
        tasks=None,
        keys=None,
        orders_error=None,
        measurements=(
            Measurement(name="write_outage_s", value=2.5, unit="s", detail="a", at_least=False),
        ),
        load_profile={"name": "smoke", "users": 2},
        load_asked_rps=10.0,
        load=LoadFacts(
            ledger=ledger[1:],
            requests=40,
            bad_record_lines=0,
            cpu_s=1.5,
            cpu_percent=12.0,
            exit_code=0,
            stopped_by="self",
        ),
        adequacy=LoadAdequacy(
            asked_rps=10.0,
            achieved_rps=9.0,
            ratio=0.9,
            requests=40,
            window_s=4.0,
            min_ratio=0.8,
            adequate=True,
            text="9 of 10 rps",
        ),
        load_stats=(stats,),
        alerts_recorded=True,
        notifications=({"received": WALL + 11, "payload": {"status": "firing"}},),
        notifications_error=None,
        result={"name": NAME, "status": "PASS", "reason": "", "dir": "x", "promises": []},
        target="local",
        started_wall=WALL,
        finished_wall=WALL + 30,
        injections=(
            Injection(
                at=10.0, wall=WALL + 10, component="pgbouncer", action="crash", instances=("a",)
            ),
        ),
        errors=("password=hunter22 leaked",),
    )


def _write(tmp_path: Path) -> tuple[Path, ExperimentRecord]:
    run_dir = tmp_path / "reports" / "r1"
    record = _record(run_dir)
    write_experiment(record)
    write_summary(
        run_dir,
        run_id="r1",
        target="local",
        started=WALL,
        finished=WALL + 30,
        status="PASS",
        experiments=[
            {
                "name": NAME,
                "status": "PASS",
                "reason": "",
                "dir": str(run_dir / NAME),
                "promises": [_promise("PASS")],
            }
        ],
    )
    return run_dir, record


def test_what_is_written_is_read_back_typed(tmp_path: Path) -> None:
    run_dir, record = _write(tmp_path)
    run = load_run(run_dir)
    assert (run.run_id, run.status, run.summary.target) == ("r1", "PASS", "local")
    (exp,) = run.experiments
    assert exp.ran and exp.name == NAME
    (promise,) = exp.promises
    assert promise.id == "POOLER" and promise.checks[0].measured == 2.5
    assert promise.checks[0].holds is True
    assert exp.samples == tuple(record.samples)
    assert exp.roles == tuple(record.roles)
    assert exp.events == tuple(record.events)
    assert exp.measurements == tuple(record.measurements)
    assert exp.result is not None
    assert exp.result.injections == tuple(record.injections)
    assert exp.duration_s == 30.0
    assert exp.load is not None
    assert exp.load.requests == 40 and exp.load.adequate is True and exp.load.asked_rps == 10.0
    (phase,) = exp.load.phases
    assert phase.failures_by_kind == (("http 502", 3),) and phase.p95_s == 0.3
    assert exp.load.orders.acknowledged == 2
    assert exp.load.orders.missing == ("3",)  # a load order acknowledged and not found
    assert exp.load.orders.unconfirmed == ("2",)
    assert exp.ledger_by_source is not None
    order = exp.ledger_by_source["order"]
    assert (order["probe"].acknowledged, order["probe"].missing) == (1, 0)
    assert (order["load"].acknowledged, order["load"].missing) == (2, 1)
    assert exp.alerts is not None
    assert [a.source for a in exp.alerts] == ["receiver"]
    assert exp.alerts[0].payload == {"status": "firing"}


def test_every_string_read_back_is_redacted(tmp_path: Path) -> None:
    run_dir, _ = _write(tmp_path)
    exp = load_run(run_dir, redactor=Redactor(["hunter22"])).experiments[0]
    assert exp.result is not None
    assert exp.result.errors == ("password=[redacted] leaked",)
    assert "hunter22" in (run_dir / NAME / "result.json").read_text()  # the folder keeps it


@pytest.mark.parametrize(
    ("file", "text", "message"),
    [
        ("result.json", "[]", "result.json: expected a JSON object"),
        ("events.json", "{}", "events.json: expected a JSON list"),
        ("measurements.json", '[{"name": "x"}]', "not a Measurement"),
        ("load.json", '{"phases": [{"requests": 1}]}', "not a LoadPhase"),
    ],
)
def test_a_file_of_the_wrong_shape_is_named(
    tmp_path: Path, file: str, text: str, message: str
) -> None:
    run_dir, _ = _write(tmp_path)
    (run_dir / NAME / file).write_text(text)
    with pytest.raises(RunFolderError, match=message):
        load_run(run_dir)


def test_a_newer_hasuite_may_add_fields(tmp_path: Path) -> None:
    run_dir, _ = _write(tmp_path)
    path = run_dir / NAME / "load.json"
    data = json.loads(path.read_text())
    data["something_new"] = 1
    data["phases"][0]["also_new"] = 2
    path.write_text(json.dumps(data))
    exp = load_run(run_dir).experiments[0]
    assert exp.load is not None and exp.load.phases[0].requests == 20
