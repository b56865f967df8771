"""A verdict in words, shared by the terminal and the Markdown summary: the reason without the
recommendation the session appends to it, the measured value against its threshold, the fix."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hasuite.runfolder import PromiseRecord, RunData

__all__ = ["VerdictRow", "number", "plain_reason", "tally", "verdict_rows"]


def number(value: Any, unit: str = "") -> str:
    """``28.0 s``, ``68 count``, ``0.125``; ``-`` when not measured."""
    if value is None:
        return "-"
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return f"{text} {unit}" if unit else text


def plain_reason(p: PromiseRecord) -> str:
    """The reason on one line, without the ``; recommended: ...`` the session appends to a FAIL's
    reason (the fix is shown on its own)."""
    reason = " ".join(p.reason.split())
    if p.recommendation:
        fix = " ".join(p.recommendation.split())
        reason = reason.removesuffix(f"recommended: {fix}").rstrip("; ")
    return reason


@dataclass(frozen=True)
class VerdictRow:
    """One promise of one experiment (``promise`` is ``-`` for an experiment without any)."""

    experiment: str
    promise: str
    verdict: str
    measured: str
    threshold: str
    #: what was measured against what was promised, in the checks' words
    reason: str
    fix: str

    @property
    def line(self) -> str:
        """``django-rollout ROLLOUT FAIL | failed requests 68 != 0 | fix: ...``."""
        what = self.reason
        if not what and self.measured != "-":
            what = f"measured {self.measured} against {self.threshold}"
        parts = [f"{self.experiment} {self.promise} {self.verdict}"]
        parts += [what] if what else []
        parts += [f"fix: {self.fix}"] if self.fix else []
        return " | ".join(parts)


def verdict_rows(run: RunData) -> Iterator[VerdictRow]:
    for exp in run.experiments:
        if not exp.promises:
            reason = " ".join(exp.reason.split())
            yield VerdictRow(exp.name, "-", exp.status, "-", "-", reason, "")
        for p in exp.promises:
            yield VerdictRow(
                experiment=exp.name,
                promise=p.id,
                verdict=p.verdict,
                measured=number(p.measured, p.unit if p.measured is not None else ""),
                threshold=number(p.threshold, p.unit if p.threshold is not None else ""),
                reason=plain_reason(p),
                fix=p.recommendation or "",
            )


def tally(run: RunData) -> str:
    """``1 FAIL, 2 PASS`` (promises by verdict), or ``no promise``."""
    counts = Counter(p.verdict for exp in run.experiments for p in exp.promises)
    return ", ".join(f"{n} {v}" for v, n in sorted(counts.items())) or "no promise"
