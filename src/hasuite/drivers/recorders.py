"""Recorders: continuous probes through the app's doors and observers of the control plane.

Probes (default 10 Hz each) call the app's token-protected probe endpoints through nginx, the
door users use, on every target:

- ``order-write``: ``POST /probe/order?seq=N``: an order placed through the users' own code path
  (the same function, transaction and on_commit enqueue as ``POST /api/orders``);
- ``cache-write``: ``POST /probe/cache?key=K&value=V`` (set + get on the Redis master);
- ``task-enqueue``: ``POST /probe/task?seq=N`` (answers once the broker accepted the task);
- ``task-run``: a watcher (``GET /probe/tasks?since_seq=``, ~2 Hz) that emits one successful
  sample per acknowledged task the first time it is seen executed.

Requests are issued on a fixed schedule by a small pool, so a hung request does not lower the
sampling rate; each has a hard timeout (the session sets 4 s). A sample's ``at``/``wall`` is the
instant the ANSWER arrived (``latency_s`` gives the start): an outage is then "no successful answer
between these two instants", which never under-reports what a user waited.

Every acknowledged write is put in the ledger with source ``probe`` (``order`` keyed by the
order id the app answered, ``task`` by seq, ``key`` for cache keys); the Locust users' orders
join it with source ``load``. :mod:`hasuite.drivers.readback` reads them back after the
recording.

The observers of the control plane are in :mod:`hasuite.drivers.observers`.

Start and stop are explicit; ``stop`` joins every thread with a timeout and never hangs.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests

from hasuite.model import LedgerEntry, Sample

log = logging.getLogger(__name__)


def join_threads(threads: Sequence[threading.Thread], timeout_s: float, what: str) -> None:
    """Join every thread within one shared deadline; log those still running after it."""
    deadline = time.monotonic() + timeout_s
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    alive = [t.name for t in threads if t.is_alive()]
    if alive:
        log.warning("%s threads still running after %.1f s: %s", what, timeout_s, alive)


__all__ = [
    "PROBES",
    "ProbeConfig",
    "ProbeSet",
]

#: The probes a ProbeSet can run.
PROBES: tuple[str, ...] = ("order-write", "cache-write", "task-enqueue", "task-run")
TOKEN_HEADER = "X-Probe-Token"


@dataclass(frozen=True, kw_only=True)
class ProbeConfig:
    """How the probes run. ``seq_base`` makes seqs unique across runs (default: from the clock)."""

    app_url: str
    token: str | None
    rate_hz: float = 10.0
    timeout_s: float = 1.0
    probes: tuple[str, ...] = ("order-write", "cache-write", "task-enqueue", "task-run")
    task_poll_hz: float = 2.0
    seq_base: int | None = None
    #: work each enqueued probe task simulates (``hold_ms`` of POST /probe/task)
    task_hold_s: float = 0.0

    def __post_init__(self) -> None:
        if self.rate_hz <= 0:
            raise ValueError(f"rate_hz must be > 0, got {self.rate_hz}")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")
        if not 0 <= self.task_hold_s <= 5:
            raise ValueError(f"task_hold_s must be within 0..5 s, got {self.task_hold_s}")
        unknown = [p for p in self.probes if p not in PROBES]
        if unknown:
            raise ValueError(f"unknown probe(s) {unknown}; known: {', '.join(PROBES)}")


def error_kind(exc: BaseException) -> str:
    if isinstance(exc, requests.Timeout):
        return "timeout"
    if isinstance(exc, requests.ConnectionError):
        return "connect error"
    return type(exc).__name__


def answer_error(resp: requests.Response) -> str:
    """A short, groupable error for a non-200 answer: ``http 503 postgres: OperationalError``."""
    try:
        body = resp.json()
    except ValueError:
        return f"http {resp.status_code}"
    text = str(body.get("error", "")) if isinstance(body, dict) else ""
    kind = text.split(":", 1)[0][:60]
    backend = body.get("failed_backend") if isinstance(body, dict) else None
    if not backend and isinstance(body, dict) and isinstance(body.get("backend"), dict):
        backend = body["backend"].get("kind")
    where = f" {backend}" if backend else ""
    return f"http {resp.status_code}{where}: {kind}" if kind else f"http {resp.status_code}"


def _backend(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("backend"), dict):
        addr = body["backend"].get("address")
        return str(addr) if addr else None
    return None


class ProbeSet:
    """The app probes and their ledger. ``start()`` once, ``stop()`` once; thread-safe reads."""

    def __init__(
        self,
        config: ProbeConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        session_factory: Callable[[], requests.Session] = requests.Session,
    ) -> None:
        self.config = config
        self._clock, self._wall = clock, wall
        self.seq_base = (
            config.seq_base if config.seq_base is not None else int(wall() * 1000) * 1000
        )
        self._lock = threading.Lock()
        self._samples: list[Sample] = []
        self._ledger: list[LedgerEntry] = []
        self._task_acked: dict[str, float] = {}
        self._task_seen: dict[str, float] = {}
        self._next = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._local = threading.local()
        self._session_factory = session_factory
        self._sessions: list[requests.Session] = []
        in_flight = max(2, math.ceil(config.timeout_s * config.rate_hz) + 1)
        self._pool = ThreadPoolExecutor(
            max_workers=in_flight * len(config.probes), thread_name_prefix="probe"
        )
        self.started_at: float | None = None
        self.stopped_at: float | None = None

    # -- results -----------------------------------------------------------------------------

    def samples(self) -> tuple[Sample, ...]:
        with self._lock:
            return tuple(self._samples)

    def ledger(self) -> tuple[LedgerEntry, ...]:
        with self._lock:
            return tuple(self._ledger)

    def task_first_seen(self) -> dict[str, float]:
        """Monotonic time each acknowledged task seq was first seen executed."""
        with self._lock:
            return dict(self._task_seen)

    def acked_seqs(self, kind: str) -> list[int]:
        return [int(e.key) for e in self.ledger() if e.kind == kind]

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._threads:
            raise RuntimeError("ProbeSet already started")
        self.started_at = self._clock()
        for probe in self.config.probes:
            if probe == "task-run":
                target: Callable[[], None] = self._watch_tasks
            else:
                target = self._schedule_loop(probe)
            t = threading.Thread(target=target, name=f"probe-{probe}", daemon=True)
            self._threads.append(t)
            t.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop scheduling, wait (bounded) for requests in flight, close sessions."""
        self._stop.set()
        join_threads(self._threads, timeout_s, "probe")
        # In-flight requests end within their own timeout; do not wait longer than that.
        self._pool.shutdown(wait=False, cancel_futures=True)
        end = time.monotonic() + self.config.timeout_s + 0.5
        while time.monotonic() < end and any(
            t.is_alive() for t in getattr(self._pool, "_threads", ())
        ):
            time.sleep(0.05)
        for s in list(self._sessions):
            s.close()
        self.stopped_at = self._clock()

    # -- internals ---------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._session_factory()
            if self.config.token:
                session.headers[TOKEN_HEADER] = self.config.token
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def _seq(self) -> int:
        with self._lock:
            self._next += 1
            return self.seq_base + self._next

    def _schedule_loop(self, probe: str) -> Callable[[], None]:
        period = 1.0 / self.config.rate_hz

        def loop() -> None:
            next_at = time.monotonic()
            while not self._stop.is_set():
                try:
                    self._pool.submit(self._probe_once, probe)
                except RuntimeError:  # pool shut down
                    return
                next_at += period
                delay = next_at - time.monotonic()
                if delay < -period:  # fell behind (machine busy): skip, do not burst
                    next_at = time.monotonic()
                    delay = 0.0
                if delay > 0 and self._stop.wait(delay):
                    return

        return loop

    def _probe_once(self, probe: str) -> None:
        if self._stop.is_set():
            return
        seq = self._seq()
        url = self.config.app_url.rstrip("/")
        if probe == "order-write":
            url += f"/probe/order?seq={seq}"
        elif probe == "cache-write":
            url += f"/probe/cache?key=hasuite-{seq}&value={seq}"
        else:
            url += f"/probe/task?seq={seq}"
            if self.config.task_hold_s > 0:
                url += f"&hold_ms={round(self.config.task_hold_s * 1000)}"
        started = time.monotonic()
        ok, error, backend = False, None, None
        key = f"hasuite-{seq}" if probe == "cache-write" else str(seq)
        try:
            resp = self._session().post(url, timeout=self.config.timeout_s)
            if resp.status_code == 200:
                body = resp.json()
                backend = _backend(body)
                ok = bool(isinstance(body, dict) and body.get("ok"))
                if probe == "order-write" and ok:
                    # the ledger key of an order is the id the shop answered
                    order_id = body.get("id")
                    ok = isinstance(order_id, int)
                    key = str(order_id)
                if not ok:
                    error = "answer without ok"
            else:
                error = answer_error(resp)
        except (requests.RequestException, ValueError) as exc:
            error = error_kind(exc)
        latency = time.monotonic() - started
        at, wall = self._clock(), self._wall()
        sample = Sample(
            at=at,
            wall=wall,
            probe=probe,
            ok=ok,
            latency_s=latency,
            error=error,
            backend=backend,
            key=key if ok else None,
        )
        with self._lock:
            self._samples.append(sample)
            if ok:
                kind = {"order-write": "order", "cache-write": "key", "task-enqueue": "task"}[probe]
                self._ledger.append(
                    LedgerEntry(
                        kind=kind, key=key, acknowledged_at=at, source="probe", server=backend or ""
                    )
                )
                if kind == "task":
                    self._task_acked[key] = at

    def _watch_tasks(self) -> None:
        period = 1.0 / self.config.task_poll_hz
        url = f"{self.config.app_url.rstrip('/')}/probe/tasks?since_seq={self.seq_base + 1}"
        while not self._stop.wait(period):
            try:
                resp = self._session().get(url, timeout=self.config.timeout_s)
                if resp.status_code != 200:
                    continue
                counts = resp.json().get("counts", {})
            except (requests.RequestException, ValueError, AttributeError):
                continue
            at, wall = self._clock(), self._wall()
            with self._lock:
                for key, n in counts.items():
                    if n and key not in self._task_seen and key in self._task_acked:
                        self._task_seen[key] = at
                        self._samples.append(
                            Sample(
                                at=at,
                                wall=wall,
                                probe="task-run",
                                ok=True,
                                latency_s=at - self._task_acked[key],
                                key=key,
                            )
                        )
