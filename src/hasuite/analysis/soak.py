"""A soak (pure): the same experiment N times on one lab; does anything grow or drift?

After every run the soak samples, for hasuite's own process and for the lab's processes: open
file descriptors, processes (hasuite: its children and threads) and resident memory. And it
keeps the run's measurements. :func:`judge_soak` then asks of each series:

- **growth**: a leak grows with every run, noise goes up and down. A series grows when its
  last third is above its first third by more than the tolerance *and* it rose in most steps
  (a one-off jump, such as a cache filled on the second run, is not a leak). The tolerances are
  per resource: hasuite's file descriptors +3 (a pooled connection or a log file that opened;
  one descriptor leaked per run passes it within ten runs), the lab's +10 and 5 % (Postgres
  backends and pooled connections come and go), processes +2, memory +20 % (the allocator keeps
  freed memory; a leak of one experiment's data per run passes 20 % within ten runs).
- **drift** of a measurement (the outage, the ready time): the median of the second half against
  the median of the first half, beyond the larger of ``drift_floor`` and the first half's own
  spread. An outage that creeps up run after run drifts; one that scatters does not.

Fewer than 4 runs decide nothing: the verdict is ERROR, not PASS.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hasuite.model import Verdict

__all__ = ["GROWTH_TOLERANCE", "SoakJudgement", "SoakSample", "judge_soak"]

#: The growth tolerated from the first third to the last: (absolute, relative to the start).
GROWTH_TOLERANCE: dict[str, tuple[float, float]] = {
    "hasuite_fds": (3, 0.0),
    "hasuite_children": (2, 0.0),
    "hasuite_threads": (2, 0.0),
    "hasuite_rss_mib": (0, 0.20),
    "lab_processes": (2, 0.0),
    "lab_fds": (10, 0.05),
    "lab_rss_mib": (0, 0.20),
}
MIN_RUNS = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class SoakSample:
    """What one run left: resources after it, its verdict and its measurements."""

    run: int
    resources: Mapping[str, float]
    verdict: str
    measurements: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class SoakJudgement:
    verdict: Verdict
    findings: tuple[str, ...]  # what grew or drifted (empty: nothing)
    notes: tuple[str, ...]  # each series, in words
    unknown: tuple[str, ...] = ()  # what could not be judged (ERROR when nothing failed)


def _thirds(values: Sequence[float]) -> tuple[float, float]:
    k = max(len(values) // 3, 1)
    return max(values[:k]), min(values[-k:])


def _grows(name: str, values: Sequence[float]) -> tuple[bool, str]:
    absolute, relative = GROWTH_TOLERANCE.get(name, (0, 0.10))
    first, last = _thirds(values)
    allowed = max(absolute, relative * abs(values[0]))
    rises = sum(b > a for a, b in itertools.pairwise(values))
    steps = len(values) - 1
    grew = last - first > allowed and rises * 2 > steps
    text = (
        f"{name}: {values[0]:g} -> {values[-1]:g} (last third's low {last:g} vs first third's "
        f"high {first:g}, allowed +{allowed:g}; rose in {rises} of {steps} steps)"
    )
    return grew, text


def _drifts(name: str, values: Sequence[float], floor: float) -> tuple[bool, str]:
    half = len(values) // 2
    early, late = values[:half], values[-half:]
    spread = max(early) - min(early)
    bound = max(floor, spread)
    delta = statistics.median(late) - statistics.median(early)
    text = (
        f"{name}: median {statistics.median(early):.3g} -> {statistics.median(late):.3g} "
        f"(moved {delta:+.3g}, allowed {bound:.3g}: the first half's spread or {floor:g})"
    )
    return abs(delta) > bound, text


def judge_soak(
    samples: Sequence[SoakSample],
    *,
    drift_of: Sequence[str],
    drift_floor: Mapping[str, float] | None = None,
) -> SoakJudgement:
    """PASS when no resource grows and no measurement in ``drift_of`` drifts over the runs."""
    if len(samples) < MIN_RUNS:
        return SoakJudgement(
            verdict=Verdict.ERROR,
            findings=(),
            notes=(),
            unknown=(f"{len(samples)} run(s): a soak needs at least {MIN_RUNS} to tell a trend",),
        )
    ordered = sorted(samples, key=lambda s: s.run)
    findings: list[str] = []
    notes: list[str] = []
    unknown: list[str] = []
    for name in sorted({k for s in ordered for k in s.resources}):
        values = [s.resources[name] for s in ordered if name in s.resources]
        if len(values) < MIN_RUNS:
            continue
        grew, text = _grows(name, values)
        notes.append(text)
        if grew:
            findings.append(f"grows: {text}")
    for name in drift_of:
        values = [s.measurements[name] for s in ordered if name in s.measurements]
        if len(values) < MIN_RUNS:
            unknown.append(f"{name}: measured in {len(values)} of {len(ordered)} runs")
            continue
        drifted, text = _drifts(name, values, (drift_floor or {}).get(name, 0.5))
        notes.append(text)
        if drifted:
            findings.append(f"drifts: {text}")
    verdicts = [s.verdict for s in ordered]
    notes.append(
        "verdicts: " + ", ".join(f"{v} x{verdicts.count(v)}" for v in sorted(set(verdicts)))
    )
    bad = [s.run for s in ordered if s.verdict not in (Verdict.PASS.value, Verdict.FAIL.value)]
    if bad:
        unknown.append(f"run(s) {bad} ended without a verdict (ERROR or INTERRUPTED)")
    verdict = Verdict.FAIL if findings else Verdict.ERROR if unknown else Verdict.PASS
    return SoakJudgement(
        verdict=verdict, findings=tuple(findings), notes=tuple(notes), unknown=tuple(unknown)
    )
