"""Session fixtures: real PostgreSQL 15 + redis-server + one redis-sentinel, Django set up."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .servers import Servers, running_servers

APP_DIR = Path(__file__).resolve().parents[2] / "env" / "app"
TOKEN = "probe-secret"


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session", autouse=True)
def servers() -> Iterator[Servers]:
    # SIGTERM (CI timeout) must still run the teardown below: no server left behind.
    previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    saved_env = dict(os.environ)
    try:
        with running_servers() as started:
            os.environ.update(started.env())
            os.environ["DJANGO_SETTINGS_MODULE"] = "shop.settings"
            sys.path.insert(0, str(APP_DIR))
            import django
            from django.core.management import call_command

            django.setup()
            call_command("migrate", verbosity=0)
            yield started
            from django.db import connections

            connections.close_all()
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        signal.signal(signal.SIGTERM, previous)


@pytest.fixture
def client():
    from django.test import Client

    return Client()


@pytest.fixture
def probe_headers() -> dict[str, str]:
    return {"HTTP_X_PROBE_TOKEN": TOKEN}
