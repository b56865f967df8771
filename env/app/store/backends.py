"""Who served a request: backend attribution and readiness checks.

Every probe answer names the backend that served it, so the suite can see a failover happen
(the Postgres address and recovery state change; Sentinel names another Redis master).
"""

from __future__ import annotations

import functools
from typing import Any

from django.conf import settings
from django.db import connection
from redis import Redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel


def describe_postgres() -> dict[str, Any]:
    """Address and role of the Postgres server running the current transaction.

    Through PgBouncer in transaction mode, call it inside the transaction being attributed:
    another transaction may run on another server connection.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT host(inet_server_addr()), inet_server_port(), pg_is_in_recovery()")
        host, port, in_recovery = cursor.fetchone()
    address = f"{host}:{port}" if host is not None else f"local:{port}"
    return {"kind": "postgres", "address": address, "in_recovery": bool(in_recovery)}


@functools.lru_cache(maxsize=4)
def _sentinel(
    sentinels: tuple[tuple[str, int], ...],
    timeout: float,
    sentinel_password: str | None,
    retries: int,
) -> Sentinel:
    retry = Retry(ExponentialBackoff(cap=0.2, base=0.05), retries)
    sentinel_kwargs: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": retry,
    }
    if sentinel_password:
        sentinel_kwargs["password"] = sentinel_password
    return Sentinel(
        list(sentinels),
        sentinel_kwargs=sentinel_kwargs,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=retry,
    )


def sentinel() -> Sentinel:
    shop = settings.SHOP
    return _sentinel(
        shop.redis_sentinels,
        shop.redis_socket_timeout,
        shop.redis_sentinel_password,
        shop.redis_retries,
    )


def redis_master_address() -> str:
    """The current Redis master as Sentinel reports it ("host:port")."""
    host, port = sentinel().discover_master(settings.SHOP.redis_master_name)
    return f"{host}:{port}"


def describe_redis() -> dict[str, Any]:
    return {"kind": "redis", "address": redis_master_address(), "role": "master"}


def redis_master() -> Redis:
    """A client that always talks to the current master (re-discovered on connection errors)."""
    shop = settings.SHOP
    return sentinel().master_for(
        shop.redis_master_name,
        socket_timeout=shop.redis_socket_timeout,
        socket_connect_timeout=shop.redis_socket_timeout,
        password=shop.redis_password,
        db=shop.redis_db,
    )


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_redis() -> None:
    if not redis_master().ping():
        raise RuntimeError("PING did not answer PONG")


def error_text(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
