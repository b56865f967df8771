"""Pages, JSON API, health and metrics against real PostgreSQL and Redis (via Sentinel)."""

from __future__ import annotations

import json

import pytest


def post_order(client, body):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post("/api/orders", data=data, content_type="application/json")


def counts() -> tuple[int, int]:
    from store.models import Order, OrderItem

    return Order.objects.count(), OrderItem.objects.count()


def test_healthz(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_when_everything_answers(client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "ready": True,
        "failed": [],
        "checks": {"database": "ok", "redis": "ok"},
    }


def test_catalogue_api_is_seeded_and_cached(client) -> None:
    from django.core.cache import cache
    from store.views import CATALOGUE_KEY

    cache.delete(CATALOGUE_KEY)
    first = client.get("/api/products").json()
    second = client.get("/api/products").json()
    assert len(first["products"]) == 20
    assert first["cached"] is False
    assert second["cached"] is True
    assert second["products"] == first["products"]
    assert set(first["products"][0]) == {"id", "name", "metal", "weight_grams", "price"}


def test_catalogue_and_product_pages(client) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert b"Solitaire ring" in page.content
    assert client.get("/products/1").status_code == 200
    assert b"Solitaire ring" in client.get("/products/1").content
    assert client.get("/products/99999").status_code == 404


def test_product_api(client) -> None:
    assert client.get("/api/products/2").json()["name"] == "Eternity band"
    missing = client.get("/api/products/99999")
    assert missing.status_code == 404
    assert "99999" in missing.json()["error"]


def test_order_is_written_and_readable(client) -> None:
    response = post_order(
        client, {"items": [{"product_id": 1, "quantity": 2}, {"product_id": 7, "quantity": 1}]}
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["status"] == "pending"
    assert created["total"] == "5060.00"  # 2 x 2450.00 + 160.00
    assert created["enqueued"] is True

    order = client.get(f"/api/orders/{created['id']}").json()
    assert order["id"] == created["id"]
    assert order["total"] == "5060.00"
    assert order["items"] == [
        {"product_id": 1, "quantity": 2, "unit_price": "2450.00"},
        {"product_id": 7, "quantity": 1, "unit_price": "160.00"},
    ]
    assert order["confirmed_at"] is None
    assert order["confirm_executions"] == 0


def test_batch_order_read_reports_missing_ids(client) -> None:
    ids = [post_order(client, {"items": [{"product_id": 3, "quantity": 1}]}).json()["id"]]
    ids.append(post_order(client, {"items": [{"product_id": 4, "quantity": 3}]}).json()["id"])
    response = client.get(f"/api/orders?ids={ids[0]},{ids[1]},987654")
    assert response.status_code == 200
    body = response.json()
    assert [o["id"] for o in body["orders"]] == ids
    assert body["missing"] == [987654]
    assert set(body["orders"][1]) == {
        "id",
        "status",
        "total",
        "created",
        "confirmed_at",
        "confirm_executions",
    }
    assert body["orders"][1]["total"] == "720.00"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", '"items"'),
        ({"items": []}, "non-empty"),
        ({"items": "x"}, "non-empty"),
        ({"items": [{"product_id": 999999, "quantity": 1}]}, "unknown product id(s): 999999"),
        ({"items": [{"product_id": "1", "quantity": 1}]}, "product_id must be an integer"),
        ({"items": [{"product_id": 1, "quantity": 0}]}, "quantity must be an integer from 1"),
        ({"items": [{"product_id": 1, "quantity": -2}]}, "quantity"),
        ({"items": [{"product_id": 1, "quantity": 2.5}]}, "quantity"),
        ({"items": [{"product_id": 1, "quantity": True}]}, "quantity"),
        ({"items": [{"product_id": 1}]}, "quantity"),
        ({"items": [1]}, "items[0] must be an object"),
    ],
)
def test_bad_orders_answer_400_and_write_nothing(client, body, message) -> None:
    before = counts()
    response = post_order(client, body)
    assert response.status_code == 400, response.content
    assert message in response.json()["error"]
    assert counts() == before


@pytest.mark.parametrize("query", ["", "?ids=", "?ids=1,x", "?ids=" + ",".join(["1"] * 1001)])
def test_bad_batch_reads_answer_400(client, query: str) -> None:
    response = client.get("/api/orders" + query)
    assert response.status_code == 400
    assert "ids" in response.json()["error"]


def test_unknown_order_is_404_json(client) -> None:
    response = client.get("/api/orders/999999")
    assert response.status_code == 404
    assert response.json() == {"error": "order 999999 does not exist"}


def test_wrong_method_is_rejected(client) -> None:
    assert client.delete("/api/orders").status_code == 405
    assert client.post("/api/products").status_code == 405


def scrape(client) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    response = client.get("/metrics")
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def test_metrics_include_django_and_shop_gauges(client) -> None:
    from store.models import BeatTick

    BeatTick.objects.create(slot=1, hostname="test")
    last = BeatTick.objects.latest("ran_at").ran_at.timestamp()
    samples = scrape(client)
    assert any(name.startswith("django_http_requests_total_by_method") for name in samples)
    assert samples["shop_beat_last_tick_timestamp_seconds"] == pytest.approx(last)
    assert samples["shop_celery_queue_length{queue=celery}"] >= 0
