"""Observers of the control plane: ``Target.instances(component)`` polled (~4 Hz) into
``RoleObservation`` records, with the spans they could not see (blind spans).

Start and stop are explicit; ``stop`` joins every thread with a timeout and never hangs (the
same thread discipline as the probes of :mod:`hasuite.drivers.recorders`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from hasuite.drivers.recorders import join_threads
from hasuite.model import RoleObservation
from hasuite.target import Target

log = logging.getLogger(__name__)


class ObserverSet:
    """Poll ``target.instances(component)`` for each component into role observations."""

    def __init__(
        self,
        target: Target,
        components: Sequence[str],
        *,
        rate_hz: float = 4.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if rate_hz <= 0:
            raise ValueError(f"rate_hz must be > 0, got {rate_hz}")
        self.target, self.components, self.rate_hz = target, tuple(components), rate_hz
        self._clock, self._wall = clock, wall
        self._lock = threading.Lock()
        self._roles: list[RoleObservation] = []
        self._errors: dict[str, str] = {}
        #: component -> [start, end, last error] of each run of failed polls (monotonic clock)
        self._blind: dict[str, list[list[Any]]] = {}
        self._open: set[str] = set()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def roles(self) -> tuple[RoleObservation, ...]:
        with self._lock:
            return tuple(self._roles)

    def errors(self) -> dict[str, str]:
        """The last error each component's observer got (for reports)."""
        with self._lock:
            return dict(self._errors)

    def blind_spans(self) -> list[tuple[str, float, float, str]]:
        """(component, first failed poll, last failed poll, last error) of every run of polls
        that could not read the target: role changes in those spans are unknown."""
        with self._lock:
            return [
                (component, start, end, error)
                for component, spans in self._blind.items()
                for start, end, error in spans
            ]

    def poll_once(self, component: str) -> list[RoleObservation]:
        """One observation of ``component`` (also used by wait loops). Errors -> empty list."""
        try:
            found = self.target.instances(component)
        except Exception as exc:  # an observer never dies of one bad answer
            now = self._clock()
            error = f"{type(exc).__name__}: {exc}"
            with self._lock:
                self._errors[component] = error
                spans = self._blind.setdefault(component, [])
                if component in self._open:
                    spans[-1][1:] = [now, error]
                else:
                    spans.append([now, now, error])
                    self._open.add(component)
            return []
        with self._lock:
            self._open.discard(component)
        at, wall = self._clock(), self._wall()
        obs = [
            RoleObservation(
                at=at,
                wall=wall,
                component=component,
                instance=i.name,
                role=i.role or "",
                ready=i.ready,
            )
            for i in found
        ]
        with self._lock:
            self._roles.extend(obs)
        return obs

    def start(self) -> None:
        if self._threads:
            raise RuntimeError("ObserverSet already started")
        period = 1.0 / self.rate_hz
        for component in self.components:

            def loop(component: str = component) -> None:
                next_at = time.monotonic()
                while not self._stop.is_set():
                    self.poll_once(component)
                    next_at = max(next_at + period, time.monotonic())
                    if self._stop.wait(max(0.0, next_at - time.monotonic())):
                        return

            t = threading.Thread(target=loop, name=f"observe-{component}", daemon=True)
            self._threads.append(t)
            t.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        join_threads(self._threads, timeout_s, "observer")
