"""Alerts as the on-call person sees them: Alertmanager's API v2 and the webhook receiver's record.

:class:`AlertRecorder` polls ``GET <alertmanager>/api/v2/alerts`` (about 1 Hz) in a daemon thread
and turns changes of the set of alerts Alertmanager holds into timeline events:

- ``Event(kind="alert-firing")`` when an alert (by Alertmanager's fingerprint) appears; an alert
  already held at the first poll is recorded at that poll with ``detail["already_firing"]``;
- ``Event(kind="alert-resolved")`` when it disappears (Alertmanager's API lists only alerts that
  are not resolved: a resolved alert drops out of the list).

``detail`` holds ``alertname``, ``severity``, ``fingerprint``, ``labels``, ``starts_at`` and
``state`` (``active``/``suppressed``/``unprocessed``). The API is read with ``requests``; the
webhook receiver (``drivers/local/receiver.py``) is read once at the end with
:func:`fetch_notifications`.

An Alertmanager that does not answer is never "no alert": :meth:`AlertRecorder.check` raises
:class:`AlertingError` (the experiment is ERROR before any fault), and polls that fail during
the recording are counted and reported (:attr:`AlertRecorder.unreachable_s`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from hasuite.errors import HasuiteError
from hasuite.model import Event

__all__ = [
    "AlertRecorder",
    "AlertingError",
    "PolledAlert",
    "diff_alerts",
    "fetch_alerts",
    "fetch_notifications",
    "parse_alerts",
]

log = logging.getLogger(__name__)

FIRING = "alert-firing"
RESOLVED = "alert-resolved"


class AlertingError(HasuiteError):
    """Alertmanager (or the receiver) did not answer, or answered something unreadable."""


@dataclass(frozen=True, kw_only=True)
class PolledAlert:
    """One alert as Alertmanager's API v2 lists it."""

    fingerprint: str
    alertname: str
    severity: str
    labels: Mapping[str, str]
    starts_at: str
    state: str

    def detail(self, **extra: Any) -> dict[str, Any]:
        return {
            "alertname": self.alertname,
            "severity": self.severity,
            "fingerprint": self.fingerprint,
            "labels": dict(self.labels),
            "starts_at": self.starts_at,
            "state": self.state,
            **extra,
        }


def parse_alerts(body: Any) -> dict[str, PolledAlert]:
    """``GET /api/v2/alerts`` body -> alerts by fingerprint (AlertingError when unreadable)."""
    if not isinstance(body, list):
        raise AlertingError(
            f"Alertmanager /api/v2/alerts answered {type(body).__name__}, expected a JSON list "
            "of alerts; is the URL an Alertmanager (v0.16 or later)?"
        )
    out: dict[str, PolledAlert] = {}
    for raw in body:
        try:
            labels = {str(k): str(v) for k, v in raw["labels"].items()}
            fingerprint = str(raw.get("fingerprint") or sorted(labels.items()))
            status = raw.get("status") or {}
            out[fingerprint] = PolledAlert(
                fingerprint=fingerprint,
                alertname=labels.get("alertname", ""),
                severity=labels.get("severity", ""),
                labels=labels,
                starts_at=str(raw.get("startsAt", "")),
                state=str(status.get("state", "")) if isinstance(status, Mapping) else "",
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise AlertingError(
                f"Alertmanager listed an alert without labels ({exc!r}): {str(raw)[:200]}"
            ) from exc
    return out


def diff_alerts(
    before: Mapping[str, PolledAlert] | None,
    now: Mapping[str, PolledAlert],
    *,
    at: float,
    wall: float,
) -> list[Event]:
    """Events for the change from ``before`` to ``now`` (``before=None``: the first poll)."""
    events: list[Event] = []
    first = before is None
    previous = before or {}
    for fp in sorted(set(now) - set(previous)):
        alert = now[fp]
        extra = {"already_firing": True} if first else {}
        events.append(
            Event(
                at=at,
                wall=wall,
                kind=FIRING,
                component=alert.labels.get("component", ""),
                detail=alert.detail(**extra),
            )
        )
    for fp in sorted(set(previous) - set(now)):
        alert = previous[fp]
        events.append(
            Event(
                at=at,
                wall=wall,
                kind=RESOLVED,
                component=alert.labels.get("component", ""),
                detail=alert.detail(),
            )
        )
    return events


def fetch_alerts(
    alertmanager_url: str, *, timeout_s: float = 2.0, session: requests.Session | None = None
) -> dict[str, PolledAlert]:
    """Every alert Alertmanager holds now (active, suppressed and unprocessed)."""
    url = alertmanager_url.rstrip("/") + "/api/v2/alerts"
    http = session or requests
    try:
        resp = http.get(url, timeout=timeout_s)
    except requests.RequestException as exc:
        raise AlertingError(
            f"Alertmanager unreachable: GET {url} failed ({type(exc).__name__}: {exc}); "
            "expected its API v2; is the stack's Alertmanager up (hasuite lab status)?"
        ) from exc
    if resp.status_code != 200:
        raise AlertingError(
            f"Alertmanager GET {url} answered HTTP {resp.status_code}: {resp.text[:200]}"
        )
    try:
        body = resp.json()
    except ValueError as exc:
        raise AlertingError(f"Alertmanager GET {url} answered non-JSON: {resp.text[:200]}") from exc
    return parse_alerts(body)


def fetch_notifications(
    receiver_url: str, *, since_wall: float | None = None, timeout_s: float = 5.0
) -> list[dict[str, Any]]:
    """The webhook receiver's record (``GET /notifications``) received since ``since_wall``."""
    url = receiver_url.rstrip("/") + "/notifications"
    try:
        resp = requests.get(url, timeout=timeout_s)
        resp.raise_for_status()
        body = resp.json()
    except (requests.RequestException, ValueError) as exc:
        raise AlertingError(
            f"alert receiver unreachable or unreadable: GET {url}: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(body, list):
        raise AlertingError(f"alert receiver GET {url} answered {type(body).__name__}, not a list")
    return [
        dict(n)
        for n in body
        if isinstance(n, Mapping)
        and (since_wall is None or float(n.get("received", 0.0)) >= since_wall)
    ]


class AlertRecorder:
    """Poll Alertmanager in a daemon thread; collect alert state changes as events."""

    def __init__(
        self,
        alertmanager_url: str,
        *,
        poll_s: float = 1.0,
        timeout_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if poll_s <= 0:
            raise ValueError(f"poll_s must be > 0, got {poll_s}")
        self.url = alertmanager_url
        self.poll_s = poll_s
        self.timeout_s = timeout_s
        self.clock = clock
        self.wall = wall
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._current: dict[str, PolledAlert] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http = requests.Session()
        self.polls = 0
        self.failed_polls = 0
        self.last_error: str | None = None
        self._down_since: float | None = None
        self.unreachable_s = 0.0  # longest stretch of failed polls

    def check(self) -> None:
        """One poll now; AlertingError when Alertmanager does not answer (before any fault)."""
        self._record(fetch_alerts(self.url, timeout_s=self.timeout_s, session=self._http))

    def _record(self, alerts: Mapping[str, PolledAlert]) -> None:
        at, wall = self.clock(), self.wall()
        with self._lock:
            self._events += diff_alerts(self._current, alerts, at=at, wall=wall)
            self._current = dict(alerts)
            self.polls += 1
            if self._down_since is not None:
                self.unreachable_s = max(self.unreachable_s, at - self._down_since)
                self._down_since = None

    def poll_once(self) -> None:
        try:
            alerts = fetch_alerts(self.url, timeout_s=self.timeout_s, session=self._http)
        except AlertingError as exc:
            now = self.clock()
            with self._lock:
                self.failed_polls += 1
                self.last_error = str(exc)
                self._down_since = self._down_since if self._down_since is not None else now
                self.unreachable_s = max(self.unreachable_s, now - self._down_since)
            return
        self._record(alerts)

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = self.clock()
            self.poll_once()
            self._stop.wait(max(self.poll_s - (self.clock() - started), 0.05))

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="alert-recorder", daemon=True)
        self._thread.start()

    def stop(self, join_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(join_s)
        self._http.close()

    def events(self) -> tuple[Event, ...]:
        with self._lock:
            return tuple(self._events)

    def firing(self, names: Sequence[str] | None = None) -> set[str]:
        """Alert names held now (of ``names`` when given)."""
        with self._lock:
            current = self._current or {}
            return {a.alertname for a in current.values() if names is None or a.alertname in names}
