"""Pure, table-driven tests of hasuite.analysis.load (no I/O, no clock, times passed in)."""

from __future__ import annotations

import pytest

from hasuite.analysis import build_phases
from hasuite.analysis.load import (
    LoadAdequacy,
    build_load_adequacy,
    build_load_stats,
    build_timeline_load_stats,
    measure_load_adequacy,
    measure_phase_load,
    note_load_adequacy,
    percentile,
    poisson_cdf,
)
from hasuite.model import Event, Phase, PromiseResult, Sample, Timeline, Verdict

WALL0 = 1_800_000_000.0


def reqs(pattern: str, *, start: float = 0.0, step: float = 0.1) -> list[Sample]:
    """``.`` ok (latency 0.01), ``s`` ok but slow (1 s), ``x`` 503, ``t`` timeout, ``_`` none."""
    kinds = {".": (True, 0.01, None), "s": (True, 1.0, None), "x": (False, 0.02, "http-503")}
    kinds["t"] = (False, 5.0, "timeout")
    out = []
    for i, ch in enumerate(pattern):
        if ch == "_":
            continue
        ok, latency, error = kinds[ch]
        at = round(start + i * step, 9)
        out.append(
            Sample(at=at, wall=WALL0 + at, probe="http", ok=ok, latency_s=latency, error=error)
        )
    return out


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 50, None),
        ([7.0], 99, 7.0),
        ([3.0, 1.0, 2.0], 50, 2.0),
        ([float(i) for i in range(1, 101)], 50, 50.0),
        ([float(i) for i in range(1, 101)], 95, 95.0),
        ([float(i) for i in range(1, 101)], 99, 99.0),
        ([float(i) for i in range(1, 101)], 100, 100.0),
        ([1.0] * 98 + [9.0, 10.0], 99, 9.0),
        ([1.0] * 98 + [9.0, 10.0], 95, 1.0),
    ],
)
def test_percentile_nearest_rank(values: list[float], q: float, expected: float | None) -> None:
    assert percentile(values, q) == expected


@pytest.mark.parametrize("q", [0, -1, 101])
def test_percentile_rejects_bad_q(q: float) -> None:
    with pytest.raises(ValueError, match="percentile"):
        percentile([1.0], q)


PHASES = (
    Phase(name="before", start=0.0, end=1.0),
    Phase(name="during", start=1.0, end=2.0),
    Phase(name="recovery", start=2.0, end=3.0),
    Phase(name="after", start=3.0, end=4.0),
)
#            before     during     recovery   after
PATTERN = "..........xxxxxtt___" + "s........." + ".........."


@pytest.mark.parametrize(
    ("phase", "requests", "failures", "p50", "p99", "gap", "gap_at_least", "kinds"),
    [
        ("before", 10, 0, 0.01, 0.01, 0.1, False, ()),
        ("during", 7, 7, 0.02, 5.0, 1.0, True, (("http-503", 5), ("timeout", 2))),
        ("recovery", 10, 0, 0.01, 1.0, 0.1, False, ()),
        ("after", 10, 0, 0.01, 0.01, 0.1, False, ()),
    ],
)
def test_phase_stats(
    phase: str,
    requests: int,
    failures: int,
    p50: float,
    p99: float,
    gap: float,
    gap_at_least: bool,
    kinds: tuple[tuple[str, int], ...],
) -> None:
    stats = {s.phase: s for s in build_load_stats(reqs(PATTERN), PHASES)}
    st = stats[phase]
    assert (st.requests, st.failures) == (requests, failures)
    assert st.failure_rate == pytest.approx(failures / requests)
    assert st.rate_rps == pytest.approx(requests / 1.0)
    assert st.p50_s == pytest.approx(p50)
    assert st.p99_s == pytest.approx(p99)
    assert st.max_success_gap_s == pytest.approx(gap)
    assert st.gap_at_least is gap_at_least
    assert st.failures_by_kind == kinds


def test_phase_stats_keep_phase_order_and_gap_counts_silence() -> None:
    # successes at 0.0 and 0.1, then silence until 0.9: the gap is 0.8 s
    samples = reqs(".._______.")
    [st] = build_load_stats(samples, [Phase(name="before", start=0.0, end=1.0)])
    assert st.max_success_gap_s == pytest.approx(0.8)
    names = [s.phase for s in build_load_stats(reqs(PATTERN), PHASES)]
    assert names == ["before", "during", "recovery", "after"]


def test_empty_phase_gives_none_never_zero() -> None:
    stats = build_load_stats(reqs(".........."), PHASES)
    during = stats[1]
    assert during.requests == 0
    assert (during.failure_rate, during.p50_s, during.max_success_gap_s) == (None, None, None)
    by_name = {m.name: m for m in measure_phase_load(stats)}
    assert by_name["load_failures_during"].value is None
    assert "no load requests" in by_name["load_failures_during"].detail
    assert by_name["load_failures_before"].value == 0.0
    assert by_name["load_requests_before"].value == 10.0


def test_phase_measurements_carry_numbers_and_lower_bounds() -> None:
    by_name = {m.name: m for m in measure_phase_load(build_load_stats(reqs(PATTERN), PHASES))}
    assert len(by_name) == 4 * 7
    m = by_name["load_failure_ratio_during"]
    assert (m.value, m.unit) == (1.0, "ratio")
    assert "7 of 7 requests failed" in m.detail and "http-503 x5" in m.detail
    assert by_name["load_max_success_gap_s_during"].at_least is True
    assert by_name["load_p99_s_during"].value == 5.0
    assert by_name["load_p99_s_before"].unit == "s"


def test_timeline_stats_use_the_fault_and_recovery_events() -> None:
    samples = reqs(PATTERN)
    events = (
        Event(at=1.0, wall=WALL0 + 1, kind="fault"),
        Event(at=2.0, wall=WALL0 + 2, kind="recovered"),
    )
    timeline = Timeline(samples=tuple(samples), events=events)
    stats = build_timeline_load_stats(timeline, settle_s=1.0)
    assert [s.phase for s in stats] == ["before", "during", "recovery", "after"]
    assert [s.failures for s in stats] == [0, 7, 0, 0]
    phases = build_phases(events, start=0.0, end=samples[-1].at, settle_s=1.0)
    assert stats == build_load_stats(samples, phases)
    assert build_timeline_load_stats(Timeline()) == ()


@pytest.mark.parametrize(
    ("n", "asked", "window", "min_ratio", "ratio", "adequate", "says"),
    [
        (100, 20.0, 5.0, 0.9, 1.0, True, "20 of 20 req/s asked (100 %"),
        (90, 20.0, 5.0, 0.9, 0.9, True, "18 of 20 req/s"),
        # 85 of the 90 that 90 % asks, in 5 s: within chance, not "less load"
        (85, 20.0, 5.0, 0.9, 0.85, True, "within chance of 90 %"),
        # the same ratio over 120 s is a real shortfall
        (2040, 20.0, 120.0, 0.9, 0.85, False, "judged under less load than asked 90 %"),
        (10, 20.0, 5.0, 0.5, 0.1, False, "less load than asked 50 %"),
        (50, None, 5.0, 0.9, None, None, "no asked request rate"),
        (0, 20.0, 0.0, 0.9, None, None, "empty load window"),
    ],
)
def test_load_adequacy(
    n: int,
    asked: float | None,
    window: float,
    min_ratio: float,
    ratio: float | None,
    adequate: bool | None,
    says: str,
) -> None:
    step = window / n if n else 1.0
    samples = [
        Sample(at=10.0 + i * step, wall=WALL0, probe="http", ok=i % 2 == 0) for i in range(n)
    ]
    noise = [Sample(at=9.0, wall=WALL0, probe="http", ok=True)]  # before the window
    ad = build_load_adequacy(
        [*noise, *samples], asked_rps=asked, start=10.0, end=10.0 + window, min_ratio=min_ratio
    )
    assert ad.requests == (n if window else 0)
    assert ad.adequate is adequate
    assert (ad.ratio is None) is (ratio is None)
    if ratio is not None:
        assert ad.ratio == pytest.approx(ratio)
    assert says in ad.text
    m = measure_load_adequacy(ad)
    assert (m.name, m.unit, m.value) == ("load_achieved_ratio", "ratio", ad.ratio)


def test_load_adequacy_leaves_the_fault_window_out() -> None:
    # 10 req/s for 10 s, then nothing for 20 s (the stack is down), then 10 req/s for 10 s.
    at = [i * 0.1 for i in range(100)] + [30.0 + i * 0.1 for i in range(100)]
    samples = [Sample(at=a, wall=WALL0, probe="http", ok=True) for a in at]
    whole = build_load_adequacy(samples, asked_rps=10.0, start=0.0, end=40.0)
    assert whole.ratio == pytest.approx(0.5) and whole.adequate is False
    outside = build_load_adequacy(
        samples, asked_rps=10.0, start=0.0, end=40.0, exclude=(10.0, 30.0)
    )
    assert outside.window_s == pytest.approx(20.0)
    assert outside.ratio == pytest.approx(1.0) and outside.adequate is True
    assert "outside the fault window" in outside.text
    # a generator that is really too slow is still caught outside the fault window
    slow = [s for i, s in enumerate(samples) if i % 2 == 0]
    assert (
        build_load_adequacy(
            slow, asked_rps=10.0, start=0.0, end=40.0, exclude=(10.0, 30.0)
        ).adequate
        is False
    )


@pytest.mark.parametrize(("start", "end", "min_ratio"), [(2.0, 1.0, 0.9), (0.0, 1.0, 0.0)])
def test_load_adequacy_rejects_bad_input(start: float, end: float, min_ratio: float) -> None:
    with pytest.raises(ValueError):
        build_load_adequacy([], asked_rps=1.0, start=start, end=end, min_ratio=min_ratio)


def _adequacy(adequate: bool | None) -> LoadAdequacy:
    return LoadAdequacy(
        asked_rps=50.0,
        achieved_rps=30.0,
        ratio=0.6,
        requests=300,
        window_s=10.0,
        min_ratio=0.9,
        adequate=adequate,
        text="load 30 of 50 req/s asked (60 %): judged under less load than asked (< 90 %)",
    )


@pytest.mark.parametrize(("adequate", "noted"), [(True, False), (False, True), (None, True)])
def test_note_load_adequacy(adequate: bool | None, noted: bool) -> None:
    result = PromiseResult(
        id="PG-FAILOVER",
        verdict=Verdict.PASS,
        measured=12.0,
        threshold=30.0,
        unit="s",
        reason="write outage 12 s <= 30 s",
    )
    out = note_load_adequacy(result, _adequacy(adequate))
    assert out.verdict is Verdict.PASS
    assert ("judged under less load than asked" in out.reason) is noted
    assert out.reason.startswith("write outage 12 s <= 30 s")


def test_a_steady_generator_is_adequate_in_every_short_window() -> None:
    """A generator paced at the asked rate with latency jitter, judged over the ~3 s that
    postgres-leader-kill leaves outside the fault: every window is adequate (the old plain
    ratio said "less load" in some); the same windows at half the rate are not."""
    import random

    rng = random.Random(7)
    asked = 10.0

    def windows(rate: float) -> list[bool | None]:
        out = []
        for w in range(40):
            start = 100.0 * w
            at = start - 1.0
            samples = []
            while at < start + 4.0:
                at += (1.0 / rate) * rng.uniform(0.6, 1.4)  # latency jitter around the pace
                samples.append(Sample(at=at, wall=WALL0, probe="http", ok=True))
            ad = build_load_adequacy(samples, asked_rps=asked, start=start, end=start + 3.0)
            out.append(ad.adequate)
        return out

    assert all(windows(asked))
    assert not any(windows(asked / 2 * 0.8))  # 40 % of asked: short even in 3 s
    assert poisson_cdf(26, 27.0) > 0.4 and poisson_cdf(5, 27.0) < 1e-5
