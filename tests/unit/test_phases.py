"""Phases from events and error counts per phase (pure, table-driven)."""

from __future__ import annotations

import pytest

from hasuite.analysis import build_phases, measure_phase_errors, unhealthy_baseline
from hasuite.model import Event

from .builders import series


def ev(kind: str, at: float) -> Event:
    return Event(at=at, wall=at, kind=kind, component="postgres")


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param([], [("before", 0.0, 100.0)], id="no-fault"),
        pytest.param([ev("fault", 10)], [("before", 0, 10), ("during", 10, 100)], id="fault-only"),
        pytest.param(
            [ev("fault", 10), ev("recovered", 30)],
            [("before", 0, 10), ("during", 10, 30), ("recovery", 30, 40), ("after", 40, 100)],
            id="settle-default",
        ),
        pytest.param(
            [ev("recovered", 5), ev("fault", 10), ev("recovered", 30), ev("steady", 33)],
            [("before", 0, 10), ("during", 10, 30), ("recovery", 30, 33), ("after", 33, 100)],
            id="steady-event-and-recovered-before-fault-ignored",
        ),
        pytest.param(
            [ev("fault", 10), ev("recovered", 95)],
            [("before", 0, 10), ("during", 10, 95), ("recovery", 95, 100)],
            id="settle-beyond-end",
        ),
        pytest.param([ev("fault", 0)], [("during", 0, 100)], id="fault-at-start"),
        pytest.param(
            [ev("baseline", 4), ev("fault", 10)],
            [("warmup", 0, 4), ("before", 4, 10), ("during", 10, 100)],
            id="steady-gate-skipped-a-warm-up",
        ),
        pytest.param(
            [ev("fault", 10), ev("baseline", 20)],
            [("before", 0, 10), ("during", 10, 100)],
            id="baseline-after-the-fault-ignored",
        ),
    ],
)
def test_build_phases(events, expected):
    phases = build_phases(events, start=0.0, end=100.0)
    got = [(p.name, p.start, round(p.end, 6)) for p in phases]
    assert got == [(n, float(a), float(b)) for n, a, b in expected]
    assert phases[-1].contains(100.0)  # the end is inside the last phase


def test_phase_errors_per_phase():
    # 0..0.9 before (all ok), 1.0..2.9 during (15 of 20 fail), 3.0.. recovery, after empty
    samples = series("." * 10 + "." * 5 + "x" * 15 + ". x . .".replace(" ", "."))
    phases = build_phases([ev("fault", 1.0), ev("recovered", 3.0)], start=0.0, end=3.6, settle_s=10)
    got = {m.name: m for m in measure_phase_errors(samples, phases)}
    assert set(got) == {
        "errors_before",
        "error_ratio_before",
        "errors_during",
        "error_ratio_during",
        "errors_recovery",
        "error_ratio_recovery",
    }
    assert (got["errors_before"].value, got["error_ratio_before"].value) == (0.0, 0.0)
    assert got["errors_during"].value == 15.0
    assert got["error_ratio_during"].value == pytest.approx(0.75)
    assert got["errors_recovery"].value == 1.0
    assert got["error_ratio_recovery"].value == pytest.approx(1 / 7)


def test_phase_without_samples_is_unmeasured_not_zero():
    phases = build_phases([ev("fault", 5.0)], start=0.0, end=10.0)
    got = {m.name: m for m in measure_phase_errors(series("...."), phases, prefix="http_")}
    assert got["http_errors_during"].value is None
    assert "no samples in the during phase" in got["http_error_ratio_during"].detail


@pytest.mark.parametrize(
    ("pattern", "unhealthy"),
    [
        pytest.param("." * 10 + "x" * 10, False, id="clean-baseline"),
        pytest.param(".x" + "." * 8 + "x" * 10, True, id="one-failure-before-the-fault"),
        pytest.param("xxxx" + "." * 6 + "x" * 10, True, id="outage-still-going-at-the-fault"),
    ],
)
def test_a_baseline_with_failed_requests_is_unhealthy(pattern, unhealthy):
    phases = build_phases([ev("fault", 1.0)], start=0.0, end=2.0)
    measured = measure_phase_errors(series(pattern), phases)
    why = unhealthy_baseline(measured)
    if not unhealthy:
        assert why is None
        return
    failed = pattern[:10].count("x")
    assert why is not None
    assert why.startswith("the stack was not healthy before the fault: ")
    assert f"{failed} of 10 samples failed in the before phase" in why
    assert f"(HTTP 503 x{failed})" in why  # the kinds, as CI needs them to tell a cause


def test_no_baseline_measurement_is_not_a_verdict_on_health():
    phases = build_phases([ev("fault", 0.0)], start=0.0, end=1.0)  # no before phase at all
    assert unhealthy_baseline(measure_phase_errors(series("xx"), phases)) is None


def test_build_phases_rejects_inverted_window():
    with pytest.raises(ValueError):
        build_phases([], start=5.0, end=1.0)


def test_one_isolated_failure_in_a_long_baseline_is_noise_but_two_are_not():
    phases = build_phases([ev("fault", 6.0)], start=0.0, end=7.0)
    one = "." * 30 + "x" + "." * 29 + "x" * 10  # 1 of 60 before the fault
    assert unhealthy_baseline(measure_phase_errors(series(one), phases)) is None
    two = "." * 30 + "xx" + "." * 28 + "x" * 10
    assert unhealthy_baseline(measure_phase_errors(series(two), phases)) is not None


def test_failures_in_the_warm_up_are_reported_but_do_not_make_the_baseline_unhealthy():
    # 0..0.9 a burst of timeouts, the gate's baseline from 1.0, the fault at 2.0
    samples = series("xxxxx....." + ".........." + "xxxxx.....")
    phases = build_phases([ev("baseline", 1.0), ev("fault", 2.0)], start=0.0, end=2.9)
    got = {m.name: m for m in measure_phase_errors(samples, phases)}
    assert got["errors_warmup"].value == 5.0
    assert got["errors_before"].value == 0.0
    assert unhealthy_baseline(got.values()) is None
    # without the gate's event the same burst is an unhealthy baseline (ERROR)
    phases = build_phases([ev("fault", 2.0)], start=0.0, end=2.9)
    assert unhealthy_baseline(measure_phase_errors(samples, phases)) is not None
