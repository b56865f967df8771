"""Beat slots: pure helpers and the interval-aligned Celery schedule.

A slot is floor(scheduled time / interval). With exactly one beat, every slot gets exactly one
BeatTick; a missing slot means beat was down (or its task was lost), a doubled slot means two
beats ran at once (split brain after a failover, or a rollout that overlapped).
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from celery.schedules import schedstate, schedule

#: Message header beat's publisher stamps on refresh_metal_prices (see shop.celery).
SCHEDULED_AT_HEADER = "shop_scheduled_at"


def slot_of(timestamp: float, interval: int) -> int:
    """The beat slot a (scheduled) UNIX timestamp belongs to."""
    if interval <= 0:
        raise ValueError(f"interval must be > 0, got {interval}")
    return math.floor(timestamp / interval)


def slot_start(slot: int, interval: int) -> float:
    """UNIX time at which a slot begins."""
    return float(slot * interval)


def seconds_to_next_slot(timestamp: float, interval: int) -> float:
    return (slot_of(timestamp, interval) + 1) * interval - timestamp


class AlignedSchedule(schedule):
    """Run every `interval` seconds, at multiples of the interval since the epoch.

    Celery's plain `schedule` is relative to the last run and drifts, so two runs could fall in
    one slot (or a slot could be skipped) without anything being wrong. Aligned, they cannot.
    """

    def __init__(self, interval: int, clock: Any = None) -> None:
        self.interval = int(interval)
        self._clock = clock or time.time
        super().__init__(run_every=timedelta(seconds=self.interval))

    def is_due(self, last_run_at: datetime) -> schedstate:
        now = self._clock()
        if last_run_at.tzinfo is None:
            last_run_at = last_run_at.replace(tzinfo=UTC)
        due = slot_of(now, self.interval) > slot_of(last_run_at.timestamp(), self.interval)
        # Wake up just after the next boundary (beat sleeps `next` seconds at most).
        return schedstate(is_due=due, next=seconds_to_next_slot(now, self.interval) + 0.001)

    def remaining_estimate(self, last_run_at: datetime) -> timedelta:
        return timedelta(seconds=seconds_to_next_slot(self._clock(), self.interval))

    def __reduce__(self) -> tuple[type, tuple[int]]:  # type: ignore[override]
        return (self.__class__, (self.interval,))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AlignedSchedule) and other.interval == self.interval

    def __hash__(self) -> int:
        return hash(("AlignedSchedule", self.interval))

    def __repr__(self) -> str:
        return f"<AlignedSchedule every {self.interval}s>"


def utc_from_timestamp(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)
