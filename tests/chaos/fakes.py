"""A fake Target and a fake app (real HTTP on 127.0.0.1) for the chaos glue's tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import yaml

from hasuite.errors import InjectionError
from hasuite.model import Injection
from hasuite.target import Endpoints, Instance

TOKEN = "test-token"


@dataclass
class FakeApp:
    """The probe endpoints and the order read-back of env/app, in memory.

    ``down_until`` (monotonic) fails writes; ``lose`` holds order ids acknowledged and then
    "lost" (absent from the read-back); ``unconfirmed`` order ids never confirmed.
    """

    down_until: float = 0.0
    delay_s: float = 0.0  # every POST hangs this long (a hung backend)
    lose: set[int] = field(default_factory=set)
    unconfirmed: set[int] = field(default_factory=set)
    orders: dict[int, int] = field(default_factory=dict)  # order id -> rows
    tasks: dict[int, int] = field(default_factory=dict)
    keys: set[str] = field(default_factory=set)
    lose_keys: set[str] = field(default_factory=set)  # acknowledged, then gone
    next_order: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def down(self) -> bool:
        return time.monotonic() < self.down_until

    def place(self) -> int:
        """An order acknowledged by the shop (a user's or the probe's): its id."""
        with self.lock:
            self.next_order += 1
            order_id = self.next_order
            if order_id not in self.lose:
                self.orders[order_id] = 1
        return order_id

    def handle(self, method: str, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        def ints(name: str) -> list[int]:
            return [int(s) for s in query[name][0].split(",")]

        if path == "/readyz":
            return (503, {"ready": False}) if self.down() else (200, {"ready": True})
        if method == "POST" and path in ("/probe/order", "/probe/task", "/probe/cache"):
            time.sleep(self.delay_s)
            if self.down():
                return 503, {"ok": False, "error": "OperationalError: down", "backend": None}
            backend = {"kind": "postgres", "address": "127.0.0.1:5432", "in_recovery": False}
            if path == "/probe/cache":
                key = query["key"][0]
                with self.lock:
                    if key not in self.lose_keys:
                        self.keys.add(key)
                return 200, {"ok": True, "key": key, "backend": backend}
            if path == "/probe/order":
                return 200, {"ok": True, "id": self.place(), "enqueued": True, "backend": backend}
            seq = int(query["seq"][0])
            with self.lock:
                self.tasks[seq] = self.tasks.get(seq, 0) + 1
            return 200, {"ok": True, "seq": seq, "backend": backend}
        if method == "GET" and path == "/probe/cache":
            keys = query["keys"][0].split(",")
            with self.lock:
                return 200, {"ok": True, "present": [k for k in keys if k in self.keys]}
        if method == "GET" and path == "/api/orders":
            with self.lock:
                ids = ints("ids")
                found = [
                    {
                        "id": i,
                        "status": "pending" if i in self.unconfirmed else "confirmed",
                        "confirm_executions": 0 if i in self.unconfirmed else 1,
                    }
                    for i in ids
                    if i in self.orders
                ]
            return 200, {"orders": found, "missing": [i for i in ids if i not in self.orders]}
        if method == "GET" and path == "/probe/tasks":
            with self.lock:
                if "since_seq" in query:
                    since = int(query["since_seq"][0])
                    counts = {str(s): n for s, n in self.tasks.items() if s >= since}
                else:
                    counts = {str(s): self.tasks.get(s, 0) for s in ints("seqs")}
            return 200, {"ok": True, "counts": counts}
        return 404, {"error": "not found"}


ROOT = Path(__file__).resolve().parents[2]


def fast_experiments(tmp_path: Path, name: str, *, alerts: bool = False, **ext_update: Any) -> Path:
    """A folder holding experiments/<name>.yaml with short waits and no Locust load (the fake app
    has no shop API). Without ``alerts`` also no alert names or ALERT-* promises (the fake target
    has no Alertmanager); ``ext_update`` overrides fields of the hasuite extension."""
    experiment = yaml.safe_load((ROOT / "experiments" / f"{name}.yaml").read_text())
    ext = next(e for e in experiment["extensions"] if e.get("name") == "hasuite")
    ext.pop("load", None)
    if not alerts:
        ext.pop("alerts", None)
        ext["promises"] = [p for p in ext["promises"] if not p.startswith("ALERT-")]
    ext.update({"baseline_s": 0.5, "settle_s": 0.3, "settle_timeout_s": 5, **ext_update})
    hypothesis = experiment["steady-state-hypothesis"]["probes"][0]["provider"]
    hypothesis.setdefault("arguments", {}).update(timeout_s=5, settle_timeout_s=2)
    if len(experiment["method"]) > 1:
        experiment["method"][1]["provider"]["arguments"].update(timeout_s=10, stable_s=0.3)
    folder = tmp_path / "experiments"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(experiment))
    return folder


@contextmanager
def json_server(answer: Callable[[str, str, Any], tuple[int, Any]]) -> Iterator[str]:
    """A JSON HTTP server on 127.0.0.1: ``answer(method, path, headers) -> (status, body)``."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, method: str) -> None:
            status, body = answer(method, self.path, self.headers)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def serve(app: FakeApp) -> Iterator[str]:
    def answer(method: str, path: str, headers: Any) -> tuple[int, Any]:
        if path.startswith("/probe") and headers.get("X-Probe-Token") != TOKEN:
            return 403, {"error": "token"}
        url = urlparse(path)
        return app.handle(method, url.path, parse_qs(url.query))

    with json_server(answer) as url:
        yield url


@dataclass
class FakeTarget:
    """Postgres with 3 members; crash of the leader: down for ``outage_s``, then m2 leads."""

    app: FakeApp
    app_url: str
    outage_s: float = 1.0
    name: str = "local"
    leader: str = "postgres-1"
    healthy: bool = True
    no_leader: bool = False
    restored: int = 0
    calls: list[str] = field(default_factory=list)
    hang_s: float = 0.0

    def up(self) -> None: ...

    def down(self) -> None: ...

    def endpoints(self) -> Endpoints:
        return Endpoints(
            app_url=self.app_url, prometheus_url="", alertmanager_url="", probe_token=TOKEN
        )

    def instances(self, component: str) -> list[Instance]:
        down = self.app.down() or not self.healthy
        if component == "postgres":
            leader = "" if self.no_leader else ("postgres-2" if self.calls else self.leader)
            return [
                Instance(
                    component="postgres",
                    name=f"postgres-{i}",
                    role="leader" if f"postgres-{i}" == leader and not down else "replica",
                    ready=not (down and f"postgres-{i}" == self.leader),
                )
                for i in (1, 2, 3)
            ]
        if component == "redis":
            return [Instance(component="redis", name="redis-1", role="master", ready=True)]
        return [Instance(component=component, name=f"{component}-1", role=None, ready=True)]

    def _inject(self, component: str, action: str, role: str | None) -> Injection:
        if self.hang_s:
            time.sleep(self.hang_s)
        if self.no_leader and role == "leader":
            raise InjectionError("no postgres leader to hit; instances: all replicas")
        self.calls.append(action)
        inj = Injection(
            at=time.monotonic(),
            wall=time.time(),
            component=component,
            action=action,
            instances=(self.leader,),
            role=role,
        )
        self.app.down_until = time.monotonic() + self.outage_s
        return inj

    def crash(
        self,
        component: str,
        *,
        role: str | None = None,
        count: int = 1,
        hold_s: float | None = None,
    ) -> Injection:
        # the fake app stays down for outage_s: a crash that stays down that long
        return replace(self._inject(component, "crash", role), held_s=self.outage_s or None)

    def stop(self, component: str, *, role: str | None = None, count: int = 1) -> Injection:
        return self._inject(component, "stop", role)

    def pause(self, component: str, *, role: str | None = None) -> Injection:
        return self._inject(component, "pause", role)

    def resume(self) -> None: ...

    def rollout(self, component: str) -> Injection:
        return self._inject(component, "rollout", None)

    def restore(self) -> None:
        self.restored += 1
