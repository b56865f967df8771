"""Celery application: `celery -A shop worker` / `celery -A shop beat` (cwd env/app)."""

import os
import time

from celery import Celery
from celery.signals import before_task_publish, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")

app = Celery("shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@before_task_publish.connect
def _stamp_scheduled_time(sender: str | None = None, headers: dict | None = None, **_: object):
    """Beat publishes refresh_metal_prices at its scheduled time: record that instant."""
    from store.beat import SCHEDULED_AT_HEADER

    if sender == "store.tasks.refresh_metal_prices" and headers is not None:
        headers.setdefault(SCHEDULED_AT_HEADER, time.time())


@worker_init.connect
def _serve_worker_metrics(**_: object) -> None:
    """Expose a tiny /metrics per worker (SHOP_WORKER_METRICS_PORT) so Prometheus sees it up.

    Started in the worker's main process before the pool forks; children do not inherit the
    listening thread.
    """
    port = os.environ.get("SHOP_WORKER_METRICS_PORT")
    if not port:
        return
    from prometheus_client import Gauge, start_http_server

    Gauge("shop_celery_worker_up", "1 while this Celery worker process runs").set(1)
    start_http_server(int(port), addr=os.environ.get("SHOP_WORKER_METRICS_ADDR", "127.0.0.1"))
