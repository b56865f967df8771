"""What users saw through one probe: outage windows, time to first success, gaps, failure ratio.

All functions are pure: samples and instants are passed in; nothing reads a clock.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence

from hasuite.analysis._util import error_kinds, fmt, sorted_samples
from hasuite.model import Measurement, Outage, Sample

__all__ = [
    "DEFAULT_RESOLUTION_S",
    "build_outages",
    "measure_failed_requests",
    "measure_max_success_gap",
    "measure_outage",
    "measure_time_to_first_success",
]

#: The probes' default sampling period (10 Hz).
DEFAULT_RESOLUTION_S = 0.1


def _single_probe(samples: Sequence[Sample]) -> str:
    probes = {s.probe for s in samples}
    if len(probes) > 1:
        raise ValueError(f"samples of one probe expected, got {sorted(probes)}")
    return next(iter(probes), "")


def _edge(early: float, late: float, resolution_s: float, *, outer: float) -> float:
    """An outage edge known to lie in ``[early, late]``: the middle when the probes were dense
    there (at most two periods apart), else ``outer``, the side that makes the outage longer:
    a silence of the probes (a stalled recorder, a busy machine) says nothing, so it counts as
    outage, never as service."""
    return (early + late) / 2 if late - early <= 2 * resolution_s + 1e-9 else outer


def build_outages(
    samples: Iterable[Sample], *, resolution_s: float = DEFAULT_RESOLUTION_S
) -> tuple[Outage, ...]:
    """Outage windows of ONE probe, in time order (a sample's ``at`` is when its answer came).

    An outage is bracketed by the last success before a run of failures and the first success
    after it. Its start lies between that last success and the sending of the first failed
    request (``at - latency_s``); its end between the last failure (the service was still down
    when it came back) and the first success. ``duration_s`` puts each edge in the middle of its
    bracket, so the error is at most half a probe period per edge and has no bias, where taking
    the bracket's outer edges over-reported by a period (``hasuite calibrate`` measures it).
    Where the probes were sparse (a bracket wider than two periods) the edge stays on the
    bracket's outer side.
    When the probe failed before any success, the outage starts at the first failure and
    ``start_known`` is False; when the samples end while failing, it ends at the last failure
    and ``open`` is True: either way its duration is a lower bound. ``resolution_s`` (> 0) is the
    probe period; the estimate is rounded to a hundredth of it against float noise.
    """
    if resolution_s <= 0:
        raise ValueError(f"resolution_s must be > 0, got {resolution_s}")
    ordered = sorted_samples(samples)
    probe = _single_probe(ordered)
    outages: list[Outage] = []
    last_success: float | None = None
    failing: list[Sample] = []
    digits = max(0, 2 - math.floor(math.log10(resolution_s)))

    def close(end: float, *, is_open: bool) -> None:
        first_sent = min(s.at - (s.latency_s or 0.0) for s in failing)
        if last_success is None:
            start, began, began_by = failing[0].at, failing[0].at, failing[0].at
        else:
            start, began_by = last_success, max(last_success, first_sent)
            began = _edge(start, began_by, resolution_s, outer=start)
        if is_open:  # a lower bound: from the latest possible start to the last failure
            began, ended = began_by, failing[-1].at
        else:
            ended = _edge(failing[-1].at, end, resolution_s, outer=end)
        outages.append(
            Outage(
                probe=probe,
                start=start,
                end=end,
                first_failure=failing[0].at,
                last_failure=failing[-1].at,
                failures=len(failing),
                duration_s=round(max(ended - began, 0.0), digits),
                open=is_open,
                start_known=last_success is not None,
                errors=tuple(sorted({s.error for s in failing if s.error})),
                lower_s=round(max(failing[-1].at - began_by, 0.0), digits),
                upper_s=round(end - start, digits),
            )
        )

    for sample in ordered:
        if sample.ok:
            if failing:
                close(sample.at, is_open=False)
                failing = []
            last_success = sample.at
        else:
            failing.append(sample)
    if failing:
        close(failing[-1].at, is_open=True)
    return tuple(outages)


def measure_outage(
    samples: Iterable[Sample],
    *,
    fault_at: float | None,
    name: str = "write_outage_s",
    resolution_s: float = DEFAULT_RESOLUTION_S,
) -> Measurement:
    """The longest outage of one probe that is still going on at, or starts after, the fault.

    0 when the probe never failed after the fault. None (could not measure) when there is no fault
    instant or no sample after it. A lower bound (``at_least``) when the longest outage was still
    open at the end of the recording or had no success before it.
    """
    ordered = sorted_samples(samples)
    probe = _single_probe(ordered) or "probe"
    if fault_at is None:
        return Measurement(
            name=name, value=None, unit="s", detail="no fault instant on the timeline"
        )
    after = [s for s in ordered if s.at >= fault_at]
    if not after:
        return Measurement(
            name=name,
            value=None,
            unit="s",
            detail=f"no {probe} samples after the fault (recorder not running?)",
        )
    relevant = [
        o
        for o in build_outages(ordered, resolution_s=resolution_s)
        if o.end > fault_at or (o.open and o.end >= fault_at)
    ]
    if not relevant:
        return Measurement(
            name=name, value=0.0, unit="s", detail=f"{probe}: no failure after the fault"
        )
    worst = max(relevant, key=lambda o: o.duration_s)
    detail = (
        f"{probe}: {len(relevant)} outage(s) after the fault; longest {fmt(worst.duration_s)} s "
        f"(between {fmt(worst.lower_s)} and {fmt(worst.upper_s)} s; {worst.failures} failed "
        f"samples, from {fmt(worst.start - fault_at)} s to {fmt(worst.end - fault_at)} s after "
        "the fault)"
    )
    if worst.errors:
        detail += f"; errors: {', '.join(worst.errors[:3])}"
    at_least = worst.open or not worst.start_known
    if worst.open:
        detail += "; still failing when the recording ended"
    if not worst.start_known:
        detail += "; no success before the failures (start unknown)"
    return Measurement(
        name=name, value=worst.duration_s, unit="s", detail=detail, at_least=at_least
    )


def measure_time_to_first_success(
    samples: Iterable[Sample], *, after: float | None, name: str = "write_first_success_s"
) -> Measurement:
    """Seconds from ``after`` (e.g. the fault instant) to the first successful sample at/after it.

    A lower bound when samples after it exist but none succeeded; None when there are none.
    """
    ordered = sorted_samples(samples)
    probe = _single_probe(ordered) or "probe"
    if after is None:
        return Measurement(
            name=name, value=None, unit="s", detail="no fault instant on the timeline"
        )
    later = [s for s in ordered if s.at >= after]
    if not later:
        return Measurement(name=name, value=None, unit="s", detail=f"no {probe} samples after it")
    for sample in later:
        if sample.ok:
            return Measurement(
                name=name,
                value=sample.at - after,
                unit="s",
                detail=f"{probe}: first success {fmt(sample.at - after)} s after",
            )
    waited = later[-1].at - after
    return Measurement(
        name=name,
        value=waited,
        unit="s",
        detail=f"{probe}: no success in {len(later)} samples over {fmt(waited)} s",
        at_least=True,
    )


def measure_max_success_gap(
    samples: Iterable[Sample],
    *,
    start: float | None = None,
    end: float | None = None,
    name: str = "max_success_gap_s",
) -> Measurement:
    """The longest time in ``[start, end]`` without a successful sample.

    Silence counts: a stretch without any sample is a gap too. The window defaults to the first and
    last sample; its edges count (from ``start`` to the first success, from the last success to
    ``end``). With no success at all in the window the value is the window length, a lower bound.
    """
    ordered = sorted_samples(samples)
    if not ordered:
        return Measurement(name=name, value=None, unit="s", detail="no samples")
    lo = ordered[0].at if start is None else start
    hi = ordered[-1].at if end is None else end
    if hi < lo:
        raise ValueError(f"window end {hi} before start {lo}")
    in_window = [s for s in ordered if lo <= s.at <= hi]
    oks = [s.at for s in in_window if s.ok]
    if not oks:
        return Measurement(
            name=name,
            value=hi - lo,
            unit="s",
            detail=f"no successful sample in the {fmt(hi - lo)} s window",
            at_least=True,
        )
    anchors = [lo, *oks, hi]
    gaps = [(b - a, a) for a, b in itertools.pairwise(anchors)]
    gap, gap_start = max(gaps)
    return Measurement(
        name=name,
        value=gap,
        unit="s",
        detail=(
            f"longest gap {fmt(gap)} s starting {fmt(gap_start - lo)} s into the window "
            f"({len(oks)} successes of {len(in_window)} samples)"
        ),
    )


def measure_failed_requests(
    samples: Iterable[Sample],
    *,
    start: float | None = None,
    end: float | None = None,
    count_name: str = "failed_requests",
    ratio_name: str = "failed_request_ratio",
) -> tuple[Measurement, Measurement]:
    """(failed count, failed ratio) over samples with ``start <= at <= end`` (default: all).

    Both None when the window holds no sample: no traffic means nothing was verified.
    """
    chosen = [
        s for s in samples if (start is None or s.at >= start) and (end is None or s.at <= end)
    ]
    if not chosen:
        why = "no requests recorded in the judged window"
        return (
            Measurement(name=count_name, value=None, unit="count", detail=why),
            Measurement(name=ratio_name, value=None, unit="ratio", detail=why),
        )
    failed = [s for s in chosen if not s.ok]
    top = error_kinds(failed)
    detail = f"{len(failed)} of {len(chosen)} requests failed" + (f" ({top})" if top else "")
    return (
        Measurement(name=count_name, value=float(len(failed)), unit="count", detail=detail),
        Measurement(name=ratio_name, value=len(failed) / len(chosen), unit="ratio", detail=detail),
    )
