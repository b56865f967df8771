"""The partition checker on hand-made histories, including ones where it must find nothing."""

from __future__ import annotations

import pytest

from hasuite.analysis.splitbrain import (
    PartitionWindow,
    dual_primary_spans,
    measure_partition,
    sort,
)
from hasuite.model import LedgerCheck, LedgerEntry, RoleObservation

W = PartitionWindow(member="pg-1", cut_at=10.0, healed_at=40.0)


def entry(key: str, at: float, server: str = "", kind: str = "order") -> LedgerEntry:
    return LedgerEntry(kind=kind, key=key, acknowledged_at=at, server=server)


def role(at: float, instance: str, holds: bool) -> RoleObservation:
    return RoleObservation(
        at=at,
        wall=at,
        component="postgres",
        instance=instance,
        role="leader" if holds else "replica",
        ready=True,
    )


def test_a_clean_partition_finds_nothing() -> None:
    """The old leader demoted at once: no write of it after the cut, everything read back."""
    ledger = [entry("a", 5, "pg-1"), entry("b", 20, "pg-2"), entry("c", 30, "pg-2")]
    check = LedgerCheck(present=frozenset({"a", "b", "c"}))
    s = sort(ledger, check, W)
    assert (s.lost, s.duplicated, s.split_brain, s.split_brain_lost) == ((), (), (), ())
    roles = [role(9, "pg-1", True), role(9, "pg-2", False), role(22, "pg-1", False)]
    roles += [role(22, "pg-2", True)]
    got = {
        m.name: m
        for m in measure_partition(ledger, check, W, roles, component="postgres", role="leader")
    }
    assert got["dual_primary_s"].value == 0 and "never two" in got["dual_primary_s"].detail
    assert [got[n].value for n in ("lost_orders", "split_brain_orders", "duplicated_orders")] == [
        0,
        0,
        0,
    ]


def test_writes_the_cut_off_leader_acknowledged_are_split_brain_and_those_lost_counted() -> None:
    ledger = [
        entry("before", 8, "pg-1"),  # before the cut: a normal write, replicated
        entry("minority-1", 12, "pg-1"),  # after the cut, on the old leader
        entry("minority-2", 18, "pg-1"),
        entry("majority", 25, "pg-2"),
        entry("after-heal", 45, "pg-1"),  # after the heal: pg-1 is a healthy member again
        entry("unknown-server", 15),  # no server named: never counted as split-brain
    ]
    check = LedgerCheck(present=frozenset({"before", "minority-2", "majority", "after-heal"}))
    s = sort(ledger, check, W)
    assert s.split_brain == ("minority-1", "minority-2")
    assert s.split_brain_lost == ("minority-1",)
    assert s.lost == ("minority-1", "unknown-server")


def test_duplicates_are_counted_never_hidden() -> None:
    ledger = [entry("x", 12, "pg-1"), entry("y", 13, "pg-2")]
    check = LedgerCheck(executions={"x": 2, "y": 1})
    s = sort(ledger, check, W)
    assert s.duplicated == ("x",) and s.lost == () and s.split_brain == ("x",)


def test_two_leaders_at_once_are_measured_from_the_role_observations() -> None:
    roles = [
        role(9, "pg-1", True),
        role(9, "pg-2", False),
        role(21, "pg-2", True),  # elected while pg-1, cut off, still says it leads
        role(24, "pg-1", False),  # pg-1 demoted itself
        role(30, "pg-2", True),
    ]
    spans = dual_primary_spans(roles, component="postgres", role="leader")
    assert spans == [(21, 24, ("pg-1", "pg-2"))]
    got = {
        m.name: m
        for m in measure_partition([], LedgerCheck(), W, roles, component="postgres", role="leader")
    }
    assert got["dual_primary_s"].value == pytest.approx(3.0)
    assert "pg-1 and pg-2 from 11 s to 14 s after the cut" in got["dual_primary_s"].detail


def test_two_leaders_until_the_end_of_the_recording_are_a_span_too() -> None:
    roles = [role(9, "pg-1", True), role(20, "pg-2", True), role(35, "pg-2", True)]
    assert dual_primary_spans(roles, component="postgres", role="leader") == [
        (20, 35, ("pg-1", "pg-2"))
    ]


def test_no_read_back_and_no_observations_are_unknown_not_zero() -> None:
    got = {
        m.name: m
        for m in measure_partition(
            [entry("a", 12, "pg-1")], None, W, [], component="postgres", role="leader"
        )
    }
    assert got["dual_primary_s"].value is None
    assert got["lost_orders"].value is None and "unknown" in got["lost_orders"].detail
    assert got["split_brain_orders"].value is None


def test_only_the_named_kind_is_counted() -> None:
    ledger = [entry("k", 12, "r-1", kind="key"), entry("o", 12, "pg-1")]
    got = {
        m.name: m
        for m in measure_partition(
            ledger, LedgerCheck(), W, [], component="postgres", role="leader"
        )
    }
    assert got["lost_orders"].value == 1 and "o" in got["lost_orders"].detail


def test_a_leader_that_stopped_its_database_is_no_primary_and_has_demoted() -> None:
    """Patroni's offline demotion (the DCS unreachable): Postgres is stopped, the member still
    calls itself leader, not ready, until it reaches the DCS again. Measured on the lab: demoted
    4.9 s after the cut, reported "leader, not ready" until the heal."""
    from hasuite.analysis.splitbrain import measure_demoted

    from .builders import roles

    obs = roles(
        "postgres",
        (0.0, "m1", "leader", True),
        (0.0, "m2", "replica", True),
        (5.0, "m1", "leader", False),  # demoted offline: database stopped
        (20.0, "m2", "leader", True),  # the lock expired: m2 promoted
        (45.0, "m1", "replica", False),  # the heal: m1 follows m2
    )
    assert dual_primary_spans(obs, component="postgres", role="leader") == []
    demoted = measure_demoted(obs, component="postgres", instance="m1", role="leader", cut_at=0.1)
    assert demoted.value == 4.9 and "leader, not ready" in demoted.detail
