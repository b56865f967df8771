"""What a partition cost in acknowledged writes: lost, duplicated and split-brain (pure).

A partition cuts one member (the old primary) off from its peers; clients that still reach it
may go on writing there until it demotes itself, while the rest elect a new primary. This module
sorts the ledger of acknowledged writes, each with the server that acknowledged it, against the
read-back after the heal and the role observations:

- **lost**: acknowledged, absent after the heal (whoever acknowledged it);
- **duplicated**: present more than once;
- **split-brain**: acknowledged by the cut-off member after the cut, while it was no longer the
  only primary, or while it could no longer reach its peers: what a client in the minority was
  told was written. Counted on their own, and how many of those were lost;
- **dual primary**: how long two members were seen holding the primary role at once.

It never guesses: a write without a server cannot be a split-brain write, and with no role
observations the dual-primary time is unknown (None), not zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hasuite.analysis._util import fmt, key_list
from hasuite.model import (
    PRIMARY_ROLES,
    Event,
    LedgerCheck,
    LedgerEntry,
    Measurement,
    RoleObservation,
)

__all__ = [
    "PARTITION_MEASUREMENTS",
    "PartitionWindow",
    "SortedWrites",
    "dual_primary_spans",
    "measure_demoted",
    "measure_partition",
    "measure_partition_experiment",
    "measure_split_window",
    "partition_window",
    "sort",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionWindow:
    """``member`` was cut off from its peers from ``cut_at`` until ``healed_at`` (monotonic s;
    None: not healed while recorded)."""

    member: str
    cut_at: float
    healed_at: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SortedWrites:
    acknowledged: int
    lost: tuple[str, ...]
    duplicated: tuple[str, ...]
    split_brain: tuple[str, ...]
    split_brain_lost: tuple[str, ...]


def _present(check: LedgerCheck, key: str) -> int:
    count = check.executions.get(key)
    if count is not None:
        return count
    return 1 if key in check.present else 0


def sort(
    entries: Iterable[LedgerEntry], check: LedgerCheck, window: PartitionWindow
) -> SortedWrites:
    """Sort the acknowledged writes of ``entries`` by what became of them."""
    entries = list(entries)
    lost, duplicated, split, split_lost = [], [], [], []
    end = window.healed_at if window.healed_at is not None else float("inf")
    for e in entries:
        n = _present(check, e.key)
        if n == 0:
            lost.append(e.key)
        elif n > 1:
            duplicated.append(e.key)
        if e.server == window.member and window.cut_at <= e.acknowledged_at <= end:
            split.append(e.key)
            if n == 0:
                split_lost.append(e.key)
    return SortedWrites(
        acknowledged=len(entries),
        lost=tuple(lost),
        duplicated=tuple(duplicated),
        split_brain=tuple(split),
        split_brain_lost=tuple(split_lost),
    )


def dual_primary_spans(
    roles: Iterable[RoleObservation], *, component: str, role: str
) -> list[tuple[float, float, tuple[str, ...]]]:
    """(start, end, holders) of each stretch in which two or more instances were last seen
    holding ``role`` and ready: each instance keeps its last observation until its next one. A
    holder that is not ready serves no write (a Patroni leader that demoted itself offline stops
    Postgres but still calls itself leader until it can reach the DCS again)."""
    obs = sorted((r for r in roles if r.component == component), key=lambda r: r.at)
    current: dict[str, bool] = {}
    spans: list[tuple[float, float, tuple[str, ...]]] = []
    start: float | None = None
    holders: tuple[str, ...] = ()
    for r in obs:
        current[r.instance] = r.role == role and r.ready
        now = tuple(sorted(i for i, holds in current.items() if holds))
        if len(now) >= 2 and start is None:
            start, holders = r.at, now
        elif len(now) >= 2:
            holders = tuple(sorted({*holders, *now}))
        elif start is not None:
            spans.append((start, r.at, holders))
            start, holders = None, ()
    if start is not None and obs:
        spans.append((start, obs[-1].at, holders))
    return spans


def _count(name: str, keys: Sequence[str], what: str) -> Measurement:
    """A count of ``keys`` as a measurement: ``what`` says of what; the first keys are named."""
    return Measurement(
        name=name,
        value=float(len(keys)),
        unit="count",
        detail=f"{len(keys)} {what}" + (f": {key_list(keys)}" if keys else ""),
    )


def measure_partition(
    entries: Iterable[LedgerEntry],
    check: LedgerCheck | None,
    window: PartitionWindow,
    roles: Sequence[RoleObservation],
    *,
    component: str,
    role: str,
    kind: str = "order",
) -> tuple[Measurement, ...]:
    """lost/split-brain counts of ``kind`` writes and the dual-primary time, as measurements.

    ``check`` None: the read-back failed, so every count is unknown (None), never 0."""
    mine = [e for e in entries if e.kind == kind]
    spans = dual_primary_spans(roles, component=component, role=role)
    observed = any(r.component == component for r in roles)
    dual = sum(end - start for start, end, _ in spans) if observed else None
    dual_detail = (
        "; ".join(
            f"{' and '.join(h)} from {fmt(s - window.cut_at)} s to {fmt(e - window.cut_at)} s "
            "after the cut"
            for s, e, h in spans
        )
        or f"never two {component} {role}s at once"
        if observed
        else f"no {component} observations"
    )
    out = [
        Measurement(name="dual_primary_s", value=dual, unit="s", detail=dual_detail),
    ]
    if check is None:
        why = f"{kind}s not read back after the heal: lost and split-brain writes unknown"
        return (
            *out,
            Measurement(name=f"lost_{kind}s", value=None, unit="count", detail=why),
            Measurement(name=f"split_brain_{kind}s", value=None, unit="count", detail=why),
            Measurement(name=f"split_brain_lost_{kind}s", value=None, unit="count", detail=why),
        )
    s = sort(mine, check, window)
    return (
        *out,
        _count(f"lost_{kind}s", s.lost, f"of {s.acknowledged} acknowledged lost"),
        _count(
            f"split_brain_{kind}s",
            s.split_brain,
            f"acknowledged by the cut-off {window.member} after the cut",
        ),
        _count(
            f"split_brain_lost_{kind}s",
            s.split_brain_lost,
            f"of the {len(s.split_brain)} split-brain writes lost",
        ),
        _count(f"duplicated_{kind}s", s.duplicated, "present more than once"),
    )


#: The ledger kind each primary acknowledges: orders are Postgres', cache keys Redis'.
LEDGER_KINDS = {"postgres": "order", "redis": "key"}
#: Measurements a partition experiment gives beyond the common ones.
PARTITION_MEASUREMENTS = (
    "dual_primary_s",
    "old_primary_demoted_s",
    "split_brain_window_s",
    "partition_s",
)


def partition_window(events: Iterable[Event]) -> tuple[PartitionWindow, Mapping[str, Any]] | None:
    """The partition on the timeline: its ``cut`` event (member, server, component) and the
    ``healed`` event after it; None when the experiment cut nothing."""
    ordered = sorted(events, key=lambda e: e.at)
    cut = next((e for e in ordered if e.kind == "cut" and isinstance(e.detail, Mapping)), None)
    if cut is None:
        return None
    assert isinstance(cut.detail, Mapping)
    healed = next((e.at for e in ordered if e.kind == "healed" and e.at >= cut.at), None)
    member = str(cut.detail.get("server") or cut.detail.get("member") or "")
    return PartitionWindow(member=member, cut_at=cut.at, healed_at=healed), cut.detail


def measure_demoted(
    roles: Sequence[RoleObservation], *, component: str, instance: str, role: str, cut_at: float
) -> Measurement:
    """Cut -> the first observation in which the cut-off ``instance`` itself answered with a
    role other than ``role``, or with ``role`` but not ready (its database stopped: Patroni's
    offline demotion). No answer is not a demotion: it may still take writes."""
    name = "old_primary_demoted_s"
    mine = sorted(
        (r for r in roles if r.component == component and r.instance == instance),
        key=lambda r: r.at,
    )
    after = [r for r in mine if r.at >= cut_at]
    first = next((r for r in after if r.role and (r.role != role or not r.ready)), None)
    if first is not None:
        said = first.role if first.role != role else f"{role}, not ready"
        return Measurement(
            name=name,
            value=first.at - cut_at,
            unit="s",
            detail=f"{instance} said {said} {fmt(first.at - cut_at)} s after the cut",
        )
    if not after:
        return Measurement(name=name, value=None, unit="s", detail=f"{instance} not observed")
    waited = after[-1].at - cut_at
    return Measurement(
        name=name,
        value=waited,
        unit="s",
        at_least=True,
        detail=f"{instance} still {role} (or silent) {fmt(waited)} s after the cut",
    )


def measure_split_window(
    entries: Iterable[LedgerEntry], window: PartitionWindow, *, kind: str
) -> Measurement:
    """Cut -> the last ``kind`` write the cut-off member acknowledged (0: none after the cut):
    how long clients on its side were told their writes were stored."""
    end = window.healed_at if window.healed_at is not None else float("inf")
    acked = [
        e.acknowledged_at
        for e in entries
        if e.kind == kind
        and e.server == window.member
        and window.cut_at <= e.acknowledged_at <= end
    ]
    last = max(acked, default=window.cut_at) - window.cut_at
    return Measurement(
        name="split_brain_window_s",
        value=last,
        unit="s",
        detail=(
            f"{len(acked)} {kind} writes acknowledged by the cut-off {window.member}, the last "
            f"{fmt(last)} s after the cut"
            if acked
            else f"no {kind} write acknowledged by the cut-off {window.member} after the cut"
        ),
    )


def measure_partition_experiment(
    events: Sequence[Event],
    roles: Sequence[RoleObservation],
    entries: Sequence[LedgerEntry],
    checks: Mapping[str, LedgerCheck | None],
) -> list[Measurement]:
    """The partition's measurements (empty: no partition on the timeline). ``checks`` holds
    the read-back by ledger kind (None: not read back). The lost and duplicated counts stay
    the common measurements' (lost_orders, lost_keys ...): split-brain ones come on their own."""
    found = partition_window(events)
    if found is None:
        return []
    window, detail = found
    component = str(detail.get("component") or "")
    instance = str(detail.get("member") or "")
    length = (
        Measurement(
            name="partition_s",
            value=window.healed_at - window.cut_at,
            unit="s",
            detail=f"{instance} cut off from {', '.join(detail.get('cut_from') or ())}",
        )
        if window.healed_at is not None
        else Measurement(name="partition_s", value=None, unit="s", detail="no heal recorded")
    )
    role = PRIMARY_ROLES.get(component)
    kind = LEDGER_KINDS.get(component)
    if role is None or kind is None:
        return [length]  # not a primary (an app instance cut off): no split brain to count
    common = {f"lost_{kind}s", f"duplicated_{kind}s"}
    counted = measure_partition(
        entries, checks.get(kind), window, roles, component=component, role=role, kind=kind
    )
    return [
        length,
        *(m for m in counted if m.name not in common),
        measure_demoted(
            roles, component=component, instance=instance, role=role, cut_at=window.cut_at
        ),
        measure_split_window(entries, window, kind=kind),
    ]
