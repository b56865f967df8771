"""The calibration result math on hand-built samples (pure: no I/O, no clock)."""

from __future__ import annotations

import pytest

from hasuite.calibrate import TOLERANCE_S, build_calibration_result, describe
from hasuite.model import Sample

WALL0 = 1_800_000_000.0


def ok(at: float) -> Sample:
    return Sample(at=at, wall=WALL0 + at, probe="order-write", ok=True, latency_s=0.02)


def timeout(at: float) -> Sample:
    return Sample(
        at=at, wall=WALL0 + at, probe="order-write", ok=False, latency_s=1.0, error="timeout"
    )


def ticks(start: float, stop: float, step: float = 0.1) -> list[float]:
    n = round((stop - start) / step)
    return [round(start + i * step, 9) for i in range(n)]


def paused_round(
    *, pause: float, resume: float, lead: float = 0.05, lag: float = 0.02, end: float | None = None
) -> list[Sample]:
    """What a 10 Hz probe with a 1 s timeout sees when its door is SIGSTOPped.

    Answers before the pause succeed (the last one ``lead`` s before it); requests sent during
    the pause more than 1 s before the resume time out 1 s after they were sent; the rest are
    queued and answered ``lag`` s after the resume; then successes every 0.1 s until ``end``.
    """
    samples = [ok(t) for t in ticks(0.0, pause - lead + 1e-9)]
    samples[-1] = ok(pause - lead)
    samples += [timeout(t + 1.0) for t in ticks(pause, resume - 1.0)]
    samples += [ok(resume + lag) for _ in ticks(max(pause, resume - 1.0), resume)]
    if end is not None:
        samples += [ok(t) for t in ticks(round(resume + lag + 0.1, 9), end)]
    return samples


def test_typical_round_reports_the_raw_error_and_its_parts() -> None:
    samples = paused_round(pause=1.0, resume=3.0, lead=0.05, lag=0.02, end=5.0)
    r = build_calibration_result(samples, duration_s=2.0, paused_at=1.0, resumed_at=3.0)
    assert r.reference_s == pytest.approx(2.0)
    # raw edges 0.95 .. 3.02 = 2.07 s; the start lies between the last success (0.95) and the
    # first hung send (1.0), the end between the last timeout (2.9) and the first answer (3.02):
    # the middles, 0.975 .. 2.96, read 1.985 s
    assert r.raw_outage_s == pytest.approx(2.07)
    assert r.measured_s == pytest.approx(1.985)
    assert r.error_s == pytest.approx(-0.015)
    assert r.within_tolerance
    assert r.start_lead_s == pytest.approx(0.05)
    assert r.end_lag_s == pytest.approx(0.02)
    # the timeout delays the first failure by ~1 s; it does not move the outage's start
    assert r.detection_s == pytest.approx(1.0)
    assert r.failures == 10
    assert r.errors == ("timeout",)
    assert not r.at_least


@pytest.mark.parametrize(
    ("lead", "lag", "error", "within"),
    [
        (0.05, 0.05, 0.0, True),  # both edges in the middle of 0.05 s brackets
        (0.1, 0.1, 0.05, True),  # brackets of 0.1 and 0.2 s: +0.05
        # an end bracket over two periods (0.3 s) keeps its outer edge: +0.25, reported as is
        (0.1, 0.2, 0.25, False),
        (0.3, 0.4, 0.7, False),  # a slow machine: +0.7, not hidden
        (0.05, 0.12, 0.145, False),  # a 0.22 s end bracket: outer edge, +0.145
    ],
)
def test_tolerance_is_judged_on_the_raw_error(
    lead: float, lag: float, error: float, within: bool
) -> None:
    samples = paused_round(pause=10.0, resume=12.0, lead=lead, lag=lag, end=14.0)
    r = build_calibration_result(samples, duration_s=2.0, paused_at=10.0, resumed_at=12.0)
    assert r.measured_s is not None and r.error_s is not None
    assert r.error_s == pytest.approx(r.measured_s - r.reference_s)
    assert r.error_s == pytest.approx(error)
    assert r.within_tolerance is within
    assert r.within_tolerance == (abs(r.error_s) <= TOLERANCE_S)


def test_reference_is_the_measured_pause_not_the_requested_duration() -> None:
    # asked for 5 s, the sleep overslept to 5.3 s on a busy machine: judged against 5.3 s
    samples = paused_round(pause=2.0, resume=7.3, lead=0.05, lag=0.03, end=9.0)
    r = build_calibration_result(samples, duration_s=5.0, paused_at=2.0, resumed_at=7.3)
    assert r.duration_s == 5.0
    assert r.reference_s == pytest.approx(5.3)
    assert r.measured_s == pytest.approx(5.29)
    assert r.error_s == pytest.approx(-0.01)


def test_a_pause_shorter_than_the_timeout_is_invisible() -> None:
    # every request during a 0.5 s pause is only slow: no failure, the probes measure 0
    samples = [ok(t) for t in ticks(0.0, 1.0)] + [ok(1.52)] * 5 + [ok(t) for t in ticks(1.6, 3.0)]
    r = build_calibration_result(samples, duration_s=0.5, paused_at=1.0, resumed_at=1.5)
    assert r.measured_s == 0.0
    assert r.error_s == pytest.approx(-0.5)
    assert not r.within_tolerance
    assert r.raw_outage_s == 0.0
    assert r.failures == 0


def test_an_outage_still_open_is_a_lower_bound_and_never_within() -> None:
    samples = paused_round(pause=1.0, resume=3.0)
    samples = [s for s in samples if not s.ok or s.at < 1.0]  # nothing answered after the resume
    r = build_calibration_result(samples, duration_s=2.0, paused_at=1.0, resumed_at=3.0)
    assert r.at_least
    assert r.end_lag_s is None
    assert not r.within_tolerance
    assert "still failing" in r.detail


def test_an_outage_outside_the_pause_is_not_the_calibrated_one() -> None:
    # no failure during a 0.4 s pause, but an unrelated 0.4 s outage later: same length, wrong one
    samples = [ok(t) for t in ticks(0.0, 5.0)] + [timeout(5.1), timeout(5.2)]
    samples += [ok(t) for t in ticks(5.3, 7.0)]
    r = build_calibration_result(samples, duration_s=0.4, paused_at=1.0, resumed_at=1.4)
    assert r.measured_s == pytest.approx(0.35)
    assert r.error_s == pytest.approx(-0.05)
    assert not r.within_tolerance
    assert "does not overlap the pause" in r.detail


def test_no_sample_after_the_pause_cannot_be_measured() -> None:
    r = build_calibration_result(
        [ok(t) for t in ticks(0.0, 1.0)], duration_s=2.0, paused_at=1.0, resumed_at=3.0
    )
    assert r.measured_s is None and r.error_s is None
    assert not r.within_tolerance
    assert "not measured" in r.detail


def test_resume_before_pause_is_rejected() -> None:
    with pytest.raises(ValueError, match="before paused_at"):
        build_calibration_result([], duration_s=1.0, paused_at=2.0, resumed_at=1.0)


def test_describe_shows_the_numbers() -> None:
    samples = paused_round(pause=1.0, resume=3.0, end=5.0)
    r = build_calibration_result(samples, duration_s=2.0, paused_at=1.0, resumed_at=3.0)
    line = describe(r)
    assert "reference 2.000 s" in line
    assert "measured 1.985 s" in line
    assert "error -0.015 s (within 0.1 s)" in line
