"""Celery beat singleton: missed and doubled schedule slots, and when ticks resume (pure).

A slot is the integer index of one scheduled beat interval (e.g. ``int(wall // interval_s)``);
the recorder reports ``(slot, count)`` pairs: how many times the beat task ran for that slot.
Pairs for the same slot add up; a slot that is absent ran 0 times.
"""

from __future__ import annotations

from collections.abc import Iterable

from hasuite.model import Measurement

__all__ = ["count_slots", "measure_beat_resume", "measure_beat_slots"]


def count_slots(slots: Iterable[tuple[int, int]]) -> dict[int, int]:
    """Executions per slot (pairs for one slot summed)."""
    counts: dict[int, int] = {}
    for slot, count in slots:
        if count < 0:
            raise ValueError(f"negative count {count} for slot {slot}")
        counts[slot] = counts.get(slot, 0) + count
    return counts


def _ranges(slots: list[int]) -> str:
    if not slots:
        return ""
    out: list[str] = []
    lo = prev = slots[0]
    for s in [*slots[1:], None]:
        if s is not None and s == prev + 1:
            prev = s
            continue
        out.append(str(lo) if lo == prev else f"{lo}-{prev}")
        if s is not None:
            lo = prev = s
    return ", ".join(out[:5]) + (" ..." if len(out) > 5 else "")


def measure_beat_slots(
    slots: Iterable[tuple[int, int]], *, first_slot: int, last_slot: int
) -> tuple[Measurement, Measurement]:
    """(``missed_slots``, ``doubled_slots``) within ``[first_slot, last_slot]``.

    Choose the window: for "ticks resume" start it one interval after the beat's restart; for
    "no slot runs twice" cover the whole recording. An empty window gives None values.
    """
    if last_slot < first_slot:
        why = f"empty slot window {first_slot}..{last_slot}"
        return (
            Measurement(name="missed_slots", value=None, unit="count", detail=why),
            Measurement(name="doubled_slots", value=None, unit="count", detail=why),
        )
    counts = count_slots(slots)
    window = range(first_slot, last_slot + 1)
    missed = [s for s in window if counts.get(s, 0) == 0]
    doubled = [s for s in window if counts.get(s, 0) > 1]
    n = len(window)
    missed_detail = f"{len(missed)} of {n} slots without a tick" + (
        f" ({_ranges(missed)})" if missed else ""
    )
    doubled_detail = f"{len(doubled)} of {n} slots ran more than once" + (
        f" ({_ranges(doubled)}; max {max(counts[s] for s in doubled)} runs)" if doubled else ""
    )
    return (
        Measurement(
            name="missed_slots", value=float(len(missed)), unit="count", detail=missed_detail
        ),
        Measurement(
            name="doubled_slots", value=float(len(doubled)), unit="count", detail=doubled_detail
        ),
    )


def measure_beat_resume(
    slots: Iterable[tuple[int, int]], *, restart_slot: int | None, last_slot: int
) -> Measurement:
    """``beat_resume_intervals``: intervals from the slot of the beat's restart to its first tick.

    0 or 1 means the beat ticked in the restart's slot or the next one. A lower bound when no
    tick happened up to ``last_slot``; None when no restart was observed.
    """
    name = "beat_resume_intervals"
    if restart_slot is None:
        return Measurement(name=name, value=None, unit="intervals", detail="no beat restart seen")
    counts = count_slots(slots)
    ticked = sorted(s for s, c in counts.items() if c > 0 and restart_slot <= s <= last_slot)
    if not ticked:
        waited = max(last_slot - restart_slot, 0)
        return Measurement(
            name=name,
            value=float(waited),
            unit="intervals",
            detail=f"no tick in the {waited} slots after the restart (slot {restart_slot})",
            at_least=True,
        )
    first = ticked[0]
    return Measurement(
        name=name,
        value=float(first - restart_slot),
        unit="intervals",
        detail=f"restart in slot {restart_slot}, first tick in slot {first}",
    )
