"""Failover time from role changes; instance readiness (pure, table-driven)."""

from __future__ import annotations

import pytest

from hasuite.analysis import measure_failovers, measure_instance_ready, measure_time_to_new_role

from .builders import roles

L, R = "leader", "replica"


@pytest.mark.parametrize(
    ("rows", "value", "at_least", "detail"),
    [
        pytest.param(
            [
                (9.0, "m1", L, True),
                (9.0, "m2", R, True),
                (12.0, "m2", R, True),
                (31.5, "m2", L, True),
            ],
            21.5,
            False,
            "postgres leader m1 -> m2 after 21.5 s",
            id="replica-promoted",
        ),
        pytest.param(
            [(9.0, "m1", L, True), (20.0, "m1", L, True), (40.0, "m1", L, True)],
            30.0,
            True,
            "no new postgres leader within 30 s",
            id="old-leader-regains-is-no-failover",
        ),
        pytest.param(
            [
                (9.0, "m1", L, True),
                (12.0, "m1", R, False),
                (23.6, "m1", L, True),
                (40.0, "m1", L, True),
            ],
            30.0,
            True,
            "m1 was leader and ready again 13.6 s after the fault: it came back in place",
            id="killed-leader-restarted-in-place",
        ),
        pytest.param(
            [(9.0, "m1", L, True), (15.0, "m2", R, True), (25.0, "m3", R, False)],
            15.0,
            True,
            "last seen: m2 replica, m3 replica (not ready)",
            id="no-leader-yet-lower-bound",
        ),
        pytest.param(
            [(9.0, "m2", R, True), (20.0, "m2", L, True)],
            None,
            False,
            "no postgres leader observed before the fault",
            id="no-leader-before-fault",
        ),
        pytest.param(
            [(9.0, "m1", L, True)],
            None,
            False,
            "no postgres observations after the fault",
            id="observer-stopped",
        ),
    ],
)
def test_time_to_new_leader(rows, value, at_least, detail):
    m = measure_time_to_new_role(
        roles("postgres", *rows), component="postgres", role=L, fault_at=10.0
    )
    assert m.value == (pytest.approx(value) if value is not None else None)
    assert m.at_least is at_least
    assert detail in m.detail


def test_time_to_new_master_ignores_other_components():
    obs = roles("redis", (1.0, "r1", "master", True), (7.0, "r2", "master", True))
    obs += roles("postgres", (6.0, "m9", "master", True))
    m = measure_time_to_new_role(
        obs, component="redis", role="master", fault_at=2.0, name="time_to_new_master_s"
    )
    assert (m.name, m.value) == ("time_to_new_master_s", 5.0)


def test_time_to_new_role_without_fault():
    m = measure_time_to_new_role((), component="redis", role="master", fault_at=None)
    assert m.value is None and "no fault" in m.detail


@pytest.mark.parametrize(
    ("rows", "instances", "value", "at_least", "detail"),
    [
        pytest.param(
            [(10.5, "d1", "", False), (12.0, "d1", "", False), (14.2, "d1", "", True)],
            ["d1"],
            4.2,
            False,
            "d1 ready again after 4.2 s",
            id="restarted",
        ),
        pytest.param(
            [(10.5, "d1", "", True)],
            ["d1"],
            0.5,
            False,
            "never seen not ready",
            id="restart-faster-than-observer",
        ),
        pytest.param(
            [(10.5, "d1", "", False), (70.0, "d1", "", False)],
            ["d1"],
            60.0,
            True,
            "d1 still not ready",
            id="still-down",
        ),
        pytest.param(
            [
                (11.0, "d1", "", False),
                (12.0, "d1", "", True),
                (11.0, "d2", "", False),
                (25.0, "d2", "", True),
            ],
            ["d1", "d2"],
            15.0,
            False,
            "d2 ready again after 15 s",
            id="max-over-instances",
        ),
        pytest.param([(11.0, "d1", "", True)], ["d2"], None, False, "no observation", id="unseen"),
        pytest.param([], [], None, False, "no hit instances", id="nothing-hit"),
    ],
)
def test_instance_ready(rows, instances, value, at_least, detail):
    m = measure_instance_ready(
        roles("django", *rows), component="django", instances=instances, fault_at=10.0
    )
    assert m.value == (pytest.approx(value) if value is not None else None)
    assert m.at_least is at_least
    assert detail in m.detail


def test_an_observer_blind_after_the_fault_makes_role_changes_unknown():
    from hasuite.analysis import blind_errors

    spans = [
        ("postgres", 2.0, 4.0, "ApiException: before the fault"),  # ended before the fault
        ("postgres", 13.0, 25.0, "MaxRetryError: connection refused"),
        ("redis", 12.0, 12.0, "one failed poll"),  # shorter than the limit
    ]
    errors = blind_errors(spans, fault_at=10.0, period_s=0.25)
    assert len(errors) == 1
    assert "postgres observer could not read the target for 12.2 s" in errors[0]
    assert "from 3 s to 15 s after the fault" in errors[0]
    assert "connection refused" in errors[0] and "unknown" in errors[0]
    assert blind_errors(spans, fault_at=None, period_s=0.25) == []


@pytest.mark.parametrize(
    ("rows", "failovers", "detail"),
    [
        pytest.param(
            [(9.0, "m1", L, True), (31.5, "m2", L, True)], 1.0, "failover: ", id="failover"
        ),
        pytest.param(
            [(9.0, "m1", L, True), (12.0, "m1", R, False), (23.6, "m1", L, True)],
            0.0,
            "no failover: ",
            id="restarted-in-place",
        ),
        pytest.param([(9.0, "m2", R, True)], None, "no postgres leader", id="unknown"),
    ],
)
def test_failovers_say_which_path_the_primary_took(rows, failovers, detail):
    new = measure_time_to_new_role(
        roles("postgres", *rows), component="postgres", role=L, fault_at=10.0
    )
    m = measure_failovers(new, "postgres_failovers")
    assert m.value == failovers and m.unit == "count"
    assert m.detail.startswith(detail) or detail in m.detail
    if failovers == 0.0:
        assert "came back in place" in m.detail
