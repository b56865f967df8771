"""After the recording: read every acknowledged write back through the app, and what else the
verdict needs (alert notifications, beat slots). A stage of the run.

Every read is bounded; a read that fails leaves its part None with the error, so the
measurement says "not read back" (ERROR), never 0 (a false PASS).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests

from hasuite.drivers.alerting import AlertingError, fetch_notifications
from hasuite.drivers.readback import fetch_key_check, fetch_ledger_check, fetch_order_read_back
from hasuite.errors import HasuiteError
from hasuite.model import LedgerCheck, LedgerEntry, OrderReadBack
from hasuite.target import Endpoints

__all__ = ["ReadBack", "read_back"]

log = logging.getLogger(__name__)


@dataclass
class ReadBack:
    """What the read-back found; ``errors`` are the reasons to note on the experiment."""

    orders: OrderReadBack | None = None
    orders_error: str | None = None
    tasks: LedgerCheck | None = None
    ledger_error: str | None = None
    keys: LedgerCheck | None = None
    keys_error: str | None = None
    notifications: list[dict[str, Any]] = field(default_factory=list)
    notifications_error: str | None = None
    beat: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)


def read_back(
    endpoints: Endpoints,
    ledger: Sequence[LedgerEntry],
    *,
    task_seqs: Sequence[int],
    task_first_seen: dict[str, float],
    confirm_until: float | None,
    alerts_since_wall: float | None,
    beat_since_wall: float | None,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> ReadBack:
    """Orders (waiting until ``confirm_until`` for confirmations), the task ledger, cache keys,
    the receiver's notifications (when ``alerts_since_wall``) and beat slots (when
    ``beat_since_wall``)."""
    out = ReadBack()
    orders = [e.key for e in ledger if e.kind == "order"]
    if orders:
        try:
            out.orders = fetch_order_read_back(
                endpoints.app_url, orders, confirm_until=confirm_until, clock=clock, sleep=sleep
            )
        except HasuiteError as exc:
            out.orders_error = str(exc)
            out.errors.append(f"order read-back failed: {exc}")
    if alerts_since_wall is not None and endpoints.alert_receiver_url:
        try:
            out.notifications = fetch_notifications(
                endpoints.alert_receiver_url, since_wall=alerts_since_wall
            )
        except AlertingError as exc:
            out.notifications_error = str(exc)
    try:
        out.tasks = fetch_ledger_check(
            endpoints.app_url,
            endpoints.probe_token,
            task_seqs=task_seqs,
            task_first_seen=task_first_seen,
            clock=clock,
        )
    except HasuiteError as exc:
        out.ledger_error = str(exc)
        out.errors.append(f"ledger read-back failed: {exc}")
    keys = [e.key for e in ledger if e.kind == "key"]
    if keys:
        try:
            out.keys = fetch_key_check(endpoints.app_url, endpoints.probe_token, keys, clock=clock)
        except HasuiteError as exc:
            out.keys_error = str(exc)
            out.errors.append(f"cache read-back failed: {exc}")
    if beat_since_wall is not None:
        out.beat = _fetch_beat(endpoints, beat_since_wall, out.errors)
    return out


def _fetch_beat(
    endpoints: Endpoints, since_wall: float, errors: list[str]
) -> dict[str, Any] | None:
    since = int(since_wall)
    try:
        resp = requests.get(
            f"{endpoints.app_url.rstrip('/')}/probe/beat?since={since}",
            headers={"X-Probe-Token": endpoints.probe_token or ""},
            timeout=5,
        )
        body: dict[str, Any] = resp.json()
        interval = float(body["interval"])
        return {
            "interval": interval,
            "slots": body["slots"],
            # whole slots inside the recording only
            "first_slot": int(since // interval) + 1,
            "last_slot": int(body["current_slot"]) - 1,
        }
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        errors.append(f"beat slots could not be read: {type(exc).__name__}: {exc}")
        return None
