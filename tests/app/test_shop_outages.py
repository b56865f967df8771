"""A stopped backend answers 503 quickly, names what failed, and never 500s /metrics.

"Stopped" = SIGSTOP: the port still accepts TCP connections (kernel backlog) but nothing
answers, the worst case for timeouts (a refused connection would fail instantly).
"""

from __future__ import annotations

import contextlib
import math
import signal
import time
from collections.abc import Iterator

from .test_shop_api import scrape

# Budget for one request while a backend hangs: the configured timeouts plus slack.
REDIS_BOUND_S = 3.0  # 0.5 s socket timeouts (tests), one retry per command
DB_BOUND_S = 4.5  # connect_timeout 2 s


@contextlib.contextmanager
def frozen(servers, name: str) -> Iterator[None]:
    proc = servers.procs[name]
    if name == "postgres":
        from django.db import connections

        connections.close_all()  # force a new connection to the frozen postmaster
    proc.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGCONT)


def timed(call):
    start = time.monotonic()
    response = call()
    return response, time.monotonic() - start


def test_redis_down_is_visible_and_bounded(client, probe_headers, servers) -> None:
    with frozen(servers, "redis"):
        ready, elapsed = timed(lambda: client.get("/readyz"))
        assert ready.status_code == 503
        assert ready.json()["failed"] == ["redis"]
        assert "Timeout" in ready.json()["checks"]["redis"]
        assert elapsed < REDIS_BOUND_S

        cache, elapsed = timed(lambda: client.post("/probe/cache?key=a&value=b", **probe_headers))
        assert cache.status_code == 503
        assert cache.json()["ok"] is False
        assert cache.json()["error"]
        # Sentinel still answers, so the answer names the (unresponsive) master.
        assert cache.json()["backend"]["address"] == f"127.0.0.1:{servers.redis_port}"
        assert elapsed < REDIS_BOUND_S

        task, elapsed = timed(lambda: client.post("/probe/task?seq=1", **probe_headers))
        assert task.status_code == 503
        assert elapsed < REDIS_BOUND_S

        # The order commits; the failed enqueue is reported, and the order stays pending.
        order, elapsed = timed(
            lambda: client.post(
                "/api/orders",
                data='{"items": [{"product_id": 2, "quantity": 1}]}',
                content_type="application/json",
            )
        )
        assert order.status_code == 201, order.content
        assert order.json()["enqueued"] is False
        assert order.json()["enqueue_error"]
        assert elapsed < REDIS_BOUND_S
        stored = client.get(f"/api/orders/{order.json()['id']}").json()
        assert stored["status"] == "pending"

        # The catalogue degrades to the database instead of failing.
        products = client.get("/api/products")
        assert products.status_code == 200
        assert products.json()["cached"] is False

        metrics, elapsed = timed(lambda: scrape(client))
        assert math.isnan(metrics["shop_celery_queue_length{queue=celery}"])
        assert elapsed < REDIS_BOUND_S
    assert client.get("/readyz").status_code == 200


def test_postgres_down_is_visible_and_bounded(client, probe_headers, servers) -> None:
    with frozen(servers, "postgres"):
        ready, elapsed = timed(lambda: client.get("/readyz"))
        assert ready.status_code == 503
        assert ready.json()["failed"] == ["database"]
        assert elapsed < DB_BOUND_S

        write, elapsed = timed(lambda: client.post("/probe/db?seq=9", **probe_headers))
        assert write.status_code == 503
        assert write.json()["ok"] is False
        assert "OperationalError" in write.json()["error"]
        assert elapsed < DB_BOUND_S

        order, elapsed = timed(
            lambda: client.post(
                "/api/orders",
                data='{"items": [{"product_id": 1, "quantity": 1}]}',
                content_type="application/json",
            )
        )
        assert order.status_code == 503
        assert order.json()["failed_backend"] == "postgres"
        assert elapsed < DB_BOUND_S

        metrics = scrape(client)
        assert math.isnan(metrics["shop_beat_last_tick_timestamp_seconds"])
    from django.db import connections

    connections.close_all()
    assert client.get("/readyz").status_code == 200


def test_readyz_names_redis_when_sentinel_points_nowhere(client) -> None:
    import dataclasses

    from django.conf import settings
    from django.test import override_settings

    from .servers import free_port

    closed = (("127.0.0.1", free_port()),)
    with override_settings(SHOP=dataclasses.replace(settings.SHOP, redis_sentinels=closed)):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["redis"]
    assert "MasterNotFoundError" in response.json()["checks"]["redis"]
