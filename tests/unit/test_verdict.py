"""Verdict logic on hand-made promises: PASS, FAIL, ERROR, SKIPPED, lower bounds, aggregation."""

from __future__ import annotations

import pytest

from hasuite.analysis import (
    aggregate_status,
    error_result,
    evaluate_check,
    interrupted_result,
    judge,
)
from hasuite.model import Check, Injection, Measurement, Promise, PromiseResult, Verdict

OUTAGE = Check(measurement="write_outage_s", comparison="<=", threshold=30, unit="s")
LOST = Check(measurement="lost_orders", comparison="==", threshold=0, unit="count")
DUPS = Check(
    measurement="duplicate_tasks", comparison="==", threshold=0, unit="count", enforce=False
)
P = Promise(
    id="P-1", text="t", experiments=("e",), checks=(OUTAGE, LOST, DUPS), targets=("local", "kind")
)


def m(name: str, value: float | None, unit: str = "s", **kw) -> Measurement:
    return Measurement(name=name, value=value, unit=unit, **kw)


HEALTHY = [
    m("write_outage_s", 20.7),
    m("lost_orders", 0, "count"),
    m("duplicate_tasks", 0, "count"),
]


def test_pass_lists_every_check():
    r = judge(P, HEALTHY, "local")
    assert r.verdict is Verdict.PASS
    assert r.reason == (
        "write outage 20.7 s <= 30 s; lost orders 0 == 0; "
        "reported, not enforced: duplicate tasks 0 == 0"
    )
    assert (r.measured, r.threshold, r.unit) == (20.7, 30, "s")


def test_fail_lists_every_violation_with_numbers():
    r = judge(
        P,
        [m("write_outage_s", 34.2), m("lost_orders", 3, "count"), m("duplicate_tasks", 5, "count")],
        "local",
    )
    assert r.verdict is Verdict.FAIL
    assert r.reason == (
        "write outage 34.2 s > 30 s; lost orders 3 != 0; "
        "reported, not enforced: duplicate tasks 5 != 0"
    )
    assert (r.measured, r.threshold) == (34.2, 30)


def test_informational_violation_alone_does_not_fail():
    r = judge(P, [*HEALTHY[:2], m("duplicate_tasks", 7, "count")], "local")
    assert r.verdict is Verdict.PASS and "duplicate tasks 7 != 0" in r.reason


@pytest.mark.parametrize(
    ("measurements", "fragment"),
    [
        pytest.param(
            HEALTHY[:1], "lost orders not measured (no lost_orders measurement", id="missing"
        ),
        pytest.param(
            [HEALTHY[0], m("lost_orders", None, "count", detail="no acknowledged order")],
            "could not measure: lost orders not measured: no acknowledged order",
            id="none-with-detail",
        ),
        pytest.param(
            [m("write_outage_s", 12.0, at_least=True, detail="still failing"), HEALTHY[1]],
            "write outage at least 12 s: cannot tell whether <= 30 s (still failing)",
            id="lower-bound-below-threshold",
        ),
    ],
)
def test_error_when_something_could_not_be_measured(measurements, fragment):
    r = judge(P, measurements, "local")
    assert r.verdict is Verdict.ERROR
    assert fragment in r.reason


def test_missing_informational_measurement_is_no_error():
    assert judge(P, HEALTHY[:2], "local").verdict is Verdict.PASS


def test_violation_wins_over_unmeasured_and_names_both():
    r = judge(P, [m("write_outage_s", 45.0)], "local")
    assert r.verdict is Verdict.FAIL
    assert r.reason.startswith("write outage 45 s > 30 s; also lost orders not measured")


def test_lower_bound_above_threshold_is_a_definite_fail():
    r = judge(P, [m("write_outage_s", 31.0, at_least=True), HEALTHY[1]], "local")
    assert r.verdict is Verdict.FAIL
    assert "write outage at least 31 s > 30 s" in r.reason


@pytest.mark.parametrize(
    ("comparison", "value", "at_least", "holds"),
    [
        ("<=", 5, False, True),
        ("<=", 6, False, False),
        ("<", 5, False, False),
        ("==", 5, False, True),
        ("==", 4, False, False),
        (">=", 5, False, True),
        (">", 5, False, False),
        (">", 6, False, True),
        ("<=", 4, True, None),
        ("<=", 6, True, False),
        ("<", 5, True, False),
        (">=", 6, True, True),
        (">=", 4, True, None),
        ("==", 5, True, None),
        ("==", 4, True, None),
        ("==", 6, True, False),
    ],
)
def test_evaluate_check_table(comparison, value, at_least, holds):
    check = Check(measurement="x_s", comparison=comparison, threshold=5, unit="s")
    r = evaluate_check(check, m("x_s", value, at_least=at_least))
    assert r.holds is holds


def test_skipped_on_other_target_says_why():
    r = judge(P, HEALTHY, "cluster")
    assert r.verdict is Verdict.SKIPPED
    assert (
        r.reason
        == "P-1 applies to target(s) local, kind, not cluster; run with --target local to check it"
    )


def test_duplicate_measurement_names_are_a_bug():
    with pytest.raises(ValueError, match="given twice"):
        judge(P, [*HEALTHY, HEALTHY[0]], "local")


def test_result_dict_has_summary_schema():
    d = judge(P, HEALTHY, "local").to_dict()
    assert {"id", "verdict", "measured", "threshold", "unit", "reason"} <= set(d)
    assert d["verdict"] == "PASS" and len(d["checks"]) == 3


def _r(v: Verdict) -> PromiseResult:
    return PromiseResult(id="x", verdict=v, measured=None, threshold=None, unit="", reason="")


@pytest.mark.parametrize(
    ("verdicts", "status"),
    [
        ([Verdict.PASS, Verdict.PASS], Verdict.PASS),
        ([Verdict.PASS, Verdict.FAIL], Verdict.FAIL),
        ([Verdict.FAIL, Verdict.ERROR, Verdict.PASS], Verdict.ERROR),
        ([Verdict.ERROR, Verdict.INTERRUPTED], Verdict.INTERRUPTED),
        ([Verdict.SKIPPED, Verdict.PASS], Verdict.PASS),
        ([Verdict.SKIPPED], Verdict.SKIPPED),
        ([], Verdict.ERROR),
    ],
)
def test_aggregate_status(verdicts, status):
    assert aggregate_status(_r(v) for v in verdicts) is status


def test_error_and_interrupted_results():
    e = error_result(P, "stack unhealthy before the fault: order-write failing")
    assert (e.verdict, e.threshold, e.unit) == (Verdict.ERROR, 30, "s")
    assert interrupted_result(P).verdict is Verdict.INTERRUPTED


def test_explain_gives_the_detail_of_every_check_that_did_not_hold():
    from hasuite.session.result import ExperimentResult

    measured = (
        m("write_outage_s", 34.2, detail="order-write: 1 outage(s); longest 34.2 s"),
        m("lost_orders", 2, "count", detail="2 of 300 acknowledged orders missing: 17, 18"),
        m("duplicate_tasks", None, "count", detail="tasks not read back"),
    )
    result = judge(P, measured, "local")
    exp = ExperimentResult(
        name="e",
        status=result.verdict,
        reason="",
        promises=(result,),
        measurements=measured,
        dir="/r/e",
    )
    lines = exp.explain(result).splitlines()
    assert lines[0] == f"e: FAIL: {result.reason}"
    assert lines[1:] == [
        "    write_outage_s: order-write: 1 outage(s); longest 34.2 s",
        "    lost_orders: 2 of 300 acknowledged orders missing: 17, 18",
        "    duplicate_tasks: tasks not read back",  # undecided counts as "did not hold"
        "    evidence: /r/e",
    ]
    passing = judge(P, HEALTHY, "local")
    assert exp.explain(passing).splitlines()[1:] == ["    evidence: /r/e"]


HELD = Injection(at=10.0, wall=1e9, component="postgres", action="crash", held_s=45.0)
IN_PLACE = Injection(at=10.0, wall=1e9, component="postgres", action="crash")
FAILOVER_ONLY = Promise(
    id="P-2", text="t", experiments=("e",), checks=(OUTAGE, LOST), faults=("crash-held-down",)
)


def test_every_verdict_names_the_fault_class_it_was_judged_on():
    r = judge(P, HEALTHY, "local", HELD)
    assert r.verdict is Verdict.PASS
    assert r.reason.endswith("; fault: crash that stays down (crash-held-down, 45 s)")
    assert judge(P, HEALTHY, "local", IN_PLACE).reason.endswith(
        "; fault: crash restarted in place (crash-restarted-in-place)"
    )


def test_a_fault_class_the_promise_cannot_carry_is_skipped_not_judged():
    broken = [m("write_outage_s", 99.0), m("lost_orders", 3, "count")]
    r = judge(FAILOVER_ONLY, broken, "kind", IN_PLACE)
    assert r.verdict is Verdict.SKIPPED
    assert "crash restarted in place" in r.reason and "crash-held-down only" in r.reason
    held = judge(FAILOVER_ONLY, broken, "kind", HELD)
    assert held.verdict is Verdict.FAIL  # the class it can carry: judged, and it fails
    assert judge(FAILOVER_ONLY, HEALTHY[:2], "kind").verdict is Verdict.PASS  # no fault known
