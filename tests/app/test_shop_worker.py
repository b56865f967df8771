"""A real Celery worker and a real beat (subprocesses) against the real broker via Sentinel."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .conftest import APP_DIR

CELERY = str(Path(sys.executable).with_name("celery"))
WAIT_S = 15.0


@dataclass
class CeleryProcs:
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: list[Path] = field(default_factory=list)


def wait_for(predicate: Callable[[], Any], what: str, celery: CeleryProcs, timeout=WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    logs = celery.logs
    while time.monotonic() < deadline:
        dead = [name for name, proc in celery.procs.items() if proc.poll() is not None]
        if dead:
            deadline = 0  # report with the logs below
            what = f"{what} (celery {', '.join(dead)} exited)"
            break
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    tails = "\n".join(f"--- {log}:\n{log.read_text()[-3000:]}" for log in logs if log.exists())
    raise AssertionError(f"{what}: not true after {timeout} s\n{tails}")


@pytest.fixture(scope="module")
def celery_procs(servers) -> Iterator[CeleryProcs]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    specs = {
        "worker": [
            CELERY,
            "-A",
            "shop",
            "worker",
            "--loglevel=INFO",
            "--pool=solo",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "--hostname=worker1@%h",
        ],
        "beat": [
            CELERY,
            "-A",
            "shop",
            "beat",
            "--loglevel=INFO",
            "--schedule",
            str(servers.root / "celerybeat-schedule"),
            "--pidfile=",
        ],
    }
    celery = CeleryProcs()
    try:
        for name, cmd in specs.items():
            log = servers.root / f"celery-{name}.log"
            celery.logs.append(log)
            with log.open("wb") as out:
                celery.procs[name] = subprocess.Popen(
                    cmd, cwd=APP_DIR, env=env, stdout=out, stderr=subprocess.STDOUT
                )
        yield celery
    finally:
        for proc in celery.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in celery.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def get_order(client, order_id: int) -> dict[str, Any]:
    return client.get(f"/api/orders?ids={order_id}").json()["orders"][0]


def test_order_is_confirmed_by_the_worker_once_even_if_confirmed_twice(
    client, celery_procs
) -> None:
    from store.models import TaskExecution
    from store.tasks import confirm_order

    response = client.post(
        "/api/orders",
        data=json.dumps({"items": [{"product_id": 5, "quantity": 1}]}),
        content_type="application/json",
    )
    assert response.status_code == 201
    order_id = response.json()["id"]

    confirmed = wait_for(
        lambda: (o := get_order(client, order_id))["status"] == "confirmed" and o,
        f"order {order_id} confirmed",
        celery_procs,
    )
    assert confirmed["confirm_executions"] == 1
    assert confirmed["confirmed_at"] is not None
    execution = TaskExecution.objects.get(task_name="confirm_order", key=str(order_id))
    assert execution.hostname.startswith("worker1@")
    assert execution.task_id == response.json()["task_id"]

    confirm_order.delay(order_id)  # a duplicate delivery
    again = wait_for(
        lambda: (o := get_order(client, order_id))["confirm_executions"] == 2 and o,
        "second confirm_order execution recorded",
        celery_procs,
    )
    assert again["status"] == "confirmed"
    assert again["confirmed_at"] == confirmed["confirmed_at"]  # confirmed once


def test_probe_task_runs_once_per_enqueue(client, probe_headers, celery_procs) -> None:
    seqs = [900_001, 900_002]
    for seq in seqs:
        assert client.post(f"/probe/task?seq={seq}", **probe_headers).status_code == 200
    url = f"/probe/tasks?seqs={seqs[0]},{seqs[1]},900003"
    counts = wait_for(
        lambda: (c := client.get(url, **probe_headers).json()["counts"])["900002"] and c,
        "probe tasks executed",
        celery_procs,
    )
    assert counts == {"900001": 1, "900002": 1, "900003": 0}


def test_probe_task_holds_for_the_asked_time(client, probe_headers, celery_procs) -> None:
    seq = 900_101
    enqueued = time.monotonic()
    resp = client.post(f"/probe/task?seq={seq}&hold_ms=1500", **probe_headers)
    assert resp.status_code == 200, resp.content
    url = f"/probe/tasks?seqs={seq}"
    wait_for(
        lambda: client.get(url, **probe_headers).json()["counts"][str(seq)],
        "held probe task executed",
        celery_procs,
    )
    assert time.monotonic() - enqueued >= 1.5
    too_long = client.post(f"/probe/task?seq={seq + 1}&hold_ms=999999", **probe_headers)
    assert too_long.status_code == 400
    assert "hold_ms must be within 0..5000" in too_long.json()["error"]


def test_beat_ticks_once_per_slot(client, probe_headers, celery_procs) -> None:
    from django.conf import settings

    interval = settings.SHOP_BEAT_INTERVAL  # 1 s in the tests
    url = f"/probe/beat?since={int(time.time()) - 120}"  # excludes other tests' fake ticks
    body = wait_for(
        lambda: len((b := client.get(url, **probe_headers).json())["slots"]) >= 3 and b,
        "three beat slots",
        celery_procs,
    )
    real = body["slots"]
    slots = [s["slot"] for s in real]
    assert slots == list(range(slots[0], slots[0] + len(slots))), "a slot was missed"
    assert all(s["ticks"] == 1 for s in real), real

    from store.models import BeatTick

    tick = BeatTick.objects.filter(slot=slots[-1]).get()
    assert tick.scheduled_at.timestamp() // interval == tick.slot
    assert tick.hostname.startswith("worker1@")
