"""Verdicts: measurements against a promise's checks (pure).

- PASS: every enforced check holds.
- FAIL: at least one enforced check is violated; the reason lists every violation with numbers
  (``"write outage 34.2 s > 30 s"``) and any check that could not be decided.
- ERROR: no enforced check is violated but at least one could not be decided: its measurement is
  missing, None (the reason carries the measurement's detail) or a lower bound that does not
  settle the comparison. An ERROR never becomes a PASS.
- SKIPPED: the target is not among the promise's targets (the reason says which ones apply), or
  the experiment's fault cannot be made on this machine (the reason says what is missing).

Informational checks (``enforce: false``) are measured and shown in the reason, never decisive.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping

from hasuite.analysis._util import fmt
from hasuite.model import (
    FAULT_CLASSES,
    Check,
    CheckResult,
    Injection,
    Measurement,
    Promise,
    PromiseResult,
    Verdict,
)

__all__ = [
    "aggregate_status",
    "error_result",
    "evaluate_check",
    "fault_words",
    "index_measurements",
    "interrupted_result",
    "judge",
    "judge_all",
    "skipped_result",
]

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    ">=": operator.ge,
    ">": operator.gt,
}
_NEGATED = {"<=": ">", "<": ">=", "==": "!=", ">=": "<", ">": "<="}
_UNITLESS = {"count", "ratio", ""}

# Worst first: the experiment's status is the worst of its promises' verdicts.
_SEVERITY = (Verdict.INTERRUPTED, Verdict.ERROR, Verdict.FAIL, Verdict.PASS, Verdict.SKIPPED)


def index_measurements(measurements: Iterable[Measurement]) -> dict[str, Measurement]:
    """Measurements by name; a name given twice is a programming error (ValueError)."""
    by_name: dict[str, Measurement] = {}
    for m in measurements:
        if m.name in by_name:
            raise ValueError(f"measurement {m.name!r} given twice: {by_name[m.name]} and {m}")
        by_name[m.name] = m
    return by_name


def _with_unit(value: float, unit: str) -> str:
    return fmt(value) if unit in _UNITLESS else f"{fmt(value)} {unit}"


def _settled_by_lower_bound(op: str, value: float, threshold: float, holds: bool) -> bool:
    """With ``value`` only a lower bound, is the comparison's outcome certain anyway?"""
    if op in ("<=", "<"):
        return not holds  # already too big: any larger value is too big as well
    if op in (">=", ">"):
        return holds  # already big enough
    return value > threshold  # "==": anything above the threshold can never equal it


def evaluate_check(check: Check, measurement: Measurement | None) -> CheckResult:
    """One check against its measurement (missing or None -> undecided, ``holds`` None)."""
    label = check.human_label()
    limit = _with_unit(check.threshold, check.unit)
    if measurement is None:
        return CheckResult(
            check=check,
            measured=None,
            holds=None,
            text=f"{label} not measured (no {check.measurement} measurement was produced)",
        )
    if measurement.value is None:
        why = measurement.detail or "no reason given"
        return CheckResult(
            check=check, measured=None, holds=None, text=f"{label} not measured: {why}"
        )
    value = measurement.value
    holds = _OPS[check.comparison](value, check.threshold)
    shown = _with_unit(value, check.unit)
    op = check.comparison if holds else _NEGATED[check.comparison]
    if measurement.at_least:
        shown = f"at least {shown}"
        if not _settled_by_lower_bound(check.comparison, value, check.threshold, holds):
            why = f" ({measurement.detail})" if measurement.detail else ""
            return CheckResult(
                check=check,
                measured=value,
                holds=None,
                text=f"{label} {shown}: cannot tell whether {check.comparison} {limit}{why}",
            )
    return CheckResult(
        check=check, measured=value, holds=holds, text=f"{label} {shown} {op} {limit}"
    )


def fault_words(fault: Injection) -> str:
    """The fault class of ``fault`` as a verdict names it, e.g. ``crash that stays down
    (crash-held-down, 45 s)``."""
    cls = fault.fault_class
    held = f", {fault.held_s:.0f} s" if fault.held_s else ""
    return f"{FAULT_CLASSES.get(cls, cls)} ({cls}{held})"


def judge(
    promise: Promise,
    measurements: Mapping[str, Measurement] | Iterable[Measurement],
    target: str,
    fault: Injection | None = None,
) -> PromiseResult:
    """The verdict on ``promise`` for ``target`` from the experiment's measurements.

    ``fault``: the experiment's fault. Its class is named in the reason, and a promise that
    this class cannot carry (``faults:`` in promises.yaml) is SKIPPED, never judged."""
    if fault is not None and not promise.carried_by(fault.fault_class):
        return _blank(
            promise,
            Verdict.SKIPPED,
            f"the fault was a {fault_words(fault)}, which cannot carry {promise.id} (judged "
            f"on {', '.join(promise.faults)} only)",
        )
    if not promise.applies_to(target):
        return PromiseResult(
            id=promise.id,
            verdict=Verdict.SKIPPED,
            measured=None,
            threshold=None,
            unit="",
            reason=(
                f"{promise.id} applies to target(s) {', '.join(promise.targets)}, not {target}; "
                f"run with --target {promise.targets[0]} to check it"
            ),
        )
    by_name = (
        dict(measurements)
        if isinstance(measurements, Mapping)
        else index_measurements(measurements)
    )
    results = tuple(evaluate_check(c, by_name.get(c.measurement)) for c in promise.checks)
    enforced = [r for r in results if r.check.enforce]
    violated = [r for r in enforced if r.holds is False]
    undecided = [r for r in enforced if r.holds is None]
    reported = [r for r in results if not r.check.enforce]
    deciding: CheckResult | None
    if violated:
        verdict, deciding = Verdict.FAIL, violated[0]
        reason = "; ".join(r.text for r in violated)
        if undecided:
            reason += "; also " + "; ".join(r.text for r in undecided)
    elif undecided:
        verdict, deciding = Verdict.ERROR, undecided[0]
        reason = "could not measure: " + "; ".join(r.text for r in undecided)
    elif enforced:
        verdict, deciding = Verdict.PASS, enforced[0]
        reason = "; ".join(r.text for r in enforced)
    else:
        verdict, deciding = Verdict.ERROR, results[0] if results else None
        reason = f"{promise.id} has no enforced check: nothing to judge"
    if reported:
        reason += "; reported, not enforced: " + "; ".join(r.text for r in reported)
    if fault is not None:
        reason += f"; fault: {fault_words(fault)}"
    return PromiseResult(
        id=promise.id,
        verdict=verdict,
        measured=deciding.measured if deciding else None,
        threshold=deciding.check.threshold if deciding else None,
        unit=deciding.check.unit if deciding else "",
        reason=reason,
        checks=results,
    )


def judge_all(
    promises: Iterable[Promise],
    measurements: Mapping[str, Measurement] | Iterable[Measurement],
    target: str,
    fault: Injection | None = None,
) -> tuple[PromiseResult, ...]:
    """``judge`` for several promises over one set of measurements."""
    by_name = (
        dict(measurements)
        if isinstance(measurements, Mapping)
        else index_measurements(measurements)
    )
    return tuple(judge(p, by_name, target, fault) for p in promises)


def _blank(promise: Promise, verdict: Verdict, reason: str) -> PromiseResult:
    first = promise.checks[0] if promise.checks else None
    return PromiseResult(
        id=promise.id,
        verdict=verdict,
        measured=None,
        threshold=first.threshold if first else None,
        unit=first.unit if first else "",
        reason=reason,
    )


def error_result(promise: Promise, reason: str) -> PromiseResult:
    """ERROR without measurements, e.g. "stack unhealthy before the fault"."""
    return _blank(promise, Verdict.ERROR, reason)


def interrupted_result(promise: Promise, reason: str = "run interrupted") -> PromiseResult:
    """INTERRUPTED: the run stopped (Ctrl-C) before the promise could be judged."""
    return _blank(promise, Verdict.INTERRUPTED, reason)


def skipped_result(promise: Promise, reason: str) -> PromiseResult:
    """SKIPPED: the experiment's fault cannot be made here (the reason says what would make it
    possible); nothing was injected, so nothing is judged."""
    return _blank(promise, Verdict.SKIPPED, reason)


def aggregate_status(results: Iterable[PromiseResult]) -> Verdict:
    """An experiment's status: the worst verdict of its promises.

    Order, worst first: INTERRUPTED, ERROR, FAIL, PASS, SKIPPED. ERROR ranks above FAIL because an
    experiment that could not measure something is not trustworthy as a whole. No results at all is
    ERROR (an experiment that judged nothing proved nothing); all SKIPPED is SKIPPED.
    """
    verdicts = {r.verdict for r in results}
    if not verdicts:
        return Verdict.ERROR
    return next(v for v in _SEVERITY if v in verdicts)
