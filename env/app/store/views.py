"""Shop pages, JSON API and health endpoints."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.core.cache import cache
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_http_methods

from store import backends, orders
from store.models import Order, Product, TaskExecution
from store.tasks import CONFIRM_ORDER

log = logging.getLogger(__name__)

CATALOGUE_KEY = "catalogue:v1"
MAX_QUANTITY = 100
MAX_ITEMS = 50
MAX_BATCH_IDS = 1000


class BadRequest(ValueError):
    """Client error: answered 400 with {"error": message}."""


def error(message: str, status: int, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


def parse_int_list(name: str, raw: str | None, limit: int = MAX_BATCH_IDS) -> list[int]:
    if raw is None or not raw.strip():
        raise BadRequest(f"query parameter {name} is required (comma-separated integers)")
    try:
        values = [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise BadRequest(f"{name} must be comma-separated integers, got {raw!r}") from None
    if len(values) > limit:
        raise BadRequest(f"{name}: at most {limit} values, got {len(values)}")
    return values


# --- catalogue -----------------------------------------------------------------------------


def load_catalogue() -> tuple[list[dict[str, object]], bool]:
    """Products as dicts, from the cache if possible. A cache outage degrades to the database."""
    from django.conf import settings

    try:
        cached = cache.get(CATALOGUE_KEY)
    except Exception as exc:
        # Do not also try to write: that would wait for a second timeout on the same outage.
        log.warning("catalogue cache read failed, serving from the database: %s", exc)
        return [p.as_dict() for p in Product.objects.all()], False
    if cached is not None:
        return cached, True
    products = [p.as_dict() for p in Product.objects.all()]
    try:
        cache.set(CATALOGUE_KEY, products, timeout=settings.SHOP.catalogue_cache_ttl)
    except Exception as exc:
        log.warning("catalogue cache write failed: %s", exc)
    return products, False


@require_GET
def catalogue_page(request: HttpRequest) -> HttpResponse:
    products, _ = load_catalogue()
    return render(request, "store/catalogue.html", {"products": products})


@require_GET
def product_page(request: HttpRequest, product_id: int) -> HttpResponse:
    product = get_object_or_404(Product, id=product_id)
    return render(request, "store/product.html", {"product": product})


@require_GET
def api_products(request: HttpRequest) -> JsonResponse:
    products, cached = load_catalogue()
    return JsonResponse({"products": products, "cached": cached})


@require_GET
def api_product(request: HttpRequest, product_id: int) -> JsonResponse:
    try:
        product = Product.objects.get(id=product_id)
    except Product.DoesNotExist:
        return error(f"product {product_id} does not exist", 404)
    return JsonResponse(product.as_dict())


# --- orders --------------------------------------------------------------------------------


def parse_order(body: bytes) -> list[tuple[int, int]]:
    """Validate an order body; returns [(product_id, quantity)] or raises BadRequest."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or "items" not in data:
        raise BadRequest('body must be a JSON object with an "items" list')
    items = data["items"]
    if not isinstance(items, list) or not items:
        raise BadRequest('"items" must be a non-empty list')
    if len(items) > MAX_ITEMS:
        raise BadRequest(f'"items": at most {MAX_ITEMS} entries, got {len(items)}')
    parsed: list[tuple[int, int]] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadRequest(f"items[{index}] must be an object with product_id and quantity")
        product_id, quantity = item.get("product_id"), item.get("quantity")
        if type(product_id) is not int:
            raise BadRequest(f"items[{index}].product_id must be an integer, got {product_id!r}")
        if type(quantity) is not int or not 1 <= quantity <= MAX_QUANTITY:
            raise BadRequest(
                f"items[{index}].quantity must be an integer from 1 to {MAX_QUANTITY}, "
                f"got {quantity!r}"
            )
        parsed.append((product_id, quantity))
    return parsed


def order_dict(order: Order, confirm_executions: int) -> dict[str, object]:
    return {
        "id": order.id,
        "status": order.status,
        "total": str(order.total),
        "created": order.created.isoformat(),
        "confirmed_at": order.confirmed_at.isoformat() if order.confirmed_at else None,
        "confirm_executions": confirm_executions,
    }


def confirm_counts(order_ids: list[int]) -> dict[int, int]:
    rows = (
        TaskExecution.objects.filter(task_name=CONFIRM_ORDER, key__in=[str(i) for i in order_ids])
        .values("key")
        .annotate(n=Count("id"))
    )
    return {int(row["key"]): row["n"] for row in rows}


def create_order(request: HttpRequest) -> JsonResponse:
    try:
        lines = parse_order(request.body)
    except BadRequest as exc:
        return error(str(exc), 400)
    try:
        placed = orders.place_order(lines)
    except orders.UnknownProducts as exc:
        return error(str(exc), 400)
    order = placed.order
    return JsonResponse(
        {"id": order.id, "status": order.status, "total": str(order.total), **placed.enqueue},
        status=201,
    )


def list_orders(request: HttpRequest) -> JsonResponse:
    try:
        ids = parse_int_list("ids", request.GET.get("ids"))
    except BadRequest as exc:
        return error(str(exc), 400)
    orders = Order.objects.in_bulk(ids)
    counts = confirm_counts(ids)
    return JsonResponse(
        {
            "orders": [order_dict(orders[i], counts.get(i, 0)) for i in ids if i in orders],
            "missing": [i for i in ids if i not in orders],
        }
    )


@require_http_methods(["GET", "POST"])
def api_orders(request: HttpRequest) -> JsonResponse:
    if request.method == "POST":
        return create_order(request)
    return list_orders(request)


@require_GET
def api_order(request: HttpRequest, order_id: int) -> JsonResponse:
    try:
        order = Order.objects.get(id=order_id)
    except Order.DoesNotExist:
        return error(f"order {order_id} does not exist", 404)
    body = order_dict(order, confirm_counts([order_id]).get(order_id, 0))
    body["items"] = [
        {"product_id": i.product_id, "quantity": i.quantity, "unit_price": str(i.unit_price)}
        for i in order.items.order_by("id")
    ]
    return JsonResponse(body)


# --- health --------------------------------------------------------------------------------


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Touches no backend."""
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database answers SELECT 1 and the Redis master answers PING."""
    checks: dict[str, str] = {}
    for name, check in (("database", backends.check_database), ("redis", backends.check_redis)):
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = backends.error_text(exc)
    failed = [name for name, result in checks.items() if result != "ok"]
    return JsonResponse(
        {"ready": not failed, "failed": failed, "checks": checks}, status=503 if failed else 200
    )
