"""One experiment's verdicts from its measurements and what happened around them (pure).

:func:`~hasuite.analysis.verdict.judge_all` compares numbers with thresholds; this module decides
when those numbers may be trusted at all: an interrupted run, a recording error, no fault
injected, or a stack that failed users' requests before the fault turn PASS (and FAIL) into
ERROR with both reasons.
"""

from __future__ import annotations

from collections.abc import Sequence

from hasuite.analysis.load import LoadAdequacy, note_load_adequacy
from hasuite.analysis.phases import unhealthy_baseline
from hasuite.analysis.verdict import error_result, interrupted_result, judge_all, skipped_result
from hasuite.model import Injection, Measurement, Promise, PromiseResult, Verdict

__all__ = ["downgrade", "judge_experiment"]


def downgrade(result: PromiseResult, reason: str) -> PromiseResult:
    """A verdict that cannot be trusted (a recording error, an unhealthy baseline): ERROR with
    both reasons."""
    return PromiseResult(
        id=result.id,
        verdict=Verdict.ERROR,
        measured=result.measured,
        threshold=result.threshold,
        unit=result.unit,
        reason=f"{reason}; measured: {result.reason}",
        checks=result.checks,
    )


def judge_experiment(
    promises: Sequence[Promise],
    measurements: Sequence[Measurement],
    *,
    target: str,
    errors: Sequence[str],
    injected: bool,
    fault_expected: bool,
    interrupted: bool,
    adequacy: LoadAdequacy | None,
    skipped: str | None = None,
    fault: Injection | None = None,
) -> tuple[str, tuple[PromiseResult, ...]]:
    """(the experiment's reason, one result per promise).

    ``skipped``: the fault could not be made on this target or machine (the action said why and
    injected nothing): every promise is SKIPPED with that reason, unless the run was
    interrupted or the fault went in after all (then it is judged). ``fault``: the first
    injection, whose class every verdict names (and which some promises cannot be judged on)."""
    if interrupted:
        reason = "run interrupted (Ctrl-C or signal) before the experiment completed"
        return reason, tuple(interrupted_result(p, reason) for p in promises)
    if skipped is not None and not injected:
        return skipped, tuple(skipped_result(p, skipped) for p in promises)
    if errors and not injected:
        reason = "; ".join(errors)
        return reason, tuple(error_result(p, reason) for p in promises)
    if not injected and fault_expected:
        reason = "no fault was injected (the method did not run or its action failed)"
        return reason, tuple(error_result(p, reason) for p in promises)
    reason = "; ".join(errors)
    results = judge_all(promises, measurements, target, fault)
    if adequacy is not None:
        results = tuple(note_load_adequacy(r, adequacy) for r in results)
    if errors:
        results = tuple(downgrade(r, reason) if r.verdict == Verdict.PASS else r for r in results)
    baseline = unhealthy_baseline(measurements) if fault_expected else None
    if baseline:
        # Neither PASS nor FAIL can be trusted: the numbers mix the fault with the earlier
        # trouble (the stack was unhealthy before the fault: ERROR).
        reason = "; ".join((*errors, baseline))
        results = tuple(
            downgrade(r, baseline) if r.verdict in (Verdict.PASS, Verdict.FAIL) else r
            for r in results
        )
    return reason, results
