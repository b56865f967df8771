"""Every setting of the shop, read from SHOP_* environment variables in one place.

Nothing else in the app reads ``os.environ``. ``load()`` is pure (it takes the mapping), so it is
unit-tested without touching the process environment. Each timing knob says why it has its value:
the chaos suite measures outages, and every timeout here is a bound on how long a user request or
a probe can hang while a backend fails over.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclasses.dataclass(frozen=True)
class Config:
    debug: bool
    secret_key: str
    allowed_hosts: tuple[str, ...]
    log_level: str
    # --- PostgreSQL, reached through PgBouncer (transaction pooling) ---
    db_host: str
    db_port: int
    db_name: str
    db_user: str
    db_password: str
    # libpq connect_timeout (s). Small so that a request during a Postgres/PgBouncer outage fails
    # fast with a 503 instead of piling up in gunicorn; 2 s is the minimum libpq honours reliably.
    db_connect_timeout: int
    # Per-transaction statement_timeout (ms), applied with SET LOCAL inside every transaction the
    # app opens (see store.db.atomic). PgBouncer rejects the libpq "options" startup parameter,
    # and a session-level SET does not stick to a server connection in transaction mode.
    db_statement_timeout_ms: int
    # CONN_MAX_AGE (s). 0 = one connection per request: PgBouncer already pools server
    # connections, and a persistent client connection would survive a failover pointing at a
    # pooler that has since been restarted. Cheap because PgBouncer is local.
    db_conn_max_age: int
    # --- Redis via Sentinel (cache, broker, result backend) ---
    redis_sentinels: tuple[tuple[str, int], ...]
    redis_master_name: str
    redis_password: str | None
    redis_sentinel_password: str | None
    redis_db: int
    # Socket connect/read timeouts for Redis and Sentinel (s). 1 s: a healthy local Redis answers
    # in well under a millisecond; a dead master must be noticed quickly so the next command asks
    # Sentinel for the new one. Worst case for one cache call: sentinels x 1 s + 1 s.
    redis_socket_timeout: float
    # Retries of one Redis command after a connection error/timeout (redis-py's default is 3
    # with up to seconds of backoff). One quick retry reconnects to the master Sentinel names
    # after a failover; more would only stretch the time a request hangs on a dead master.
    redis_retries: int
    # Catalogue cache TTL (s): short, so price changes show quickly; the cache only absorbs load.
    catalogue_cache_ttl: int
    # --- Celery ---
    # Visibility timeout (s) of the Redis transport: a task reserved by a worker that died
    # (SIGKILL, node loss) is redelivered only after this long, so it BOUNDS how late a killed
    # worker's task runs again. Must exceed the longest task's ETA/runtime, or tasks run twice.
    celery_visibility_timeout: int
    celery_restore_throttle: int
    # acks_late: acknowledge after the task ran, so a worker crash redelivers it (at-least-once).
    # The suite sets SHOP_CELERY_ACKS_LATE=false to seed a lost-task violation.
    celery_acks_late: bool
    # Publishing retries when the broker is unreachable: bounded so POST /api/orders and
    # POST /probe/task answer within a few seconds during a Redis failover.
    celery_publish_max_retries: int
    # Beat period (s) of refresh_metal_prices; one BeatTick row per slot = floor(t / interval).
    beat_interval: int
    # Celery's beat_sync_every: 0 = the schedule file is written every 3 min (Celery's default);
    # a beat killed in between forgets what it sent and sends the current slot again on restart.
    beat_sync_every: int
    # Confirmation sweep (s): beat enqueues confirm_order again for orders still pending this
    # long after they were placed (their enqueue failed, e.g. during a Redis failover, or the task
    # was lost with a killed worker). 0 = no sweep: such an order is never confirmed.
    confirm_sweep_s: int
    # --- probes ---
    probe_token: str | None
    # Seeded violation for the suite's own tests: every N-th committed order is deleted right
    # after its commit (the answer still acknowledges it). 0 = off; never set in production.
    seeded_order_loss_every: int


def _get(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    value = env.get(name)
    if value is None or value == "":
        return default
    return value


def _required(env: Mapping[str, str], name: str, why: str) -> str:
    value = _get(env, name)
    if value is None:
        raise ImproperlyConfigured(f"environment variable {name} is required ({why}) but not set")
    return value


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = _get(env, name, str(default))
    try:
        value = int(raw)  # type: ignore[arg-type]
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = _get(env, name, str(default))
    try:
        value = float(raw)  # type: ignore[arg-type]
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ImproperlyConfigured(f"{name} must be > 0, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true/false (1/0), got {raw!r}")


def parse_hostports(name: str, raw: str) -> tuple[tuple[str, int], ...]:
    """Parse "host:port,host:port" into ((host, port), ...)."""
    result: list[tuple[str, int]] = []
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ImproperlyConfigured(f"{name}: expected host:port[,host:port...], got {item!r}")
        result.append((host, int(port)))
    if not result:
        raise ImproperlyConfigured(f"{name}: no host:port given")
    return tuple(result)


def load(env: Mapping[str, str]) -> Config:
    debug = _bool(env, "SHOP_DEBUG", False)
    secret_key = _get(env, "SHOP_SECRET_KEY")
    if secret_key is None:
        if not debug:
            raise ImproperlyConfigured(
                "environment variable SHOP_SECRET_KEY is required (unless SHOP_DEBUG=1) but not set"
            )
        secret_key = "insecure-debug-only-key"
    hosts = _get(env, "SHOP_ALLOWED_HOSTS", "localhost,127.0.0.1")
    assert hosts is not None
    sentinels_raw = _required(
        env, "SHOP_REDIS_SENTINELS", "comma-separated host:port list of Redis Sentinels"
    )
    return Config(
        debug=debug,
        secret_key=secret_key,
        allowed_hosts=tuple(h.strip() for h in hosts.split(",") if h.strip()),
        log_level=(_get(env, "SHOP_LOG_LEVEL", "INFO") or "INFO").upper(),
        db_host=_get(env, "SHOP_DB_HOST", "127.0.0.1") or "127.0.0.1",
        db_port=_int(env, "SHOP_DB_PORT", 6432, minimum=1),
        db_name=_required(env, "SHOP_DB_NAME", "PostgreSQL database name"),
        db_user=_required(env, "SHOP_DB_USER", "PostgreSQL user"),
        db_password=_get(env, "SHOP_DB_PASSWORD", "") or "",
        db_connect_timeout=_int(env, "SHOP_DB_CONNECT_TIMEOUT", 2, minimum=1),
        db_statement_timeout_ms=_int(env, "SHOP_DB_STATEMENT_TIMEOUT_MS", 5000),
        db_conn_max_age=_int(env, "SHOP_DB_CONN_MAX_AGE", 0),
        redis_sentinels=parse_hostports("SHOP_REDIS_SENTINELS", sentinels_raw),
        redis_master_name=_get(env, "SHOP_REDIS_MASTER_NAME", "shop") or "shop",
        redis_password=_get(env, "SHOP_REDIS_PASSWORD"),
        redis_sentinel_password=_get(env, "SHOP_REDIS_SENTINEL_PASSWORD"),
        redis_db=_int(env, "SHOP_REDIS_DB", 0),
        redis_socket_timeout=_float(env, "SHOP_REDIS_SOCKET_TIMEOUT", 1.0),
        redis_retries=_int(env, "SHOP_REDIS_RETRIES", 1),
        catalogue_cache_ttl=_int(env, "SHOP_CATALOGUE_CACHE_TTL", 5),
        celery_visibility_timeout=_int(env, "SHOP_CELERY_VISIBILITY_TIMEOUT", 3600, minimum=1),
        celery_restore_throttle=_int(env, "SHOP_CELERY_RESTORE_THROTTLE", 10, minimum=1),
        celery_acks_late=_bool(env, "SHOP_CELERY_ACKS_LATE", True),
        celery_publish_max_retries=_int(env, "SHOP_CELERY_PUBLISH_MAX_RETRIES", 2),
        beat_interval=_int(env, "SHOP_BEAT_INTERVAL", 10, minimum=1),
        beat_sync_every=_int(env, "SHOP_BEAT_SYNC_EVERY", 0),
        confirm_sweep_s=_int(env, "SHOP_CONFIRM_SWEEP_S", 0),
        probe_token=_get(env, "SHOP_PROBE_TOKEN"),
        seeded_order_loss_every=_int(env, "SHOP_SEEDED_ORDER_LOSS_EVERY", 0),
    )
