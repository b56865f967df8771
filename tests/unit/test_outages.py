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
        # (start, end, duration, failures, open, start_known)
        pytest.param("", [], id="no-samples"),
        pytest.param("......", [], id="never-fails"),
        pytest.param("..x...", [(0.1, 0.3, 0.2, 1, False, True)], id="one-failed-sample"),
        pytest.param("..xxxx..", [(0.1, 0.6, 0.5, 4, False, True)], id="one-outage"),
        pytest.param(
            ".xx..xxx.",
            [(0.0, 0.3, 0.3, 2, False, True), (0.4, 0.8, 0.4, 3, False, True)],
            id="several",
        ),
        pytest.param("..xxx", [(0.1, 0.4, 0.3, 3, True, True)], id="open-at-end"),
        pytest.param("xxx..", [(0.0, 0.3, 0.3, 3, False, False)], id="failure-before-any-success"),
        pytest.param("xxxx", [(0.0, 0.3, 0.3, 4, True, False)], id="never-succeeds"),
        # silence inside an outage counts: last success 0.1 .. first success 1.0
        pytest.param(".._____x.", [(0.1, 0.8, 0.7, 1, False, True)], id="silence-then-failure"),
    ],
)
def test_build_outages(pattern: str, expected: list[tuple[float, float, float, int, bool, bool]]):
    got = build_outages(series(pattern))
    assert [
        (round(o.start, 6), round(o.end, 6), o.duration_s, o.failures, o.open, o.start_known)
        for o in got
    ] == expected


@pytest.mark.parametrize(
    ("last_ok", "first_ok_again", "resolution", "expected"),
    [
        pytest.param(1.0, 31.0, 0.1, 30.0, id="exact-multiple"),
        pytest.param(0.1, 30.1, 0.1, 30.0, id="float-noise-not-rounded-up"),
        pytest.param(1.0, 31.01, 0.1, 30.1, id="rounded-up-never-down"),
        pytest.param(1.0, 3.3, 0.5, 2.5, id="coarse-resolution"),
        pytest.param(1.0, 1.05, 0.1, 0.1, id="shorter-than-resolution"),
    ],
)
def test_outage_duration_is_rounded_up_to_resolution(
    last_ok: float, first_ok_again: float, resolution: float, expected: float
):
    samples = [
        Sample(at=last_ok, wall=0.0, probe="p", ok=True),
        Sample(at=(last_ok + first_ok_again) / 2, wall=0.0, probe="p", ok=False),
        Sample(at=first_ok_again, wall=0.0, probe="p", ok=True),
    ]
    (outage,) = build_outages(samples, resolution_s=resolution)
    assert outage.duration_s == pytest.approx(expected)


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
            1.1,
            False,
            "1 outage(s) after the fault; longest 1.1 s",
            id="outage-before-fault-ignored",
        ),
        pytest.param(
            "........" + "x" * 10 + ".....",
            1.1,
            False,
            "from -0.3 s to 0.8 s after the fault",
            id="outage-spanning-fault",
        ),
        pytest.param(
            "." * 12 + "xx..." + "x" * 20 + "..",
            2.1,
            False,
            "2 outage(s)",
            id="longest-of-several",
        ),
        pytest.param(
            "." * 12 + "x" * 10, 1.0, True, "still failing when the recording ended", id="open"
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
