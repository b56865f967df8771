"""Placing an order: the one code path of POST /api/orders and the chaos suite's order probe.

The order and its items are written in one transaction; the confirmation task is enqueued only
after COMMIT (``transaction.on_commit``). A broker outage never turns a committed order into an
error answer: the order stays pending, is marked ``confirm_enqueue_failed`` and the answer says
``enqueued: false``. Marked orders are enqueued again by
:func:`store.tasks.sweep_unconfirmed_orders` when SHOP_CONFIRM_SWEEP_S > 0 (the orders table is
the outbox); with 0 (the app as first written) such an order is never confirmed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from store import backends, db
from store.models import Order, OrderItem, Product
from store.tasks import confirm_order

log = logging.getLogger(__name__)


class UnknownProducts(ValueError):
    """Some product ids of the order do not exist."""

    def __init__(self, ids: Sequence[int]) -> None:
        super().__init__(f"unknown product id(s): {', '.join(map(str, ids))}")
        self.ids = tuple(ids)


@dataclass
class PlacedOrder:
    """A committed order and what happened to its confirmation's enqueue."""

    order: Order
    enqueue: dict[str, object] = field(default_factory=lambda: {"enqueued": False})


def _seeded_loss(order_id: int) -> None:
    """Seeded violation (SHOP_SEEDED_ORDER_LOSS_EVERY=N > 0, suite test profiles only): every
    N-th committed order vanishes after its commit, so the answer still acknowledges it."""
    every = settings.SHOP.seeded_order_loss_every
    if every > 0 and order_id % every == 0:
        Order.objects.filter(id=order_id).delete()
        log.warning("seeded violation: committed order %s deleted after its commit", order_id)


def _mark_for_sweep(order_id: int) -> None:
    """Note in the orders table (the outbox) that this order's confirmation is still to send.
    Never raises: the order is committed whatever happens here."""
    try:
        Order.objects.filter(id=order_id).update(confirm_enqueue_failed=True)
    except Exception as exc:
        log.error("order %s: could not mark its confirmation for the sweep: %s", order_id, exc)


def place_order(
    lines: Sequence[tuple[int, int]], *, inside: Callable[[], None] | None = None
) -> PlacedOrder:
    """Write an order of ``lines`` [(product_id, quantity)] and enqueue its confirmation.

    ``inside`` runs inside the transaction (the probe notes which server ran it). Raises
    UnknownProducts before anything is written; database errors propagate.
    """
    products = Product.objects.in_bulk({pid for pid, _ in lines})
    unknown = sorted({pid for pid, _ in lines if pid not in products})
    if unknown:
        raise UnknownProducts(unknown)
    placed: PlacedOrder | None = None

    def after_commit(order_id: int) -> None:
        # Runs right after COMMIT. Never raises: the order is committed whatever happens here.
        assert placed is not None
        try:
            placed.enqueue["task_id"] = confirm_order.delay(order_id).id
            placed.enqueue["enqueued"] = True
        except Exception as exc:
            log.error("order %s committed but confirm_order not enqueued: %s", order_id, exc)
            placed.enqueue["enqueue_error"] = backends.error_text(exc)
            _mark_for_sweep(order_id)
        _seeded_loss(order_id)

    with db.atomic():
        if inside is not None:
            inside()
        total = sum((products[pid].price * quantity for pid, quantity in lines), start=Decimal("0"))
        order = Order.objects.create(total=total)
        OrderItem.objects.bulk_create(
            OrderItem(
                order=order, product=products[pid], quantity=q, unit_price=products[pid].price
            )
            for pid, q in lines
        )
        placed = PlacedOrder(order=order)
        order_id = order.id
        transaction.on_commit(lambda: after_commit(order_id))
    # Only here is the transaction committed.
    return placed
