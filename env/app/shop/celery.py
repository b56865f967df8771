"""Celery application: `celery -A shop worker` / `celery -A shop beat` (cwd env/app)."""

import os
import time

from celery import Celery
from celery.signals import before_task_publish

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
