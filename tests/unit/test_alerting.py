"""The alert recorder and the load-order read-back against tiny HTTP servers on 127.0.0.1.

The fake Alertmanager and the fake shop API are our own boundary (the shape of Alertmanager's
API v2 and of the shop's ``GET /api/orders``); the receiver is the lab's real one.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from hasuite.drivers.alerting import (
    AlertingError,
    AlertRecorder,
    diff_alerts,
    fetch_alerts,
    fetch_notifications,
    parse_alerts,
)
from hasuite.drivers.local.receiver import make_handler
from hasuite.drivers.readback import fetch_key_check, fetch_ledger_check, fetch_order_read_back
from hasuite.errors import HasuiteError


@contextmanager
def http_server(answer: Callable[[str, str], tuple[int, Any]]) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = answer("GET", self.path)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def am_alert(name: str, severity: str = "critical", fp: str | None = None) -> dict[str, Any]:
    return {
        "labels": {"alertname": name, "severity": severity, "component": "redis"},
        "fingerprint": fp or name,
        "startsAt": "2026-11-28T00:00:00Z",
        "status": {"state": "active"},
    }


def test_parse_and_diff_give_firing_then_resolved() -> None:
    first = parse_alerts([am_alert("A")])
    events = diff_alerts(None, first, at=1.0, wall=101.0)
    assert [(e.kind, e.detail["alertname"], e.detail.get("already_firing")) for e in events] == [
        ("alert-firing", "A", True)
    ]
    second = parse_alerts([am_alert("B", "warning")])
    kinds = [(e.kind, e.detail["alertname"]) for e in diff_alerts(first, second, at=2, wall=102)]
    assert kinds == [("alert-firing", "B"), ("alert-resolved", "A")]
    assert diff_alerts(second, second, at=3, wall=103) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [({"alerts": []}, "expected a JSON list"), ([{"fingerprint": "x"}], "without labels")],
)
def test_unreadable_alert_lists_are_errors(body: Any, message: str) -> None:
    with pytest.raises(AlertingError, match=message):
        parse_alerts(body)


def test_recorder_polls_state_changes() -> None:
    held: list[dict[str, Any]] = []
    with http_server(lambda m, p: (200, list(held))) as url:
        rec = AlertRecorder(url, poll_s=0.05)
        rec.check()
        rec.start()
        time.sleep(0.2)
        held.append(am_alert("RedisInstanceDown", "warning"))
        deadline = time.monotonic() + 3
        while "RedisInstanceDown" not in rec.firing() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert rec.firing(["RedisInstanceDown"]) == {"RedisInstanceDown"}
        held.clear()
        while rec.firing() and time.monotonic() < deadline:
            time.sleep(0.02)
        rec.stop()
    kinds = [(e.kind, e.detail["alertname"]) for e in rec.events()]
    assert kinds == [
        ("alert-firing", "RedisInstanceDown"),
        ("alert-resolved", "RedisInstanceDown"),
    ]
    assert rec.failed_polls == 0 and rec.polls >= 3


def test_unreachable_or_failing_alertmanager_raises_with_the_url() -> None:
    with pytest.raises(AlertingError, match=r"Alertmanager unreachable: GET http://127.0.0.1:9"):
        fetch_alerts("http://127.0.0.1:9", timeout_s=1)
    with http_server(lambda m, p: (503, {"error": "down"})) as url:
        with pytest.raises(AlertingError, match="HTTP 503"):
            fetch_alerts(url)
        rec = AlertRecorder(url, poll_s=0.05)
        rec.poll_once()
        time.sleep(0.1)
        rec.poll_once()
    assert rec.failed_polls == 2 and rec.polls == 0
    assert rec.unreachable_s >= 0.1
    assert rec.last_error is not None and "503" in rec.last_error


def test_receiver_notifications_are_read_back_since_a_time(tmp_path: Path) -> None:
    out = tmp_path / "notifications.jsonl"
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(out))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        requests.post(url, json={"status": "firing", "alerts": [am_alert("A")]}, timeout=5)
        since = time.time()
        requests.post(url, json={"status": "resolved", "alerts": [am_alert("A")]}, timeout=5)
        everything = fetch_notifications(url)
        recent = fetch_notifications(url, since_wall=since)
    finally:
        server.shutdown()
        server.server_close()
    assert [n["payload"]["status"] for n in everything] == ["firing", "resolved"]
    assert [n["payload"]["status"] for n in recent] == ["resolved"]
    with pytest.raises(AlertingError, match="receiver unreachable"):
        fetch_notifications("http://127.0.0.1:9", timeout_s=1)


class Shop:
    """GET /api/orders?ids=: orders 1..n exist except ``lost``; confirmed after ``confirm_at``."""

    def __init__(self, lost: set[int], confirm_after_reads: int) -> None:
        self.lost = lost
        self.reads = 0
        self.confirm_after_reads = confirm_after_reads

    def answer(self, method: str, path: str) -> tuple[int, Any]:
        url = urlparse(path)
        if url.path != "/api/orders":
            return 404, {"error": "not found"}
        self.reads += 1
        ids = [int(i) for i in parse_qs(url.query)["ids"][0].split(",")]
        status = "confirmed" if self.reads > self.confirm_after_reads else "pending"
        orders = [
            {"id": i, "status": status if i != 3 else "pending", "confirm_executions": 1}
            for i in ids
            if i not in self.lost
        ]
        return 200, {"orders": orders, "missing": [i for i in ids if i in self.lost]}


class FakeClock:
    """Monotonic time that moves only when slept on."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_order_read_back_finds_lost_and_waits_for_confirmation() -> None:
    shop = Shop(lost={2}, confirm_after_reads=1)
    clock = FakeClock(100.0)
    with http_server(shop.answer) as url:
        back = fetch_order_read_back(
            url, ["1", "2", "3", "4"], confirm_until=101.5, clock=clock, sleep=clock.sleep
        )
    assert back.check.present == {"1", "3", "4"}
    assert back.confirmed == {"1", "4"}  # 3 stays pending, re-read until the wait ran out
    assert shop.reads == 3 and clock.slept == [1.0, 1.0]  # once a second until 101.5
    # first seen confirmed at the second read (after 1 s), not at the first (pending then)
    assert back.confirmed_seen == {"1": 101.0, "4": 101.0}


def test_order_read_back_without_a_deadline_reads_once() -> None:
    shop = Shop(lost=set(), confirm_after_reads=1)
    with http_server(shop.answer) as url:
        back = fetch_order_read_back(url, ["1", "2"])
    assert shop.reads == 1 and back.confirmed == frozenset()


def test_order_read_back_that_cannot_read_is_an_error() -> None:
    clock = FakeClock()
    failing = http_server(lambda m, p: (503, {"ok": False, "error": "OperationalError"}))
    with failing as url, pytest.raises(HasuiteError, match="GET /api/orders failed for 2 s"):
        fetch_order_read_back(url, ["1"], retry_for_s=2, clock=clock, sleep=clock.sleep)
    assert clock.slept == [0.5] * 4  # retried every 0.5 s until the bound
    with pytest.raises(HasuiteError, match="whole numbers"):
        fetch_order_read_back("http://127.0.0.1:9", ["x1"])


@pytest.mark.parametrize("read", ["ledger", "keys"])
def test_unreadable_task_ledger_and_keys_retry_for_the_default_bound_then_raise(
    read: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hasuite.drivers import readback

    clock = FakeClock()
    with http_server(lambda m, p: (503, {"ok": False, "error": "OperationalError"})) as url:
        with pytest.raises(HasuiteError, match="failed for 30 s: http 503") as err:
            if read == "ledger":
                fetch_ledger_check(url, "t", task_seqs=[1, 2], clock=clock, sleep=clock.sleep)
            else:
                fetch_key_check(url, "t", ["k1"], clock=clock, sleep=clock.sleep)
        # the default bound, slept on the given clock
        assert sum(clock.slept) == readback.RETRY_FOR_S == 30.0
        assert ("2 seqs unread" if read == "ledger" else "1 keys unread") in str(err.value)
        monkeypatch.setattr(readback, "RETRY_FOR_S", 1.0)  # read at call time
        with pytest.raises(HasuiteError, match="failed for 1 s"):
            fetch_key_check(url, "t", ["k1"], clock=clock, sleep=clock.sleep)
