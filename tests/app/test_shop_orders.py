"""One order path for users and probes; the seeded order loss; the confirmation sweep."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

ORDER = {"items": [{"product_id": 1, "quantity": 1}]}


def queue_length() -> int:
    from store.backends import redis_master
    from store.metrics import QUEUE

    return int(redis_master().llen(QUEUE))


def test_order_probe_places_a_real_order_through_the_users_path(
    client, probe_headers, servers
) -> None:
    from store.models import Order

    before = queue_length()
    response = client.post("/probe/order?seq=7", **probe_headers)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] is True and body["enqueued"] is True and len(body["task_id"]) == 36
    assert body["backend"]["address"] == f"127.0.0.1:{servers.pg_port}"
    order = Order.objects.get(id=body["id"])
    assert order.status == "pending" and order.items.count() == 1
    assert queue_length() == before + 1  # the confirmation, enqueued after the commit
    # the shop's own read-back finds it, like any user's order
    read = client.get(f"/api/orders?ids={body['id']}").json()
    assert [o["id"] for o in read["orders"]] == [body["id"]]


def test_order_probe_needs_the_token(client) -> None:
    assert client.post("/probe/order").status_code == 403


def test_seeded_order_loss_acknowledges_then_loses_every_nth_order(client) -> None:
    from django.conf import settings
    from django.test import override_settings

    seeded = dataclasses.replace(settings.SHOP, seeded_order_loss_every=1)
    with override_settings(SHOP=seeded):
        answer = client.post("/api/orders", data=json.dumps(ORDER), content_type="application/json")
    assert answer.status_code == 201, answer.content
    order_id = answer.json()["id"]
    read = client.get(f"/api/orders?ids={order_id}").json()
    assert read["missing"] == [order_id]  # acknowledged with 201, then gone
    kept = client.post("/api/orders", data=json.dumps(ORDER), content_type="application/json")
    assert client.get(f"/api/orders?ids={kept.json()['id']}").json()["missing"] == []


def test_sweep_re_enqueues_only_orders_pending_longer_than_the_setting() -> None:
    from django.conf import settings
    from django.test import override_settings
    from django.utils import timezone
    from store.models import Order
    from store.tasks import sweep_unconfirmed_orders

    Order.objects.filter(status="pending").update(status="confirmed")
    long_ago = timezone.now() - timedelta(seconds=30)
    failed = Order.objects.create(total=1, confirm_enqueue_failed=True)
    Order.objects.filter(id=failed.id).update(created=long_ago)
    slow = Order.objects.create(total=1)  # enqueued, its task still retrying: not swept
    Order.objects.filter(id=slow.id).update(created=long_ago)
    Order.objects.create(total=1, confirm_enqueue_failed=True)  # too recent for this sweep
    before = queue_length()
    with override_settings(SHOP=dataclasses.replace(settings.SHOP, confirm_sweep_s=10)):
        swept = sweep_unconfirmed_orders.apply().get()
    assert swept == 1
    assert queue_length() == before + 1
    failed.refresh_from_db()
    assert failed.confirm_enqueue_failed is False  # sent: the mark is cleared


def test_a_failed_enqueue_marks_the_order_for_the_sweep(client) -> None:
    from unittest import mock

    from store.models import Order
    from store.tasks import confirm_order

    with mock.patch.object(confirm_order, "delay", side_effect=ConnectionError("broker down")):
        answer = client.post("/api/orders", data=json.dumps(ORDER), content_type="application/json")
    assert answer.status_code == 201, answer.content  # committed: never an error answer
    body = answer.json()
    assert body["enqueued"] is False and "broker down" in body["enqueue_error"]
    assert Order.objects.get(id=body["id"]).confirm_enqueue_failed is True


def test_the_sweep_is_scheduled_only_when_enabled() -> None:
    from django.conf import settings

    # the test servers run the app as written (SHOP_CONFIRM_SWEEP_S unset = 0)
    assert settings.SHOP.confirm_sweep_s == 0
    assert "sweep-unconfirmed-orders" not in settings.CELERY_BEAT_SCHEDULE
