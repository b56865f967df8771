"""Compare the measured numbers of two runs and flag regressions (pure, on loaded runs).

A number worsened when it moved away from what its check asks for: up for ``<=``/``<``, down for
``>=``/``>``, away from the threshold for ``==``. It is a regression when it worsened by more than
``absolute(unit) + relative * |reference|`` (the reference is run A's value, or its distance to
the threshold for ``==``), or when a promise's verdict went from PASS to FAIL or ERROR. A worse
number whose run-A value was only a lower bound (``at_least``) is reported as ``worse?``: the
worsening is not proven.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from hasuite.report.errors import ReportError
from hasuite.runfolder import CheckRecord, PromiseRecord, RunData

__all__ = [
    "DEFAULT_ABSOLUTE",
    "CompareRow",
    "Comparison",
    "Tolerance",
    "compare_runs",
    "parse_tolerances",
]

#: Default absolute tolerance per unit: run-to-run noise that is not a regression. Seconds: the
#: measured spread of repeated failovers on the lab is several seconds, the probes' error
#: 0.1-0.2 s; counts (lost orders, duplicates, missed slots) get none.
DEFAULT_ABSOLUTE: Mapping[str, float] = {"s": 1.0, "count": 0.0, "ratio": 0.001, "intervals": 0.0}
DEFAULT_RELATIVE = 0.10
_VERDICT_RANK = {"SKIPPED": 0, "PASS": 1, "INTERRUPTED": 2, "ERROR": 3, "FAIL": 3}


@dataclass(frozen=True)
class Tolerance:
    relative: float = DEFAULT_RELATIVE
    absolute: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_ABSOLUTE))
    default_absolute: float = 0.0

    def allowed(self, unit: str, reference: float) -> float:
        return self.absolute.get(unit, self.default_absolute) + self.relative * abs(reference)


def parse_tolerances(relative: float | None, absolute: list[str] | None) -> Tolerance:
    """Tolerance from CLI values: ``relative`` (e.g. 0.1) and ``UNIT=VALUE`` items (``s=2``)."""
    rel = DEFAULT_RELATIVE if relative is None else relative
    if not math.isfinite(rel) or rel < 0:
        raise ReportError(f"--rel-tol must be a number >= 0 (0.1 = 10 %), got {relative}")
    table = dict(DEFAULT_ABSOLUTE)
    default = 0.0
    for item in absolute or ():
        unit, sep, value = item.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not sep or not unit or not math.isfinite(number) or number < 0:
            raise ReportError(
                f"--abs-tol {item!r}: expected UNIT=VALUE with VALUE >= 0 (e.g. s=2, count=0, "
                f"*=0.5 for every other unit)"
            )
        if unit == "*":
            default = number
        else:
            table[unit] = number
    return Tolerance(relative=rel, absolute=table, default_absolute=default)


@dataclass(frozen=True)
class CompareRow:
    experiment: str
    promise: str
    measurement: str | None
    unit: str
    comparison: str
    threshold: float | None
    a: float | None
    b: float | None
    a_verdict: str | None
    b_verdict: str | None
    status: str  # same | better | worse | worse? | REGRESSION | new | gone | not measured
    note: str = ""

    @property
    def regression(self) -> bool:
        return self.status == "REGRESSION"


@dataclass(frozen=True)
class Comparison:
    run_a: str
    run_b: str
    rows: tuple[CompareRow, ...]
    tolerance: Tolerance

    @property
    def regressions(self) -> tuple[CompareRow, ...]:
        return tuple(r for r in self.rows if r.regression)


@dataclass(frozen=True)
class _Entry:
    promise: PromiseRecord
    check: CheckRecord | None
    at_least: bool


def _index(run: RunData) -> dict[tuple[str, str, str | None], _Entry]:
    out: dict[tuple[str, str, str | None], _Entry] = {}
    for exp in run.experiments:
        for p in exp.promises:
            checks: tuple[CheckRecord | None, ...] = p.checks or (None,)
            for c in checks:
                key = (exp.name, p.id, c.measurement if c else None)
                m = exp.measurement(c.measurement) if c else None
                out[key] = _Entry(promise=p, check=c, at_least=bool(m and m.at_least))
    return out


def _judge(c: CheckRecord, a: float, b: float, a_at_least: bool, tol: Tolerance) -> tuple[str, str]:
    op, threshold, unit = c.comparison, float(c.threshold), c.unit
    if op in ("<=", "<"):
        worse_by, reference = b - a, a
    elif op in (">=", ">"):
        worse_by, reference = a - b, a
    else:
        worse_by, reference = abs(b - threshold) - abs(a - threshold), a - threshold
    allowed = tol.allowed(unit, reference)
    if worse_by <= 0:
        return ("same" if worse_by == 0 else "better"), ""
    note = f"worse by {worse_by:.3g} {unit} (tolerance {allowed:.3g} {unit})"
    if worse_by <= allowed:
        return "worse", note + ": within tolerance"
    if a_at_least and op in ("<=", "<"):
        return "worse?", note + "; run A's value was a lower bound"
    return "REGRESSION", note


def compare_runs(a: RunData, b: RunData, tolerance: Tolerance | None = None) -> Comparison:
    """Row per (experiment, promise, measurement) present in either run."""
    tol = tolerance or Tolerance()
    ia, ib = _index(a), _index(b)
    rows = []
    for key in list(ia) + [k for k in ib if k not in ia]:
        ea, eb = ia.get(key), ib.get(key)
        ref = eb or ea
        assert ref is not None
        c = ref.check
        va = ea.check.measured if ea and ea.check else None
        vb = eb.check.measured if eb and eb.check else None
        verdict_a = ea.promise.verdict if ea else None
        verdict_b = eb.promise.verdict if eb else None
        if ea is None:
            status, note = "new", "only in run B"
        elif eb is None:
            status, note = "gone", "only in run A"
        elif c is None or va is None or vb is None:
            status = "not measured" if (va is None) != (vb is None) else "same"
            note = "" if status == "same" else f"measured only in run {'A' if vb is None else 'B'}"
        else:
            status, note = _judge(c, float(va), float(vb), ea.at_least, tol)
        if (
            verdict_a == "PASS"
            and verdict_b in ("FAIL", "ERROR")
            and _VERDICT_RANK[verdict_b] > _VERDICT_RANK[verdict_a]
        ):
            note = f"verdict {verdict_a} -> {verdict_b}" + (f"; {note}" if note else "")
            status = "REGRESSION"
        rows.append(
            CompareRow(
                experiment=key[0],
                promise=key[1],
                measurement=key[2],
                unit=c.unit if c else "",
                comparison=c.comparison if c else "",
                threshold=c.threshold if c else None,
                a=va,
                b=vb,
                a_verdict=verdict_a,
                b_verdict=verdict_b,
                status=status,
                note=note,
            )
        )
    return Comparison(run_a=a.run_id, run_b=b.run_id, rows=tuple(rows), tolerance=tol)
