"""Probe endpoints for the chaos suite (/probe/...).

Enabled only when SHOP_PROBE_TOKEN is set (404 otherwise); every request must carry the header
X-Probe-Token (403 otherwise). Every answer names the backend that served it; a failure answers
503 {"ok": false, "error": ..., "backend": ...} within the configured timeouts.
"""

from __future__ import annotations

import functools
import hmac
import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import BigIntegerField, Count
from django.db.models.functions import Cast
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from store import backends, db, orders
from store.beat import slot_of, slot_start
from store.models import BeatTick, ProbeWrite, Product, TaskExecution
from store.tasks import MAX_HOLD_MS, PROBE_TASK, probe_task
from store.views import BadRequest, error, parse_int_list

log = logging.getLogger(__name__)

TOKEN_HEADER = "X-Probe-Token"
CACHE_PREFIX = "probe:"
# Longer than any experiment, so a key read back after recovery that is absent was lost, not
# expired.
CACHE_TTL = 3600
#: keys per read-back request
MAX_READ_KEYS = 1000

View = Callable[..., JsonResponse]


def probe(view: View) -> View:
    """Token gate + uniform error handling for probe views."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        token = settings.SHOP.probe_token
        if not token:
            return error("probes are disabled (SHOP_PROBE_TOKEN is not set)", 404)
        given = request.headers.get(TOKEN_HEADER, "")
        if not hmac.compare_digest(given.encode(), token.encode()):
            return error(f"missing or wrong {TOKEN_HEADER} header", 403)
        backend: dict[str, Any] = {}
        try:
            return view(request, backend, *args, **kwargs)
        except BadRequest as exc:
            return error(str(exc), 400)
        except Exception as exc:
            log.warning("probe %s failed: %s", request.path, exc)
            return JsonResponse(
                {"ok": False, "error": backends.error_text(exc), "backend": backend or None},
                status=503,
            )

    return wrapper


def int_param(request: HttpRequest, name: str) -> int:
    raw = request.GET.get(name)
    if raw is None:
        raise BadRequest(f"query parameter {name} is required (integer)")
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {raw!r}") from None


def str_param(request: HttpRequest, name: str) -> str:
    raw = request.GET.get(name)
    if not raw:
        raise BadRequest(f"query parameter {name} is required")
    return raw


@require_http_methods(["GET", "POST"])
@probe
def probe_db(request: HttpRequest, backend: dict[str, Any]) -> JsonResponse:
    if request.method == "POST":
        seq = int_param(request, "seq")
        with db.atomic():
            # Attribute inside the transaction: that is the server connection that ran it.
            backend.update(backends.describe_postgres())
            row = ProbeWrite.objects.create(seq=seq)
            read_back = ProbeWrite.objects.get(id=row.id)
        return JsonResponse(
            {"ok": True, "seq": read_back.seq, "id": read_back.id, "backend": backend}
        )
    seqs = parse_int_list("seqs", request.GET.get("seqs"))
    with db.atomic():
        backend.update(backends.describe_postgres())
        rows = ProbeWrite.objects.filter(seq__in=seqs).values("seq").annotate(n=Count("id"))
        counts = {row["seq"]: row["n"] for row in rows}
    return JsonResponse(
        {
            "ok": True,
            "present": [s for s in seqs if s in counts],
            "missing": [s for s in seqs if s not in counts],
            "counts": {str(s): n for s, n in counts.items()},
            "backend": backend,
        }
    )


#: What the order probe buys: one piece of the first product of the catalogue.
_PROBE_QUANTITY = 1


@require_POST
@probe
def probe_order(request: HttpRequest, backend: dict[str, Any]) -> JsonResponse:
    """Place an order through the users' own code path (store.orders.place_order: the same
    transaction and on_commit enqueue as POST /api/orders), noting the server that ran it."""
    product = Product.objects.order_by("id").values_list("id", flat=True).first()
    if product is None:
        raise RuntimeError("the catalogue is empty: no product to order")
    placed = orders.place_order(
        [(product, _PROBE_QUANTITY)],
        inside=lambda: backend.update(backends.describe_postgres()),
    )
    return JsonResponse({"ok": True, "id": placed.order.id, **placed.enqueue, "backend": backend})


@require_http_methods(["GET", "POST"])
@probe
def probe_cache(request: HttpRequest, backend: dict[str, Any]) -> JsonResponse:
    backend.update(backends.describe_redis())
    if request.method == "GET":
        # read-back: which of the acknowledged keys the cache (the current master) still holds
        keys = [k for k in str_param(request, "keys").split(",") if k]
        if len(keys) > MAX_READ_KEYS:
            raise BadRequest(f"keys: at most {MAX_READ_KEYS} keys, got {len(keys)}")
        values = cache.get_many([CACHE_PREFIX + k for k in keys])
        present = [k for k in keys if CACHE_PREFIX + k in values]
        return JsonResponse(
            {
                "ok": True,
                "present": present,
                "missing": [k for k in keys if CACHE_PREFIX + k not in values],
                "backend": backend,
            }
        )
    key, value = str_param(request, "key"), str_param(request, "value")
    cache.set(CACHE_PREFIX + key, value, timeout=CACHE_TTL)
    got = cache.get(CACHE_PREFIX + key)
    if got != value:
        raise RuntimeError(f"read back {got!r} after writing {value!r}")
    return JsonResponse({"ok": True, "key": key, "value": got, "backend": backend})


@require_POST
@probe
def probe_task_enqueue(request: HttpRequest, backend: dict[str, Any]) -> JsonResponse:
    seq = int_param(request, "seq")
    hold_ms = int_param(request, "hold_ms") if "hold_ms" in request.GET else 0
    if not 0 <= hold_ms <= MAX_HOLD_MS:
        raise BadRequest(f"hold_ms must be within 0..{MAX_HOLD_MS}, got {hold_ms}")
    backend.update(backends.describe_redis())
    # apply_async returns once the broker accepted the message (LPUSH on the master).
    result = probe_task.apply_async(args=[seq], kwargs={"hold_ms": hold_ms} if hold_ms else None)
    return JsonResponse({"ok": True, "seq": seq, "task_id": result.id, "backend": backend})


@require_GET
@probe
def probe_tasks(request: HttpRequest, backend: dict[str, Any]) -> JsonResponse:
    executions = TaskExecution.objects.filter(task_name=PROBE_TASK)
    if "since_seq" in request.GET:
        since = int_param(request, "since_seq")
        query = executions.annotate(seq=Cast("key", BigIntegerField())).filter(seq__gte=since)
        seqs: list[int] | None = None
    else:
        seqs = parse_int_list("seqs", request.GET.get("seqs"))
        query = executions.filter(key__in=[str(s) for s in seqs])
    with db.atomic():
        backend.update(backends.describe_postgres())
        rows = query.values("key").annotate(n=Count("id"))
        counts = {int(row["key"]): row["n"] for row in rows}
    if seqs is not None:
        counts = {s: counts.get(s, 0) for s in seqs}
    return JsonResponse(
        {"ok": True, "counts": {str(s): n for s, n in sorted(counts.items())}, "backend": backend}
    )


@require_GET
@probe
def probe_beat(request: HttpRequest, backend: dict[str, Any]) -> JsonResponse:
    interval = settings.SHOP_BEAT_INTERVAL
    since = int_param(request, "since") if "since" in request.GET else int(time.time()) - 3600
    first_slot = slot_of(since, interval)
    with db.atomic():
        backend.update(backends.describe_postgres())
        rows = (
            BeatTick.objects.filter(slot__gte=first_slot)
            .values("slot")
            .annotate(n=Count("id"))
            .order_by("slot")
        )
        slots = [
            {"slot": row["slot"], "start": slot_start(row["slot"], interval), "ticks": row["n"]}
            for row in rows
        ]
    return JsonResponse(
        {
            "ok": True,
            "interval": interval,
            "since_slot": first_slot,
            "current_slot": slot_of(time.time(), interval),
            "slots": slots,
            "backend": backend,
        }
    )


#: The most CPU one burn request may take (ms): a stimulus is many short requests, not one long.
MAX_BURN_MS = 500


@require_GET
@probe
def probe_burn(request: HttpRequest, backend: dict[str, Any]) -> JsonResponse:
    """Spend ``ms`` milliseconds of this worker's CPU (its thread's CPU time, not wall time),
    then answer: a metered CPU stimulus for the HPA (N requests/s x ms = N x ms millicores),
    whatever the machine's speed. Touches no backend."""
    ms = int_param(request, "ms")
    if not 0 < ms <= MAX_BURN_MS:
        raise BadRequest(f"ms must be in 1..{MAX_BURN_MS}, got {ms}")
    start = time.thread_time()
    spins = 0
    while time.thread_time() - start < ms / 1000:
        spins += 1
    burned = (time.thread_time() - start) * 1000
    return JsonResponse({"ok": True, "burned_ms": round(burned, 1), "spins": spins})
