"""What users under load saw, phase by phase, and whether the load was the load asked for (pure).

Input: the load generator's samples (``probe="http"``, one per request, ``at`` = when the request
completed) and the experiment's phases (``hasuite.analysis.build_phases``). Output: plain frozen
records (:class:`PhaseLoadStats`, :class:`LoadAdequacy`) and :class:`Measurement` records.

Latency percentiles are nearest-rank over every request that has a latency, failed ones included
(a user waiting 5 s for a 503 waited 5 s): p95 is the smallest latency such that at least 95 % of
the requests were no slower. Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace

from hasuite.analysis._util import fmt, sorted_samples
from hasuite.analysis.outages import measure_max_success_gap
from hasuite.analysis.phases import DEFAULT_SETTLE_S, build_phases
from hasuite.model import Measurement, Phase, PromiseResult, Sample, Timeline

__all__ = [
    "ADEQUACY_ALPHA",
    "DEFAULT_MIN_RATIO",
    "LOAD_PROBE",
    "LoadAdequacy",
    "PhaseLoadStats",
    "build_load_adequacy",
    "build_load_stats",
    "build_timeline_load_stats",
    "measure_load_adequacy",
    "measure_phase_load",
    "note_load_adequacy",
    "percentile",
    "poisson_cdf",
]

#: The probe name of load requests on the timeline.
LOAD_PROBE = "http"

#: Achieved / asked request rate under which a promise counts as judged under less load.
DEFAULT_MIN_RATIO = 0.9


@dataclass(frozen=True, slots=True, kw_only=True)
class PhaseLoadStats:
    """Load requests in one phase ``[start, end)``.

    ``failure_rate``, ``rate_rps`` and the percentiles are None when the phase holds no request;
    ``max_success_gap_s`` is the longest stretch of the phase without a successful request
    (silence counts; a lower bound, ``gap_at_least``, when no request succeeded in the phase).
    ``failures_by_kind`` is ``(kind, count)`` pairs, most frequent first.
    """

    phase: str
    start: float
    end: float
    requests: int
    failures: int
    failure_rate: float | None
    rate_rps: float | None
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    max_success_gap_s: float | None
    gap_at_least: bool = False
    failures_by_kind: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadAdequacy:
    """Achieved against asked request rate over a window.

    ``adequate`` is True when ``ratio >= min_ratio``, False when below, None when it cannot be
    told (no asked rate, empty window). ``text`` is the sentence for a report or a verdict.
    """

    asked_rps: float | None
    achieved_rps: float | None
    ratio: float | None
    requests: int
    window_s: float
    min_ratio: float
    adequate: bool | None
    text: str


def percentile(values: Iterable[float], q: float) -> float | None:
    """Nearest-rank percentile ``q`` (0 < q <= 100) of ``values``; None when there is none."""
    if not 0 < q <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {q}")
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(math.ceil(q / 100 * len(ordered) - 1e-9), 1)
    return ordered[rank - 1]


def _kinds(samples: Iterable[Sample]) -> tuple[tuple[str, int], ...]:
    counts: dict[str, int] = {}
    for s in samples:
        if not s.ok:
            kind = s.error or "unknown"
            counts[kind] = counts.get(kind, 0) + 1
    return tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def build_load_stats(
    samples: Iterable[Sample], phases: Iterable[Phase]
) -> tuple[PhaseLoadStats, ...]:
    """One :class:`PhaseLoadStats` per phase, in the phases' order (samples of ONE probe)."""
    ordered = sorted_samples(samples)
    out = []
    for phase in phases:
        inside = [s for s in ordered if phase.contains(s.at)]
        failures = sum(1 for s in inside if not s.ok)
        latencies = [s.latency_s for s in inside if s.latency_s is not None]
        length = phase.end - phase.start
        gap = measure_max_success_gap(inside, start=phase.start, end=phase.end) if inside else None
        out.append(
            PhaseLoadStats(
                phase=phase.name,
                start=phase.start,
                end=phase.end,
                requests=len(inside),
                failures=failures,
                failure_rate=failures / len(inside) if inside else None,
                rate_rps=len(inside) / length if inside and length > 0 else None,
                p50_s=percentile(latencies, 50),
                p95_s=percentile(latencies, 95),
                p99_s=percentile(latencies, 99),
                max_success_gap_s=gap.value if gap is not None else None,
                gap_at_least=gap.at_least if gap is not None else False,
                failures_by_kind=_kinds(inside),
            )
        )
    return tuple(out)


def build_timeline_load_stats(
    timeline: Timeline, *, probe: str = LOAD_PROBE, settle_s: float = DEFAULT_SETTLE_S
) -> tuple[PhaseLoadStats, ...]:
    """Per-phase stats of ``probe`` over the timeline's span and phases (empty without samples)."""
    span = timeline.span()
    samples = timeline.for_probe(probe)
    if span is None or not samples:
        return ()
    phases = build_phases(timeline.events, start=span[0], end=span[1], settle_s=settle_s)
    return build_load_stats(samples, phases)


def measure_phase_load(
    stats: Iterable[PhaseLoadStats], *, prefix: str = "load_"
) -> tuple[Measurement, ...]:
    """Measurements per phase P: ``{prefix}requests_P``, ``{prefix}failures_P`` (count),
    ``{prefix}failure_ratio_P`` (ratio), ``{prefix}p50_s_P``/``p95_s_P``/``p99_s_P`` and
    ``{prefix}max_success_gap_s_P`` (s). A phase without requests gives None values, never 0."""
    out: list[Measurement] = []
    for st in stats:
        kinds = ", ".join(f"{k} x{n}" for k, n in st.failures_by_kind[:3])
        if st.requests == 0:
            detail = f"no load requests in the {st.phase} phase"
        else:
            detail = f"{st.failures} of {st.requests} requests failed in the {st.phase} phase" + (
                f" ({kinds})" if kinds else ""
            )
        values: tuple[tuple[str, float | None, str, bool], ...] = (
            ("requests", float(st.requests), "count", False),
            ("failures", float(st.failures), "count", False),
            ("failure_ratio", st.failure_rate, "ratio", False),
            ("p50_s", st.p50_s, "s", False),
            ("p95_s", st.p95_s, "s", False),
            ("p99_s", st.p99_s, "s", False),
            ("max_success_gap_s", st.max_success_gap_s, "s", st.gap_at_least),
        )
        for name, value, unit, at_least in values:
            out.append(
                Measurement(
                    name=f"{prefix}{name}_{st.phase}",
                    value=None if st.requests == 0 else value,
                    unit=unit,
                    detail=detail,
                    at_least=at_least,
                )
            )
    return tuple(out)


#: Significance below which a request count is "less load than asked" (one-sided).
ADEQUACY_ALPHA = 0.01


def poisson_cdf(k: int, lam: float) -> float:
    """P(N <= k) for N ~ Poisson(lam) (stdlib only; exact summation in log space)."""
    if k < 0:
        return 0.0
    if lam <= 0:
        return 1.0
    total = 0.0
    log_term = -lam  # log P(N = 0)
    for i in range(k + 1):
        if i:
            log_term += math.log(lam) - math.log(i)
        total += math.exp(log_term)
    return min(total, 1.0)


# size: one calculation with its documented cases (no rate asked, empty window,
# the Poisson bound); splitting it would hide the order they are decided in.
def build_load_adequacy(
    samples: Iterable[Sample],
    *,
    asked_rps: float | None,
    start: float,
    end: float,
    min_ratio: float = DEFAULT_MIN_RATIO,
    exclude: tuple[float, float] | None = None,
) -> LoadAdequacy:
    """Requests completed in ``[start, end]`` per second against ``asked_rps``.

    Choose the window after the ramp-up (all users spawned) and before the stop. Failed requests
    count: they are load the stack received (or refused). ``exclude`` (fault -> recovered) is
    left out of both the count and the window: while the stack is down, people-like users wait
    on timeouts and the rate falls because of the stack, not the load generator.
    """
    if end < start:
        raise ValueError(f"window end {end} before start {start}")
    if not 0 < min_ratio <= 1:
        raise ValueError(f"min_ratio must be in (0, 1], got {min_ratio}")
    window = end - start
    inside = [s for s in samples if start <= s.at <= end]
    where = ""
    if exclude is not None and exclude[1] > exclude[0]:
        lo, hi = max(exclude[0], start), min(exclude[1], end)
        if hi > lo:
            window -= hi - lo
            inside = [s for s in inside if not lo < s.at < hi]
            where = ", outside the fault window"
    n = len(inside)
    achieved = n / window if window > 0 else None
    if asked_rps is None or asked_rps <= 0:
        text = "no asked request rate: load adequacy not judged"
        return LoadAdequacy(
            asked_rps=asked_rps,
            achieved_rps=achieved,
            ratio=None,
            requests=n,
            window_s=window,
            min_ratio=min_ratio,
            adequate=None,
            text=text,
        )
    if achieved is None:
        return LoadAdequacy(
            asked_rps=asked_rps,
            achieved_rps=None,
            ratio=None,
            requests=n,
            window_s=window,
            min_ratio=min_ratio,
            adequate=None,
            text=f"empty load window: cannot tell whether {fmt(asked_rps)} req/s were reached",
        )
    ratio = achieved / asked_rps
    # A short window (postgres-leader-kill leaves ~3 s outside the fault) holds a few dozen
    # requests, and the ratio swings by chance. Call the load short only when the count is
    # significantly below what min_ratio asks: P(N <= n) < ADEQUACY_ALPHA for a Poisson count
    # at min_ratio x asked (a paced generator varies less than Poisson: this errs towards
    # "adequate" only within chance, and a long window decides on the ratio alone).
    p_value = poisson_cdf(n, min_ratio * asked_rps * window)
    adequate = ratio >= min_ratio or p_value >= ADEQUACY_ALPHA
    text = (
        f"load {fmt(achieved)} of {fmt(asked_rps)} req/s asked ({fmt(ratio * 100)} %, "
        f"{n} requests in {fmt(window)} s{where})"
    )
    if ratio < min_ratio:
        verdict = "judged under less load than asked" if not adequate else "within chance of"
        text += (
            f": {verdict} {fmt(min_ratio * 100)} % (P(N <= {n}) = {p_value:.2g} at "
            f"{fmt(min_ratio * 100)} %; short below {ADEQUACY_ALPHA:g})"
        )
    return LoadAdequacy(
        asked_rps=asked_rps,
        achieved_rps=achieved,
        ratio=ratio,
        requests=n,
        window_s=window,
        min_ratio=min_ratio,
        adequate=adequate,
        text=text,
    )


def measure_load_adequacy(adequacy: LoadAdequacy) -> Measurement:
    """``load_achieved_ratio``: achieved / asked request rate (None when it cannot be told)."""
    return Measurement(
        name="load_achieved_ratio", value=adequacy.ratio, unit="ratio", detail=adequacy.text
    )


def note_load_adequacy(result: PromiseResult, adequacy: LoadAdequacy) -> PromiseResult:
    """The result with the load caveat appended to its reason when the load was not adequate.

    The verdict is kept: a PASS under too little load is still a PASS of what was measured, but
    the reason says it was judged under less load than asked (or that it cannot be told).
    """
    if adequacy.adequate is True:
        return result
    return replace(result, reason=f"{result.reason}; {adequacy.text}")
