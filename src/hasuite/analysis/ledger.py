"""Lost and duplicated acknowledged writes: the ledger against the read-back (pure).

Lost = acknowledged but absent (or, with a deadline, not executed within it). Duplicates are
counted, never hidden.
"""

from __future__ import annotations

from collections.abc import Iterable

from hasuite.analysis._util import fmt
from hasuite.model import LedgerCheck, LedgerEntry, Measurement

__all__ = ["measure_duplicates", "measure_lost"]

_SHOWN = 5  # keys named in a detail


def _keys(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOWN])
    return shown + (f", ... ({len(keys) - _SHOWN} more)" if len(keys) > _SHOWN else "")


def measure_lost(
    entries: Iterable[LedgerEntry],
    check: LedgerCheck,
    *,
    kind: str,
    name: str | None = None,
    deadline_s: float | None = None,
) -> Measurement:
    """Count the acknowledged ``kind`` entries the read-back did not find (name ``lost_{kind}s``).

    With ``deadline_s`` (e.g. visibility timeout + grace for tasks) an entry also counts as lost
    when it was first seen more than ``deadline_s`` after its acknowledgement; an absent entry
    acknowledged less than ``deadline_s`` before ``check.checked_at`` is not due yet: the value is
    then a lower bound (``at_least``), so "0 lost" cannot be claimed. No acknowledged entry at all
    gives None: nothing was verified.
    """
    name = name or f"lost_{kind}s"
    mine = [e for e in entries if e.kind == kind]
    if not mine:
        return Measurement(
            name=name,
            value=None,
            unit="count",
            detail=f"no acknowledged {kind} in the ledger: nothing was verified",
        )
    lost: list[str] = []
    late: list[str] = []
    pending: list[str] = []
    for e in mine:
        if check.has(e.key):
            seen = check.first_seen.get(e.key)
            if (
                deadline_s is not None
                and seen is not None
                and seen - e.acknowledged_at > deadline_s
            ):
                late.append(e.key)
            continue
        if (
            deadline_s is not None
            and check.checked_at is not None
            and check.checked_at - e.acknowledged_at < deadline_s
        ):
            pending.append(e.key)
        else:
            lost.append(e.key)
    value = float(len(lost) + len(late))
    parts = [f"{len(lost) + len(late)} of {len(mine)} acknowledged {kind}s lost"]
    if lost:
        parts.append(f"absent: {_keys(lost)}")
    if late:
        parts.append(f"ran after the {fmt(deadline_s or 0)} s deadline: {_keys(late)}")
    if pending:
        parts.append(f"{len(pending)} not due yet at the read-back: {_keys(pending)}")
    return Measurement(
        name=name, value=value, unit="count", detail="; ".join(parts), at_least=bool(pending)
    )


def measure_duplicates(
    entries: Iterable[LedgerEntry],
    check: LedgerCheck,
    *,
    kind: str,
    name: str | None = None,
) -> Measurement:
    """Count acknowledged ``kind`` entries executed/stored more than once (``duplicate_{kind}s``).

    The detail also gives the number of extra executions. None when the ledger has no entry.
    """
    name = name or f"duplicate_{kind}s"
    keys = sorted({e.key for e in entries if e.kind == kind})
    if not keys:
        return Measurement(
            name=name,
            value=None,
            unit="count",
            detail=f"no acknowledged {kind} in the ledger: nothing was verified",
        )
    doubled = [k for k in keys if check.executions.get(k, 0) > 1]
    extra = sum(check.executions[k] - 1 for k in doubled)
    detail = f"{len(doubled)} of {len(keys)} acknowledged {kind}s ran more than once"
    if doubled:
        detail += f" ({extra} extra executions: {_keys(doubled)})"
    return Measurement(name=name, value=float(len(doubled)), unit="count", detail=detail)
