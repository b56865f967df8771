"""Celery tasks. Every execution is recorded (TaskExecution / BeatTick), duplicates included."""

from __future__ import annotations

import logging
import socket
import time
from datetime import timedelta
from typing import Any

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from store import db
from store.beat import SCHEDULED_AT_HEADER, slot_of, utc_from_timestamp
from store.models import BeatTick, Order, TaskExecution

log = logging.getLogger(__name__)

CONFIRM_ORDER = "confirm_order"
PROBE_TASK = "probe_task"

# A failed task is acknowledged even with acks_late, so a database outage would silently drop
# it. Retry connection-level errors with backoff for ~5 minutes (longer than any failover the
# suite injects) instead.
_RETRY: dict[str, Any] = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 1,
    "retry_backoff_max": 10,
    "retry_jitter": True,
    "max_retries": 40,
}


def _hostname(task: Task) -> str:
    return task.request.hostname or socket.gethostname()


def _record(task: Task, name: str, key: object) -> None:
    TaskExecution.objects.create(
        task_name=name, task_id=task.request.id or "", key=str(key), hostname=_hostname(task)
    )


@shared_task(bind=True, name="store.tasks.confirm_order", **_RETRY)
def confirm_order(self: Task, order_id: int) -> bool:
    """Confirm an order once (conditional UPDATE); record every execution."""
    with db.atomic():
        _record(self, CONFIRM_ORDER, order_id)
        updated = Order.objects.filter(id=order_id, status=Order.Status.PENDING).update(
            status=Order.Status.CONFIRMED, confirmed_at=timezone.now()
        )
    if not updated:
        log.info("confirm_order(%s): already confirmed or absent", order_id)
    return bool(updated)


#: Orders older than this are left alone by the sweep (a bound on its query).
SWEEP_HORIZON_S = 24 * 3600


# No autoretry: the sweep runs again every SHOP_CONFIRM_SWEEP_S anyway, and sweeps retrying a
# database outage would pile up and all run at once after it.
@shared_task(bind=True, name="store.tasks.sweep_unconfirmed_orders")
def sweep_unconfirmed_orders(self: Task) -> int:
    """Enqueue confirm_order again for pending orders whose enqueue failed after their commit
    (``confirm_enqueue_failed``) at least SHOP_CONFIRM_SWEEP_S ago; clear the mark once sent.

    The orders table is the outbox. Only marked orders are swept, so confirmations merely slow
    (retrying a database outage) are not sent twice. A confirmation lost with a killed worker
    is not marked: that is the broker's redelivery to bound (visibility timeout).
    """
    from django.conf import settings

    age = settings.SHOP.confirm_sweep_s
    now = timezone.now()
    marked = list(
        Order.objects.filter(
            status=Order.Status.PENDING,
            confirm_enqueue_failed=True,
            created__lt=now - timedelta(seconds=age),
            created__gte=now - timedelta(seconds=SWEEP_HORIZON_S),
        )
        .order_by("id")
        .values_list("id", flat=True)[:1000]
    )
    sent = 0
    for order_id in marked:
        confirm_order.delay(order_id)  # a broker error ends this sweep; the next one retries
        Order.objects.filter(id=order_id).update(confirm_enqueue_failed=False)
        sent += 1
    if sent:
        log.info("sweep: re-enqueued confirm_order for %d orders", sent)
    return sent


#: Longest work a probe task may simulate (POST /probe/task?hold_ms=).
MAX_HOLD_MS = 5000


@shared_task(bind=True, name="store.tasks.probe_task", **_RETRY)
def probe_task(self: Task, seq: int, hold_ms: int = 0) -> int:
    # hold_ms simulates work (an e-mail, a PDF): tasks are still running when workers are killed
    if hold_ms > 0:
        time.sleep(min(hold_ms, MAX_HOLD_MS) / 1000)
    with db.atomic():
        _record(self, PROBE_TASK, seq)
    return seq


@shared_task(bind=True, name="store.tasks.refresh_metal_prices", **_RETRY)
def refresh_metal_prices(self: Task) -> int:
    """Stands in for a periodic price refresh; records one BeatTick for its beat slot."""
    from django.conf import settings

    scheduled = self.request.get(SCHEDULED_AT_HEADER)
    scheduled_at = float(scheduled) if scheduled is not None else time.time()
    slot = slot_of(scheduled_at, settings.SHOP_BEAT_INTERVAL)
    with db.atomic():
        BeatTick.objects.create(
            slot=slot, scheduled_at=utc_from_timestamp(scheduled_at), hostname=_hostname(self)
        )
    return slot
