"""A FAIL's way forward: which env/stack.yaml settings kept the promise in the known-good profile.

Pure: the promise's ``fixes`` (suites/promises.yaml), the settings under test and the known-good
settings come in as flat ``{"dotted.path": value}`` mappings; a text comes out, e.g.
``celery.beat_sync_every 0 -> 1 (known-good; measured: ...)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from hasuite.model import Promise, PromiseResult, Verdict

__all__ = ["recommend", "with_recommendation"]

NO_FIX = "no setting in env/stack.yaml is known to fix this; see the promise's note and the report"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def recommend(
    promise: Promise,
    result: PromiseResult,
    *,
    current: Mapping[str, Any],
    known_good: Mapping[str, Any] | None,
) -> str | None:
    """The recommendation for a FAIL (None for any other verdict).

    For each violated check, the settings its ``fixes`` name whose value under test differs from
    the known-good profile's, with the measured note where one is given. When every such
    setting already has its known-good value, or no fix is known, the text says so.
    """
    if result.verdict != Verdict.FAIL:
        return None
    violated = [c.check.measurement for c in result.checks if c.holds is False and c.check.enforce]
    fixes = [f for f in promise.fixes if f.measurement in violated]
    if not fixes or known_good is None:
        why = "" if known_good is not None or not fixes else " (no known-good profile to compare)"
        return NO_FIX + why
    parts: list[str] = []
    same: list[str] = []
    done: set[str] = set()
    for fix in fixes:
        changes = []
        for path in fix.settings:
            if path in done:
                continue
            done.add(path)
            now, good = current.get(path), known_good.get(path)
            if now == good:
                same.append(path)
            else:
                changes.append(f"{path} {_show(now)} -> {_show(good)}")
        if changes:
            text = ", ".join(changes) + " (the known-good profile"
            text += f"; measured: {fix.measured})" if fix.measured else ")"
            parts.append(text)
    if parts:
        return "; ".join(parts)
    return (
        f"the settings known to move this ({', '.join(same)}) already have their known-good "
        "values: the cause is elsewhere; see the report"
    )


def with_recommendation(
    result: PromiseResult,
    promise: Promise,
    *,
    current: Mapping[str, Any] | None,
    known_good: Mapping[str, Any] | None,
) -> PromiseResult:
    """``result`` with its recommendation set (unchanged without settings under test)."""
    if current is None:
        return result
    text = recommend(promise, result, current=current, known_good=known_good)
    return replace(result, recommendation=text) if text else result
