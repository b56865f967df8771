"""Lost and duplicate ledger entries, beat slots, alert timings (pure, table-driven)."""

from __future__ import annotations

import pytest

from hasuite.analysis import (
    measure_alert_fire,
    measure_alert_resolve,
    measure_beat_resume,
    measure_beat_slots,
    measure_duplicates,
    measure_false_alarms,
    measure_lost,
)
from hasuite.model import Event, LedgerCheck, LedgerEntry


def ledger(kind: str, *keys_at: tuple[str, float]) -> list[LedgerEntry]:
    return [LedgerEntry(kind=kind, key=k, acknowledged_at=at) for k, at in keys_at]


ORDERS = ledger("order", ("o1", 1.0), ("o2", 2.0), ("o3", 3.0))


@pytest.mark.parametrize(
    ("check", "value", "detail"),
    [
        pytest.param(
            LedgerCheck(present=frozenset({"o1", "o2", "o3"})),
            0.0,
            "0 of 3 acknowledged orders lost",
            id="none-lost",
        ),
        pytest.param(LedgerCheck(present=frozenset({"o1"})), 2.0, "absent: o2, o3", id="two-lost"),
        pytest.param(
            LedgerCheck(executions={"o1": 1, "o2": 1, "o3": 0}),
            1.0,
            "absent: o3",
            id="zero-executions-is-absent",
        ),
    ],
)
def test_lost_orders(check, value, detail):
    m = measure_lost(ORDERS, check, kind="order")
    assert (m.name, m.value, m.at_least) == ("lost_orders", value, False)
    assert detail in m.detail


def test_lost_with_deadline_counts_late_and_flags_pending():
    tasks = ledger("task", ("t1", 0.0), ("t2", 0.0), ("t3", 0.0), ("t4", 150.0))
    check = LedgerCheck(
        executions={"t1": 1, "t2": 2},
        first_seen={"t1": 5.0, "t2": 200.0},
        checked_at=200.0,
    )
    m = measure_lost(tasks, check, kind="task", deadline_s=120.0)
    # t2 ran too late, t3 never ran, t4 (acknowledged 50 s before the read-back) had not run:
    # unsettled counts against the promise, and the value is a lower bound
    assert m.value == 3.0
    assert m.at_least is True
    assert "absent: t3" in m.detail and "deadline: t2" in m.detail
    assert "1 not run at the read-back, before their 120 s deadline" in m.detail


def test_lost_without_ledger_entries_is_unmeasured():
    m = measure_lost(ORDERS, LedgerCheck(), kind="task")
    assert m.value is None and "nothing was verified" in m.detail


def test_duplicates_are_counted_not_hidden():
    tasks = ledger("task", ("t1", 0.0), ("t2", 0.0), ("t3", 0.0), ("t1", 0.5))
    m = measure_duplicates(tasks, LedgerCheck(executions={"t1": 3, "t2": 1, "t3": 2}), kind="task")
    assert (m.name, m.value) == ("duplicate_tasks", 2.0)
    assert "3 extra executions: t1, t3" in m.detail
    assert measure_duplicates([], LedgerCheck(), kind="task").value is None


@pytest.mark.parametrize(
    ("slots", "window", "missed", "doubled"),
    [
        pytest.param([(s, 1) for s in range(10)], (0, 9), 0, 0, id="healthy"),
        pytest.param([(0, 1), (1, 1), (4, 1), (5, 1)], (0, 5), 2, 0, id="gap"),
        pytest.param([(s, 2) for s in range(4)], (0, 3), 0, 4, id="two-beats"),
        pytest.param([(0, 1), (0, 1), (1, 1)], (0, 1), 0, 1, id="pairs-add-up"),
        pytest.param([(s, 1) for s in range(3)] + [(7, 1)], (0, 2), 0, 0, id="outside-window"),
    ],
)
def test_beat_slots(slots, window, missed, doubled):
    m, d = measure_beat_slots(slots, first_slot=window[0], last_slot=window[1])
    assert (m.name, m.value, d.name, d.value) == ("missed_slots", missed, "doubled_slots", doubled)


def test_beat_slots_details_and_empty_window():
    m, d = measure_beat_slots([(0, 1), (3, 2), (4, 3)], first_slot=0, last_slot=4)
    assert "(1-2)" in m.detail and "3-4; max 3 runs" in d.detail
    m, d = measure_beat_slots([], first_slot=5, last_slot=4)
    assert m.value is None and d.value is None


@pytest.mark.parametrize(
    ("slots", "restart", "last", "value", "at_least"),
    [
        pytest.param([(10, 1), (21, 1), (22, 1)], 20, 25, 1.0, False, id="next-slot"),
        pytest.param([(10, 1), (20, 1)], 20, 25, 0.0, False, id="catch-up-same-slot"),
        pytest.param([(10, 1), (23, 1)], 20, 25, 3.0, False, id="late"),
        pytest.param([(10, 1)], 20, 25, 5.0, True, id="never"),
        pytest.param([(10, 1)], None, 25, None, False, id="no-restart"),
    ],
)
def test_beat_resume(slots, restart, last, value, at_least):
    m = measure_beat_resume(slots, restart_slot=restart, last_slot=last)
    assert (m.name, m.value, m.at_least) == ("beat_resume_intervals", value, at_least)


def alert(kind: str, at: float, name: str, severity: str = "critical") -> Event:
    return Event(at=at, wall=at, kind=kind, detail={"alertname": name, "severity": severity})


ALERTS = [
    alert("alert-firing", 5.0, "Unrelated"),
    alert("alert-firing", 26.0, "PostgresNoLeader"),
    alert("alert-resolved", 80.0, "PostgresNoLeader"),
]


def test_alert_fire_and_resolve():
    fire = measure_alert_fire(ALERTS, alertnames={"PostgresNoLeader"}, fault_at=10.0, until=200)
    assert (fire.value, fire.at_least) == (16.0, False)
    res = measure_alert_resolve(
        ALERTS, alertnames={"PostgresNoLeader"}, recovered_at=40.0, until=200
    )
    assert (res.value, res.at_least) == (40.0, False)


def test_alert_never_fires_or_never_resolves():
    fire = measure_alert_fire(ALERTS, alertnames={"RedisMasterMissing"}, fault_at=10.0, until=70)
    assert (fire.value, fire.at_least) == (60.0, True)
    res = measure_alert_resolve(
        ALERTS[:2], alertnames={"PostgresNoLeader"}, recovered_at=40.0, until=100
    )
    assert (res.value, res.at_least) == (60.0, True)
    none = measure_alert_resolve(ALERTS, alertnames={"X"}, recovered_at=40.0, until=100)
    assert none.value is None and "nothing to resolve" in none.detail


def test_false_alarms_counts_only_watched_severities_in_window():
    events = [*ALERTS, alert("alert-firing", 30.0, "ReplicaLag", "warning")]
    m = measure_false_alarms(events, start=20.0, end=60.0)
    assert (m.name, m.value) == ("false_alarms", 1.0)
    assert "PostgresNoLeader" in m.detail
    assert measure_false_alarms(events, start=100.0, end=160.0).value == 0.0
