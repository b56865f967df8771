"""The outcome of one experiment: its verdicts, measurements and folder, as the runner and the
report see it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hasuite.model import Measurement, PromiseResult, Verdict

__all__ = ["ExperimentResult"]


@dataclass
class ExperimentResult:
    name: str
    status: Verdict
    reason: str
    promises: tuple[PromiseResult, ...]
    measurements: tuple[Measurement, ...] = ()
    dir: str = ""

    def explain(self, result: PromiseResult) -> str:
        """``result``'s verdict and reason, then the detail of every check that did not hold.

        A CI log is often all there is to tell a cause: "4 of 2521 requests failed (http 502
        x4)" says more than "failed requests 4 != 0".
        """
        details = {m.name: m.detail for m in self.measurements if m.detail}
        lines = [f"{self.name}: {result.verdict.value}: {result.reason}"]
        for check in result.checks:
            name = check.check.measurement
            if check.holds is not True and name in details:
                lines.append(f"    {name}: {details[name]}")
        if self.dir:
            lines.append(f"    evidence: {self.dir}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status.value,
            "reason": self.reason,
            "dir": self.dir,
            "promises": [p.to_dict() for p in self.promises],
        }
