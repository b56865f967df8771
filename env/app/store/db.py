"""Transactions bounded by statement_timeout (see shop.config.db_statement_timeout_ms)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connection, transaction


@contextmanager
def atomic() -> Iterator[None]:
    """transaction.atomic() whose statements cannot run longer than the configured timeout.

    SET LOCAL lasts until the end of the transaction, so it is safe with PgBouncer in
    transaction mode (it never leaks onto another client's transaction).
    """
    with transaction.atomic():
        timeout_ms = settings.SHOP.db_statement_timeout_ms
        if timeout_ms:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT set_config('statement_timeout', %s, true)", [str(timeout_ms)]
                )
        yield
