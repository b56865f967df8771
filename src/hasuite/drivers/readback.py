"""Reading acknowledged writes back through the app's doors, after the recording.

- :func:`fetch_order_read_back`: every acknowledged order (probes and load) through the shop's
  ``GET /api/orders?ids=``, waiting (bounded) for confirmations;
- :func:`fetch_ledger_check`: the probe tasks (``GET /probe/ledger``), executions per seq;
- :func:`fetch_key_check`: the probe's cache keys (``GET /probe/cache?keys=``).

Each read retries briefly (the stack has just recovered) and raises :class:`HasuiteError` when
it cannot finish: a write not read back is never counted as present.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import requests

from hasuite.drivers.recorders import TOKEN_HEADER, answer_error, error_kind
from hasuite.errors import HasuiteError
from hasuite.model import LedgerCheck, OrderReadBack

__all__ = [
    "READ_BATCH",
    "RETRY_FOR_S",
    "fetch_key_check",
    "fetch_ledger_check",
    "fetch_order_read_back",
]

log = logging.getLogger(__name__)

# ids per read-back request: seqs have ~16 digits, and gunicorn refuses a request line over
# 4094 bytes (limit_request_line), so 150 ids (~2.6 KB) leave room for the rest of the URL.
READ_BATCH = 150

#: How long a read retries a batch that fails (the stack has just recovered) when the caller
#: gives no ``retry_for_s``. Read at call time: a test of the unreadable case may shorten it.
RETRY_FOR_S = 30.0


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _get_json_retrying(
    http: requests.Session,
    url: str,
    *,
    headers: Mapping[str, str],
    timeout_s: float,
    retry_for_s: float,
    what: str,
    unread: str,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    """GET ``url`` until it answers 200 with a JSON object, for at most ``retry_for_s`` (the app
    may still be recovering); HasuiteError naming ``what`` and what stays ``unread`` after."""

    deadline = clock() + retry_for_s
    last = "not tried"
    while True:
        try:
            resp = http.get(url, headers=dict(headers), timeout=timeout_s)
            if resp.status_code == 200:
                body = resp.json()
                if isinstance(body, dict):
                    return body
                last = "answer not a JSON object"
            else:
                last = answer_error(resp)
        except (requests.RequestException, ValueError) as exc:
            last = error_kind(exc)
        if clock() >= deadline:
            raise HasuiteError(f"{what} failed for {retry_for_s:.0f} s: {last}; {unread}")
        sleep(0.5)


def fetch_ledger_check(
    app_url: str,
    token: str | None,
    *,
    task_seqs: Sequence[int] = (),
    timeout_s: float = 5.0,
    retry_for_s: float | None = None,
    task_first_seen: dict[str, float] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    session: requests.Session | None = None,
) -> LedgerCheck:
    """Read the acknowledged probe task seqs back (how often each ran).

    Each batch is retried for up to ``retry_for_s`` (default :data:`RETRY_FOR_S`; the app may
    still be recovering); a batch that cannot be read raises ``HasuiteError`` (an unreadable
    ledger is not "0 lost").
    """

    retry_for_s = RETRY_FOR_S if retry_for_s is None else retry_for_s
    http = session or requests.Session()
    headers = {TOKEN_HEADER: token} if token else {}
    base = app_url.rstrip("/")

    try:
        task_counts: dict[str, int] = {}
        for batch in _chunks(list(task_seqs), READ_BATCH):
            body = _get_json_retrying(
                http,
                f"{base}/probe/tasks?seqs={','.join(str(s) for s in batch)}",
                headers=headers,
                timeout_s=timeout_s,
                retry_for_s=retry_for_s,
                what="ledger read-back /probe/tasks",
                unread=f"{len(batch)} seqs unread",
                clock=clock,
                sleep=sleep,
            )
            task_counts.update({str(k): int(v) for k, v in body.get("counts", {}).items()})
        return LedgerCheck(
            present=frozenset(k for k, n in task_counts.items() if n > 0),
            executions=task_counts,
            first_seen=dict(task_first_seen or {}),
            checked_at=clock(),
        )
    finally:
        if session is None:
            http.close()


def fetch_key_check(
    app_url: str,
    token: str | None,
    keys: Sequence[str],
    *,
    timeout_s: float = 5.0,
    retry_for_s: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    session: requests.Session | None = None,
) -> LedgerCheck:
    """Read the acknowledged cache keys back (``GET /probe/cache?keys=``): which the cache
    still holds. A batch that cannot be read within ``retry_for_s`` (default
    :data:`RETRY_FOR_S`) raises HasuiteError (unread is not "0 lost")."""

    retry_for_s = RETRY_FOR_S if retry_for_s is None else retry_for_s
    http = session or requests.Session()
    headers = {TOKEN_HEADER: token} if token else {}
    base = app_url.rstrip("/")
    present: set[str] = set()
    try:
        for batch in _chunks(list(keys), READ_BATCH):
            body = _get_json_retrying(
                http,
                f"{base}/probe/cache?keys={','.join(batch)}",
                headers=headers,
                timeout_s=timeout_s,
                retry_for_s=retry_for_s,
                what="cache read-back GET /probe/cache",
                unread=f"{len(batch)} keys unread",
                clock=clock,
                sleep=sleep,
            )
            present.update(str(k) for k in body.get("present", []))
    finally:
        if session is None:
            http.close()
    return LedgerCheck(present=frozenset(present), checked_at=clock())


def fetch_order_read_back(
    app_url: str,
    order_ids: Sequence[str],
    *,
    confirm_until: float | None = None,
    timeout_s: float = 5.0,
    retry_for_s: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    session: requests.Session | None = None,
) -> OrderReadBack:
    """Read acknowledged orders (every source) back through the shop's own API.

    Orders present but still pending are read again about once a second until they are
    confirmed or ``confirm_until`` (monotonic; None: one read) has passed; the instant each is
    first seen confirmed is kept. A batch that cannot be read within ``retry_for_s`` (default
    :data:`RETRY_FOR_S`) raises HasuiteError: an unreadable ledger is not "0 lost".
    """

    retry_s = RETRY_FOR_S if retry_for_s is None else retry_for_s
    http = session or requests.Session()
    base = app_url.rstrip("/")
    ids = sorted({str(i) for i in order_ids}, key=lambda k: (len(k), k))
    bad = [i for i in ids if not i.isdigit()]
    if bad:
        raise HasuiteError(f"order ids must be whole numbers, got {bad[:5]}")

    def read(batch: Sequence[str]) -> dict[str, dict[str, Any]]:
        url = f"{base}/api/orders?ids={','.join(batch)}"
        deadline = clock() + retry_s
        last = "not tried"
        while True:
            try:
                resp = http.get(url, timeout=timeout_s)
                if resp.status_code == 200:
                    body = resp.json()
                    return {str(o["id"]): o for o in body.get("orders", [])}
                last = answer_error(resp)
            except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
                last = error_kind(exc)
            if clock() >= deadline:
                raise HasuiteError(
                    f"order read-back GET /api/orders failed for {retry_s:.0f} s: {last}; "
                    f"{len(batch)} order ids unread"
                )
            sleep(0.5)

    found: dict[str, dict[str, Any]] = {}
    seen: dict[str, float] = {}

    def note_confirmed() -> list[str]:
        now = clock()
        pending = []
        for k, o in found.items():
            if o.get("status") == "confirmed":
                seen.setdefault(k, now)
            else:
                pending.append(k)
        return pending

    try:
        for batch in _chunks(ids, READ_BATCH):
            found.update(read(batch))
        pending = note_confirmed()
        while pending and confirm_until is not None and clock() < confirm_until:
            sleep(1.0)
            for batch in _chunks(pending, READ_BATCH):
                found.update(read(batch))
            pending = note_confirmed()
    finally:
        if session is None:
            http.close()
    return OrderReadBack(
        check=LedgerCheck(
            present=frozenset(found), executions={k: 1 for k in found}, checked_at=clock()
        ),
        confirmed=frozenset(seen),
        confirmed_seen=seen,
        confirm_executions={k: int(o.get("confirm_executions") or 0) for k, o in found.items()},
    )
