"""Outage windows, time to first success, max success gap, failed requests (pure, table-driven)."""

from __future__ import annotations

import pytest

from hasuite.analysis import (
    build_outages,
    measure_failed_requests,
    measure_max_success_gap,
    measure_outage,
    measure_time_to_first_success,
)
from hasuite.model import Sample

from .builders import series


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        # (bracket start, bracket end, duration, failures, open, start_known, lower, upper);
        # every sample's latency is 0.01 s (builders.series): a failure was sent 0.01 s before
        pytest.param("", [], id="no-samples"),
        pytest.param("......", [], id="never-fails"),
        # began between 0.1 and 0.19 (0.145), ended between 0.2 and 0.3 (0.25)
        pytest.param("..x...", [(0.1, 0.3, 0.105, 1, False, True, 0.01, 0.2)], id="one-failed"),
        pytest.param("..xxxx..", [(0.1, 0.6, 0.405, 4, False, True, 0.31, 0.5)], id="one-outage"),
        pytest.param(
            ".xx..xxx.",
            [
                (0.0, 0.3, 0.205, 2, False, True, 0.11, 0.3),
                (0.4, 0.8, 0.305, 3, False, True, 0.21, 0.4),
            ],
            id="several",
        ),
        # open: a lower bound, from the latest possible start (0.19) to the last failure
        pytest.param("..xxx", [(0.1, 0.4, 0.21, 3, True, True, 0.21, 0.3)], id="open-at-end"),
        pytest.param(
            "xxx..", [(0.0, 0.3, 0.25, 3, False, False, 0.2, 0.3)], id="failure-before-success"
        ),
        pytest.param("xxxx", [(0.0, 0.3, 0.3, 4, True, False, 0.3, 0.3)], id="never-succeeds"),
        # a silence of the probes inside the bracket counts as outage: began at 0.1, not 0.395
        pytest.param(
            ".._____x.", [(0.1, 0.8, 0.65, 1, False, True, 0.01, 0.7)], id="silence-then-failure"
        ),
    ],
)
def test_build_outages(
    pattern: str, expected: list[tuple[float, float, float, int, bool, bool, float, float]]
):
    got = build_outages(series(pattern))
    assert [
        (
            round(o.start, 6),
            round(o.end, 6),
            o.duration_s,
            o.failures,
            o.open,
            o.start_known,
            o.lower_s,
            o.upper_s,
        )
        for o in got
    ] == expected


@pytest.mark.parametrize("true_s", [1.0, 2.0, 5.0, 10.0, 30.0])
@pytest.mark.parametrize("phase", [0.0, 0.03, 0.05, 0.07, 0.099])
def test_an_outage_of_known_length_is_measured_within_half_a_period(true_s: float, phase: float):
    """Requests every 0.1 s answered in 0.01 s; the service is down from 1 + phase to
    1 + phase + true_s. The old edges (last success .. first success) read up to a period long;
    edges in the middle of their brackets are off by at most half a period, either way."""
    down_from, down_to = 1.0 + phase, 1.0 + phase + true_s
    samples = []
    for i in range(int((true_s + 3) / 0.1)):
        sent = round(i * 0.1, 9)
        ok = not down_from <= sent < down_to
        samples.append(Sample(at=sent + 0.01, wall=0, probe="p", ok=ok, latency_s=0.01))
    (outage,) = build_outages(samples)
    assert abs(outage.duration_s - true_s) <= 0.05 + 1e-9, outage
    assert outage.lower_s <= true_s <= outage.upper_s


def test_hung_requests_place_the_start_at_the_first_failed_send_not_its_timeout():
    """A paused server (SIGSTOP): requests sent during the pause hang. Those whose timeout (1 s)
    expires first fail then, out of send order; those sent in the last second are answered at
    the resume. The start is the middle between the last answer and the first hung send."""
    pause, resume, timeout = 1.0, 3.0, 1.0
    samples = []
    for i in range(50):
        sent = round(i * 0.1, 9)
        if sent < pause:
            samples.append(Sample(at=sent + 0.01, wall=0, probe="p", ok=True, latency_s=0.01))
        elif sent + timeout < resume:
            at = sent + timeout
            samples.append(Sample(at=at, wall=0, probe="p", ok=False, latency_s=timeout))
        else:
            at = max(sent, resume) + 0.01
            samples.append(Sample(at=at, wall=0, probe="p", ok=True, latency_s=at - sent))
    (outage,) = build_outages(samples)
    assert outage.first_failure == pytest.approx(pause + timeout)  # detected a timeout later
    assert abs(outage.duration_s - (resume - pause)) <= 0.05 + 1e-9, outage


def test_build_outages_sorts_input_and_keeps_errors():
    samples = list(reversed(series("..xx..")))
    samples[2] = Sample(at=samples[2].at, wall=0, probe="order-write", ok=False, error="timeout")
    (outage,) = build_outages(samples)
    assert (outage.start, outage.end) == pytest.approx((0.1, 0.4))
    assert outage.errors == ("HTTP 503", "timeout")


def test_build_outages_rejects_mixed_probes_and_bad_resolution():
    with pytest.raises(ValueError, match="one probe"):
        build_outages(series("..", probe="a") + series("..", probe="b"))
    with pytest.raises(ValueError, match="resolution_s"):
        build_outages(series(".."), resolution_s=0)


# fault at 1.0 s in every case below; samples every 0.1 s from 0
@pytest.mark.parametrize(
    ("pattern", "value", "at_least", "detail"),
    [
        pytest.param("." * 30, 0.0, False, "no failure after the fault", id="healthy"),
        pytest.param(
            "..x......." + "." * 5 + "x" * 10 + ".....",
            1.005,
            False,
            "1 outage(s) after the fault; longest 1 s (between 0.91 and 1.1 s",
            id="outage-before-fault-ignored",
        ),
        pytest.param(
            "........" + "x" * 10 + ".....",
            1.005,
            False,
            "from -0.3 s to 0.8 s after the fault",
            id="outage-spanning-fault",
        ),
        pytest.param(
            "." * 12 + "xx..." + "x" * 20 + "..",
            2.005,
            False,
            "2 outage(s)",
            id="longest-of-several",
        ),
        pytest.param(
            "." * 12 + "x" * 10, 0.91, True, "still failing when the recording ended", id="open"
        ),
    ],
)
def test_measure_outage(pattern: str, value: float, at_least: bool, detail: str):
    m = measure_outage(series(pattern), fault_at=1.0)
    assert m.name == "write_outage_s"
    assert m.value == pytest.approx(value)
    assert m.at_least is at_least
    assert detail in m.detail


def test_measure_outage_cannot_measure_without_fault_or_samples_after_it():
    assert measure_outage(series("...."), fault_at=None).value is None
    m = measure_outage(series("...."), fault_at=5.0, name="cache_write_outage_s")
    assert m.value is None and m.name == "cache_write_outage_s"
    assert "no order-write samples after the fault" in m.detail


@pytest.mark.parametrize(
    ("pattern", "after", "value", "at_least"),
    [
        pytest.param(".....", 0.2, 0.0, False, id="immediate"),
        pytest.param("..xxx..", 0.2, 0.3, False, id="after-failures"),
        pytest.param("..xxx", 0.2, 0.2, True, id="never-lower-bound"),
    ],
)
def test_measure_time_to_first_success(pattern: str, after: float, value: float, at_least: bool):
    m = measure_time_to_first_success(series(pattern), after=after)
    assert m.value == pytest.approx(value)
    assert m.at_least is at_least


def test_measure_time_to_first_success_without_samples_after():
    m = measure_time_to_first_success(series(".."), after=9.0, name="task_resume_s")
    assert m.value is None and m.name == "task_resume_s"


@pytest.mark.parametrize(
    ("pattern", "window", "value", "at_least"),
    [
        pytest.param("......", None, 0.1, False, id="healthy-10hz"),
        pytest.param("..xxxx..", None, 0.5, False, id="failures"),
        pytest.param("..____..", None, 0.5, False, id="silence-counts"),
        pytest.param("......", (0.0, 1.5), 1.0, False, id="window-end-edge-counts"),
        pytest.param("xxxx", None, 0.3, True, id="no-success-at-all"),
        pytest.param("x..x..x", (0.1, 0.6), 0.2, False, id="window-clips"),
    ],
)
def test_measure_max_success_gap(
    pattern: str, window: tuple[float, float] | None, value: float, at_least: bool
):
    start, end = window if window else (None, None)
    m = measure_max_success_gap(series(pattern), start=start, end=end)
    assert m.value == pytest.approx(value)
    assert m.at_least is at_least


def test_measure_max_success_gap_no_samples_is_unmeasured():
    assert measure_max_success_gap([]).value is None


@pytest.mark.parametrize(
    ("pattern", "window", "count", "ratio"),
    [
        pytest.param("." * 100, None, 0, 0.0, id="none-failed"),
        pytest.param("." * 98 + "xx", None, 2, 0.02, id="two-percent"),
        pytest.param("xx" + "." * 8, (0.2, 0.9), 0, 0.0, id="window-excludes-failures"),
    ],
)
def test_measure_failed_requests(
    pattern: str, window: tuple[float, float] | None, count: int, ratio: float
):
    start, end = window if window else (None, None)
    c, r = measure_failed_requests(series(pattern, probe="http"), start=start, end=end)
    assert (c.name, r.name) == ("failed_requests", "failed_request_ratio")
    assert c.value == count
    assert r.value == pytest.approx(ratio)
    if count:
        assert "HTTP 503 x2" in c.detail


def test_measure_failed_requests_without_traffic_is_unmeasured():
    c, r = measure_failed_requests([])
    assert c.value is None and r.value is None
    assert "no requests" in r.detail
