"""Custom gauges collected at scrape time; cheap and exception-safe.

A down backend yields NaN for its gauge (never a 500 from /metrics): the scrape itself must keep
working during the outages the suite measures.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

#: Name of Celery's default queue (a Redis list on the broker master).
QUEUE = "celery"


def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
    tick = GaugeMetricFamily(
        "shop_beat_last_tick_timestamp_seconds",
        "UNIX time of the last refresh_metal_prices run recorded by Celery beat (NaN if unknown).",
    )
    queue = GaugeMetricFamily(
        "shop_celery_queue_length",
        "Messages waiting in the Celery broker queue on the Redis master (NaN if unreachable).",
        labels=["queue"],
    )
    return tick, queue


def last_tick_timestamp() -> float:
    from django.db.models import Max

    from store.models import BeatTick

    last = BeatTick.objects.aggregate(last=Max("ran_at"))["last"]
    return last.timestamp() if last is not None else math.nan


def queue_length(queue: str = QUEUE) -> float:
    from store.backends import redis_master

    return float(redis_master().llen(queue))


class ShopCollector(Collector):
    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Without describe() the registry would call collect() at registration (import time).
        yield from _families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        tick, queue = _families()
        try:
            tick.add_metric([], last_tick_timestamp())
        except Exception as exc:
            log.warning("metrics: last beat tick unavailable: %s", exc)
            tick.add_metric([], math.nan)
        try:
            queue.add_metric([QUEUE], queue_length())
        except Exception as exc:
            log.warning("metrics: queue length unavailable: %s", exc)
            queue.add_metric([QUEUE], math.nan)
        yield tick
        yield queue


_collector: ShopCollector | None = None


def register() -> None:
    global _collector
    if _collector is None:
        _collector = ShopCollector()
        REGISTRY.register(_collector)
