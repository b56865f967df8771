"""Lost and duplicated acknowledged writes: the ledger against the read-back (pure).

Lost = acknowledged but absent (or, with a deadline, not executed within it). Duplicates are
counted, never hidden.
"""

from __future__ import annotations

from collections.abc import Iterable

from hasuite.analysis._util import fmt, key_list
from hasuite.model import LEDGER_SOURCES, LedgerCheck, LedgerEntry, Measurement, OrderReadBack

__all__ = [
    "confirm_deadline",
    "count_by_source",
    "measure_duplicates",
    "measure_lost",
    "measure_unconfirmed",
]


def _sources(entries: Iterable[LedgerEntry]) -> list[str]:
    """The sources present, the known ones first, in a stable order."""
    seen = {e.source for e in entries}
    return [s for s in LEDGER_SOURCES if s in seen] + sorted(seen - set(LEDGER_SOURCES))


def _per_source(mine: list[LedgerEntry], bad: set[str]) -> str:
    """``probe 1 of 480, load 2 of 40``: the bad keys of each source among its entries."""
    parts = []
    for source in _sources(mine):
        keys = {e.key for e in mine if e.source == source}
        parts.append(f"{source} {len(keys & bad)} of {len(keys)}")
    return ", ".join(parts)


def measure_lost(
    entries: Iterable[LedgerEntry],
    check: LedgerCheck,
    *,
    kind: str,
    name: str | None = None,
    deadline_s: float | None = None,
) -> Measurement:
    """Count the acknowledged ``kind`` entries the read-back did not find (name ``lost_{kind}s``).

    With ``deadline_s`` (CELERY-NOLOSS's deadline for tasks) an entry also counts as lost when
    it was first seen more than ``deadline_s`` after its acknowledgement. An absent entry
    acknowledged less than ``deadline_s`` before ``check.checked_at`` is not settled at the
    read-back: it counts against the promise too, and the value is then a lower bound
    (``at_least``): what is unsettled is never taken as a pass. No acknowledged entry at all
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
    bad = len(lost) + len(late) + len(pending)
    parts = [
        f"{bad} of {len(mine)} acknowledged {kind}s lost "
        f"({_per_source(mine, set(lost) | set(late) | set(pending))})"
    ]
    if lost:
        parts.append(f"absent: {key_list(lost)}")
    if late:
        parts.append(f"ran after the {fmt(deadline_s or 0)} s deadline: {key_list(late)}")
    if pending:
        parts.append(
            f"{len(pending)} not run at the read-back, before their {fmt(deadline_s or 0)} s "
            f"deadline (counted: unsettled is not a pass): {key_list(pending)}"
        )
    value = float(bad)
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
        detail += f" ({extra} extra executions: {key_list(doubled)})"
    return Measurement(name=name, value=float(len(doubled)), unit="count", detail=detail)


def confirm_deadline(entry: LedgerEntry, *, recovered_at: float | None, within_s: float) -> float:
    """When ``entry``'s order must be confirmed: ``within_s`` after the later of its
    acknowledgement and the stack's recovery (an order placed before the fault may wait for the
    recovery; one placed after it has ``within_s`` from its own acknowledgement)."""
    start = entry.acknowledged_at
    if recovered_at is not None and recovered_at > start:
        start = recovered_at
    return start + within_s


def measure_unconfirmed(
    entries: Iterable[LedgerEntry],
    read_back: OrderReadBack,
    *,
    recovered_at: float | None,
    within_s: float,
    name: str = "unconfirmed_orders",
) -> Measurement:
    """Count acknowledged orders, present in the read-back, not confirmed by their deadline
    (:func:`confirm_deadline`).

    An order confirmed after its deadline counts; so does one still pending at the read-back,
    even when its deadline has not passed yet: then the value is a lower bound (``at_least``),
    never a pass. Absent orders are lost_orders, not counted here (named in the detail).
    """
    mine = [e for e in entries if e.kind == "order"]
    if not mine:
        return Measurement(
            name=name,
            value=None,
            unit="count",
            detail="no acknowledged order in the ledger: nothing was verified",
        )
    checked = read_back.check.checked_at
    late: list[str] = []
    never: list[str] = []
    not_due: list[str] = []
    absent = 0
    for e in mine:
        if not read_back.check.has(e.key):
            absent += 1
            continue
        deadline = confirm_deadline(e, recovered_at=recovered_at, within_s=within_s)
        seen = read_back.confirmed_seen.get(e.key)
        if e.key in read_back.confirmed and seen is not None:
            if seen > deadline:
                late.append(e.key)
        elif checked is not None and checked < deadline:
            not_due.append(e.key)
        else:
            never.append(e.key)
    bad = set(late) | set(never) | set(not_due)
    parts = [
        f"{len(bad)} of {len(mine) - absent} acknowledged orders not confirmed within "
        f"{fmt(within_s)} s after the recovery ({_per_source(mine, bad)})"
    ]
    if never:
        parts.append(f"never confirmed: {key_list(never)}")
    if late:
        parts.append(f"confirmed late: {key_list(late)}")
    if not_due:
        parts.append(f"{len(not_due)} still pending at the read-back before their deadline")
    if absent:
        parts.append(f"{absent} absent (see lost_orders)")
    return Measurement(
        name=name,
        value=float(len(bad)),
        unit="count",
        detail="; ".join(parts),
        at_least=bool(not_due),
    )


def count_by_source(
    entries: Iterable[LedgerEntry], check: LedgerCheck | None, *, kind: str
) -> dict[str, dict[str, int | None]]:
    """Per source: how many ``kind`` entries were acknowledged and how many the read-back did
    not find (None when there was no read-back), for the report."""
    mine = [e for e in entries if e.kind == kind]
    out: dict[str, dict[str, int | None]] = {}
    for source in _sources(mine):
        keys = {e.key for e in mine if e.source == source}
        missing = None if check is None else sum(1 for k in keys if not check.has(k))
        out[source] = {"acknowledged": len(keys), "missing": missing}
    return out
