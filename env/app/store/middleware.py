"""Backend failures answer 503 JSON (what failed), not an HTML 500."""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, JsonResponse
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

from store.backends import error_text

log = logging.getLogger(__name__)

BACKEND_ERRORS = {
    "postgres": (OperationalError, InterfaceError),
    "redis": (RedisError, BrokerError),
}


class BackendErrorMiddleware:
    def __init__(self, get_response):  # type: ignore[no-untyped-def]
        self.get_response = get_response

    def __call__(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> JsonResponse | None:
        for backend, types in BACKEND_ERRORS.items():
            if isinstance(exception, types):
                log.warning(
                    "%s %s: %s unavailable: %s", request.method, request.path, backend, exception
                )
                return JsonResponse(
                    {"ok": False, "error": error_text(exception), "failed_backend": backend},
                    status=503,
                )
        return None
