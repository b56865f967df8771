"""Experiment phases (before, during, recovery, after) and error counts per phase (pure).

Phases come from events on the timeline:

- ``warmup``: only when the steady-state gate skipped failures before the fault: from the start
  of the recording to its ``"baseline"`` event (reported, never judged);
- ``before``: from the start of the recording, or the ``"baseline"`` event, to the fault instant
  (first ``"fault"`` event);
- ``during``: from the fault to the first ``"recovered"`` event after it (the control plane says
  the component is back: new leader, instance ready, ...);
- ``recovery``: from ``recovered`` to the first ``"steady"`` event after it, or ``settle_s`` later
  when there is none (clients reconnecting, pools refilling);
- ``after``: from there to the end of the recording.

A phase whose boundary event is missing extends to the end; empty phases are left out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from hasuite.analysis._util import error_kinds, fmt
from hasuite.model import Event, Measurement, Phase, Sample

__all__ = ["DEFAULT_SETTLE_S", "build_phases", "measure_phase_errors", "unhealthy_baseline"]

#: Length of the recovery phase when no ``"steady"`` event closes it.
DEFAULT_SETTLE_S = 10.0


def _first(events: Sequence[Event], kind: str, *, not_before: float) -> float | None:
    times = sorted(e.at for e in events if e.kind == kind and e.at >= not_before)
    return times[0] if times else None


def build_phases(
    events: Iterable[Event], *, start: float, end: float, settle_s: float = DEFAULT_SETTLE_S
) -> tuple[Phase, ...]:
    """The phases of ``[start, end]`` (``end`` inclusive: the last phase covers it)."""
    if end < start:
        raise ValueError(f"end {end} before start {start}")
    evs = list(events)
    fault = _first(evs, "fault", not_before=start)
    baseline = _first(evs, "baseline", not_before=start)
    bounds: list[tuple[str, float]] = []
    if baseline is not None and baseline <= end and (fault is None or baseline <= fault):
        bounds += [("warmup", start), ("before", baseline)]
    else:
        bounds.append(("before", start))
    if fault is not None and fault <= end:
        bounds.append(("during", fault))
        recovered = _first(evs, "recovered", not_before=fault)
        if recovered is not None and recovered <= end:
            bounds.append(("recovery", recovered))
            steady = _first(evs, "steady", not_before=recovered)
            after = steady if steady is not None else recovered + settle_s
            if after <= end:
                bounds.append(("after", after))
    closing = math.nextafter(end, math.inf)  # make the last phase include ``end``
    phases = []
    for (name, lo), (_, hi) in zip(bounds, [*bounds[1:], ("", closing)], strict=True):
        if hi > lo:
            phases.append(Phase(name=name, start=lo, end=hi))
    return tuple(phases)


def measure_phase_errors(
    samples: Iterable[Sample], phases: Iterable[Phase], *, prefix: str = ""
) -> tuple[Measurement, ...]:
    """Per phase: ``{prefix}errors_{phase}`` (count) and ``{prefix}error_ratio_{phase}`` (ratio).

    A phase without samples gives None values ("no samples in the phase"), never a 0.
    """
    ordered = list(samples)
    out: list[Measurement] = []
    for phase in phases:
        inside = [s for s in ordered if phase.contains(s.at)]
        bad = [s for s in inside if not s.ok]
        failed = len(bad)
        length = fmt(min(phase.end, max((s.at for s in inside), default=phase.end)) - phase.start)
        if not inside:
            why = f"no samples in the {phase.name} phase"
            out.append(
                Measurement(
                    name=f"{prefix}errors_{phase.name}", value=None, unit="count", detail=why
                )
            )
            out.append(
                Measurement(
                    name=f"{prefix}error_ratio_{phase.name}", value=None, unit="ratio", detail=why
                )
            )
            continue
        detail = f"{failed} of {len(inside)} samples failed in the {phase.name} phase (~{length} s)"
        if bad:
            detail += f" ({error_kinds(bad)})"
        out.append(
            Measurement(
                name=f"{prefix}errors_{phase.name}",
                value=float(failed),
                unit="count",
                detail=detail,
            )
        )
        out.append(
            Measurement(
                name=f"{prefix}error_ratio_{phase.name}",
                value=failed / len(inside),
                unit="ratio",
                detail=detail,
            )
        )
    return tuple(out)


#: One failed sample before the fault is tolerated only among at least 50 (2 %).
ISOLATED_FAILURE_RATIO = 0.02


def unhealthy_baseline(measurements: Iterable[Measurement], *, prefix: str = "") -> str | None:
    """Why the stack was not healthy before the fault (requests failed then), or None.

    Reads ``{prefix}errors_before`` from :func:`measure_phase_errors`. A fault injected into a
    stack that is already failing requests cannot be judged: its outage, failed requests and
    even a fast failover may be the earlier trouble's, not the fault's (ERROR, never PASS/FAIL).
    """
    ms = list(measurements)
    before = next((m for m in ms if m.name == f"{prefix}errors_before"), None)
    if before is None or not before.value:
        return None
    ratio = next((m.value for m in ms if m.name == f"{prefix}error_ratio_before"), None)
    if before.value == 1 and ratio is not None and ratio <= ISOLATED_FAILURE_RATIO:
        # one isolated slow answer among many (a loaded 2-core machine): not an outage going
        # on at the fault; two failures, or one in a short baseline, still are
        return None
    return (
        f"the stack was not healthy before the fault: {before.detail}; the fault's effect "
        "cannot be told apart from it"
    )
