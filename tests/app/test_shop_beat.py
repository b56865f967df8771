"""Beat slot arithmetic and the interval-aligned schedule (pure)."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import pytest


@pytest.mark.parametrize(
    ("timestamp", "interval", "slot"),
    [
        (0.0, 10, 0),
        (9.999, 10, 0),
        (10.0, 10, 1),
        (1_795_823_046.5, 10, 179_582_304),
        (-0.5, 10, -1),
    ],
)
def test_slot_of(timestamp: float, interval: int, slot: int) -> None:
    from store.beat import slot_of, slot_start

    assert slot_of(timestamp, interval) == slot
    assert slot_start(slot, interval) <= timestamp < slot_start(slot + 1, interval)


def test_slot_of_rejects_non_positive_interval() -> None:
    from store.beat import slot_of

    with pytest.raises(ValueError, match="interval"):
        slot_of(1.0, 0)


def at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


def test_aligned_schedule_fires_once_per_slot() -> None:
    from store.beat import AlignedSchedule

    now = [1003.0]
    sched = AlignedSchedule(10, clock=lambda: now[0])
    # Last run in the same slot: not due; wakes up just after the boundary at 1010.
    state = sched.is_due(at(1000.5))
    assert state.is_due is False
    assert state.next == pytest.approx(7.001)
    # Next slot: due once.
    now[0] = 1010.002
    assert sched.is_due(at(1000.5)).is_due is True
    assert sched.is_due(at(1010.002)).is_due is False
    # A naive datetime (UTC) from an old schedule file works too.
    assert sched.is_due(at(995.0).replace(tzinfo=None)).is_due is True


def test_aligned_schedule_survives_the_beat_schedule_file() -> None:
    from store.beat import AlignedSchedule

    restored = pickle.loads(pickle.dumps(AlignedSchedule(7)))
    assert restored == AlignedSchedule(7)
    assert restored.interval == 7
