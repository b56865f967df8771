"""The app's psycopg OPTIONS work through PgBouncer in transaction mode."""

from __future__ import annotations

import psycopg
import pytest


def connect(servers, **options):
    return psycopg.connect(
        host="127.0.0.1",
        port=servers.pgbouncer_port,
        dbname="shop",
        user="shop",
        autocommit=True,
        **options,
    )


def interleave(first, second, rounds: int = 8) -> None:
    """Two clients sharing PgBouncer's single server connection run the same query repeatedly."""
    for i in range(rounds):
        for conn in (first, second):
            assert conn.execute("SELECT %s::int + 1", [i]).fetchone() == (i + 1,)


def test_app_db_options_survive_transaction_pooling(servers) -> None:
    from django.conf import settings

    options = dict(settings.DATABASES["default"]["OPTIONS"])
    with connect(servers, **options) as first, connect(servers, **options) as second:
        interleave(first, second)


def test_prepared_statements_would_break_it(servers) -> None:
    """Proves the test above can fail: server-side prepared statements break.

    True for PgBouncer < 1.21 (Debian 12 ships 1.18) and for newer ones with
    max_prepared_statements = 0.
    """
    with (
        connect(servers, prepare_threshold=1) as first,
        connect(servers, prepare_threshold=1) as second,
        pytest.raises(psycopg.errors.DuplicatePreparedStatement),
    ):
        interleave(first, second)
