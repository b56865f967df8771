"""The jewelry-shop workload: people browsing, viewing products, ordering and checking orders.

Run it on its own, following Locust's conventions (host, users, spawn rate and run time are
Locust's own options)::

    locust -f loadtests/locustfile.py --host http://127.0.0.1:8080            # web UI on :8089
    locust -f loadtests/locustfile.py --host http://127.0.0.1:8080 --headless -u 20 -r 5 -t 30s

Custom options (command line, or the environment variable in brackets; also in the web UI):

``--fixed-rate RPS`` [``HASUITE_LOAD_FIXED_RATE``]
    0 (default): think-time mode, each user waits ``--think-min``..``--think-max`` seconds
    between tasks, like a person. > 0: fixed-rate mode, the users together start about RPS tasks
    (= requests) per second, whatever the latency (a constant-pacing wait time per user of
    ``users / RPS`` seconds). Reached once all users are spawned; a user whose requests take
    longer than its interval falls behind (no catch-up bursts), so the achieved rate tells
    whether the users were enough.
``--think-min S``, ``--think-max S`` [``HASUITE_LOAD_THINK_MIN``, ``HASUITE_LOAD_THINK_MAX``]
    think time bounds in think-time mode (default 1 and 3 s).
``--request-timeout S`` [``HASUITE_LOAD_REQUEST_TIMEOUT``]
    every request's timeout (default 10 s): a hung request becomes a ``timeout`` failure.
``--record-file PATH`` [``HASUITE_LOAD_RECORD``]
    when set, every request is appended to PATH as one JSON line (buffered, flushed every
    ``--record-flush`` seconds (default 0.5) and at stop/quit)::

        {"event": "request", "wall": 1767225600.123, "mono": 81234.567, "method": "POST",
         "name": "/api/orders", "status": 201, "ok": true, "latency_s": 0.0123,
         "error": null, "detail": null, "order_id": "42"}

    ``wall`` (epoch s) and ``mono`` (``time.monotonic()``, CLOCK_MONOTONIC: the same clock as the
    suite's process) are taken when the request COMPLETED; it started ``latency_s`` earlier.
    ``error`` is a short kind (``http-503``, ``connection-refused``, ``connection-reset``,
    ``timeout``, ``bad-response``, or the exception class name), ``detail`` the message
    (truncated). ``order_id`` is set only when an order was acknowledged (201 with an id): these
    lines are the ledger the suite reads back after recovery. Lines with ``"event": "start"`` /
    ``"stop"`` mark the test's start and stop (``wall``, ``mono``, ``users``, ``fixed_rate``).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import random
import time
from typing import Any

import gevent
from locust import HttpUser, events, task
from locust.env import Environment

logger = logging.getLogger(__name__)

PRODUCT_IDS_FALLBACK = tuple(range(1, 21))  # the app seeds 20 products
MAX_KNOWN_ORDERS = 50  # orders a user remembers for checking
DETAIL_CHARS = 200


# --------------------------------------------------------------------------------------------
# Custom options
# --------------------------------------------------------------------------------------------


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    group = parser.add_argument_group("hasuite shop workload")
    group.add_argument(
        "--fixed-rate",
        type=float,
        default=0.0,
        env_var="HASUITE_LOAD_FIXED_RATE",
        help="total task (request) rate per second in fixed-rate mode; 0 = think-time mode",
    )
    group.add_argument(
        "--think-min",
        type=float,
        default=1.0,
        env_var="HASUITE_LOAD_THINK_MIN",
        help="shortest think time (s) between a user's tasks in think-time mode",
    )
    group.add_argument(
        "--think-max",
        type=float,
        default=3.0,
        env_var="HASUITE_LOAD_THINK_MAX",
        help="longest think time (s) between a user's tasks in think-time mode",
    )
    group.add_argument(
        "--request-timeout",
        type=float,
        default=10.0,
        env_var="HASUITE_LOAD_REQUEST_TIMEOUT",
        help="timeout (s) of every request",
    )
    group.add_argument(
        "--record-file",
        type=str,
        default="",
        env_var="HASUITE_LOAD_RECORD",
        help="append one JSON line per request to this file (empty: no records)",
    )
    group.add_argument(
        "--record-flush",
        type=float,
        default=0.5,
        env_var="HASUITE_LOAD_RECORD_FLUSH",
        help="seconds between flushes of the record buffer",
    )


def _option(env: Environment, name: str, default: Any) -> Any:
    opts = env.parsed_options
    return getattr(opts, name, default) if opts is not None else default


# --------------------------------------------------------------------------------------------
# Per-request records
# --------------------------------------------------------------------------------------------


class RecordWriter:
    """Buffers JSON lines in memory and appends them to a file from a flusher greenlet."""

    def __init__(self, path: str, flush_s: float) -> None:
        self.path = path
        self.flush_s = max(flush_s, 0.05)
        self.buffer: list[str] = []
        self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed at quit
        self.greenlet = gevent.spawn(self._loop)

    def add(self, record: dict[str, Any]) -> None:
        self.buffer.append(json.dumps(record, separators=(",", ":")))

    def flush(self) -> None:
        if self.buffer and not self.file.closed:
            lines, self.buffer = self.buffer, []
            self.file.write("\n".join(lines) + "\n")
            self.file.flush()

    def _loop(self) -> None:
        while True:
            gevent.sleep(self.flush_s)
            try:
                self.flush()
            except OSError:
                logger.exception("cannot write load records to %s", self.path)

    def close(self) -> None:
        self.greenlet.kill(block=False)
        self.flush()
        self.file.close()


_writer: RecordWriter | None = None


@events.init.add_listener
def _open_records(environment: Environment, **_: Any) -> None:
    global _writer
    path = _option(environment, "record_file", "")
    if path and _writer is None:
        _writer = RecordWriter(path, float(_option(environment, "record_flush", 0.5)))


def _marker(kind: str, environment: Environment) -> None:
    if _writer is None:
        return
    runner = environment.runner
    _writer.add(
        {
            "event": kind,
            "wall": time.time(),
            "mono": time.monotonic(),
            "users": getattr(runner, "target_user_count", None)
            or _option(environment, "num_users", None),
            "fixed_rate": _option(environment, "fixed_rate", 0.0),
            "pid": os.getpid(),
        }
    )
    _writer.flush()


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    _marker("start", environment)


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_: Any) -> None:
    _marker("stop", environment)


@events.quitting.add_listener
def _flush_records(environment: Environment, **_: Any) -> None:
    # On SIGTERM Locust fires ``quitting`` BEFORE it stops the users (which then still get
    # --stop-timeout to finish their requests and fires ``test_stop``): flush, but keep the file
    # open; it is closed (and flushed a last time) when the process exits.
    if _writer is not None:
        _writer.flush()


@atexit.register
def _close_records() -> None:
    global _writer
    if _writer is not None:
        _writer.close()
        _writer = None


def classify(status: int | None, exception: BaseException | None) -> str | None:
    """The failure kind of a request, or None when it succeeded."""
    if exception is None and status is not None and 0 < status < 400:
        return None
    if status is not None and status >= 400:
        return f"http-{status}"
    text = f"{type(exception).__name__}: {exception}".lower() if exception else ""
    if "timeout" in text or "timed out" in text:
        return "timeout"
    if "refused" in text:
        return "connection-refused"
    if "reset" in text or "remotedisconnected" in text or "aborted" in text:
        return "connection-reset"
    if exception is not None and type(exception).__name__ == "CatchResponseError":
        return "bad-response"
    return type(exception).__name__ if exception is not None else "no-response"


@events.request.add_listener
def _record_request(
    request_type: str,
    name: str,
    response_time: float,
    response: Any = None,
    context: dict[str, Any] | None = None,
    exception: BaseException | None = None,
    **_: Any,
) -> None:
    if _writer is None:
        return
    status = getattr(response, "status_code", None)
    error = classify(status, exception)
    order_id = None
    if error is None and context and context.get("ledger") == "order" and status == 201:
        try:
            body = response.json()
            order_id = str(body["id"]) if isinstance(body, dict) and "id" in body else None
        except ValueError:
            order_id = None
    _writer.add(
        {
            "event": "request",
            "wall": time.time(),
            "mono": time.monotonic(),
            "method": request_type,
            "name": name,
            "status": status,
            "ok": error is None,
            "latency_s": round(response_time / 1000.0, 6),
            "error": error,
            "detail": str(exception)[:DETAIL_CHARS] if exception is not None else None,
            "order_id": order_id,
        }
    )


# --------------------------------------------------------------------------------------------
# The shop's users
# --------------------------------------------------------------------------------------------


class ShopUser(HttpUser):
    """A shop visitor: mostly browsing, some product views, a few orders, checking its orders."""

    def on_start(self) -> None:
        self.timeout = float(_option(self.environment, "request_timeout", 10.0))
        self.product_ids: list[int] = list(PRODUCT_IDS_FALLBACK)
        self.orders: list[str] = []
        self._next_run: float | None = None
        with self.client.get(
            "/api/products", name="/api/products", timeout=self.timeout, catch_response=True
        ) as resp:
            try:
                ids = [int(p["id"]) for p in resp.json()["products"]]
            except (ValueError, KeyError, TypeError):
                ids = []
            if resp.status_code == 200 and ids:
                self.product_ids = ids
            elif resp.status_code == 200:
                resp.failure("product list without products")

    def wait_time(self) -> float:
        rate = float(_option(self.environment, "fixed_rate", 0.0))
        if rate <= 0:
            low = float(_option(self.environment, "think_min", 1.0))
            high = float(_option(self.environment, "think_max", 3.0))
            return random.uniform(low, max(low, high))
        users = getattr(self.environment.runner, "target_user_count", None)
        users = users or _option(self.environment, "num_users", None) or 1
        interval = max(int(users), 1) / rate
        now = time.monotonic()
        if self._next_run is None:  # spread users over one interval instead of marching
            self._next_run = now + random.uniform(0, interval)
        else:
            self._next_run = max(self._next_run + interval, now)
        return self._next_run - now

    def _product(self) -> int:
        return random.choice(self.product_ids)

    @task(10)
    def browse_catalogue(self) -> None:
        self.client.get("/", name="/", timeout=self.timeout)

    @task(5)
    def list_products(self) -> None:
        self.client.get("/api/products", name="/api/products", timeout=self.timeout)

    @task(6)
    def view_product_page(self) -> None:
        self.client.get(f"/products/{self._product()}", name="/products/[id]", timeout=self.timeout)

    @task(3)
    def view_product_api(self) -> None:
        self.client.get(
            f"/api/products/{self._product()}", name="/api/products/[id]", timeout=self.timeout
        )

    @task(2)
    def create_order(self) -> None:
        count = min(random.randint(1, 3), len(self.product_ids))
        items = [
            {"product_id": pid, "quantity": random.randint(1, 3)}
            for pid in random.sample(self.product_ids, k=count)
        ]
        with self.client.post(
            "/api/orders",
            json={"items": items},
            name="/api/orders",
            timeout=self.timeout,
            catch_response=True,
            context={"ledger": "order"},
        ) as resp:
            if resp.status_code != 201:
                return  # already a failure (>= 400) or an unexpected success code
            try:
                order_id = str(resp.json()["id"])
            except (ValueError, KeyError, TypeError):
                resp.failure("201 without an order id")
                return
            self.orders = [*self.orders[-(MAX_KNOWN_ORDERS - 1) :], order_id]

    @task(1)
    def check_order(self) -> None:
        if not self.orders:
            self.browse_catalogue()
            return
        order_id = random.choice(self.orders)
        self.client.get(f"/api/orders/{order_id}", name="/api/orders/[id]", timeout=self.timeout)

    @task(1)
    def check_my_orders(self) -> None:
        if not self.orders:
            self.list_products()
            return
        ids = ",".join(self.orders[-10:])
        self.client.get(f"/api/orders?ids={ids}", name="/api/orders?ids", timeout=self.timeout)
