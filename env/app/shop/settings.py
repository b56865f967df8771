"""Django settings for the jewelry shop. All values come from shop.config (SHOP_* env vars)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from store.beat import AlignedSchedule

from shop import config

SHOP = config.load(os.environ)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = SHOP.debug
SECRET_KEY = SHOP.secret_key
ALLOWED_HOSTS = list(SHOP.allowed_hosts)

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "django_prometheus",
    "store",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "store.middleware.BackendErrorMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "shop.urls"
WSGI_APPLICATION = "shop.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": SHOP.db_host,
        "PORT": SHOP.db_port,
        "NAME": SHOP.db_name,
        "USER": SHOP.db_user,
        "PASSWORD": SHOP.db_password,
        # See config.db_conn_max_age: 0 closes the connection at the end of every request.
        "CONN_MAX_AGE": SHOP.db_conn_max_age,
        "CONN_HEALTH_CHECKS": True,
        # PgBouncer in transaction mode hands each transaction to any server connection; a
        # server-side cursor would outlive its transaction's server connection.
        "DISABLE_SERVER_SIDE_CURSORS": True,
        "OPTIONS": {
            "connect_timeout": SHOP.db_connect_timeout,
            # psycopg 3 prepares a statement server-side after 5 executions. Through PgBouncer in
            # transaction mode the next execution may land on another server connection (the
            # prepared statement is missing there) or on one where the name already exists
            # (DuplicatePreparedStatement). None disables server-side prepared statements.
            "prepare_threshold": None,
            # Notice a silently dead peer (host gone, network partition) instead of waiting for
            # the kernel's default ~2 h keepalive / ~15 min retransmission timeout.
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 1,
            "keepalives_count": 3,
            "tcp_user_timeout": 5000,
        },
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# See config.redis_retries: bounded, fast retries for every redis-py connection we configure.
REDIS_RETRY = Retry(ExponentialBackoff(cap=0.2, base=0.05), SHOP.redis_retries)
_sentinel_kwargs: dict[str, object] = {
    "socket_timeout": SHOP.redis_socket_timeout,
    "socket_connect_timeout": SHOP.redis_socket_timeout,
    "retry": REDIS_RETRY,
}
if SHOP.redis_sentinel_password:
    _sentinel_kwargs["password"] = SHOP.redis_sentinel_password

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        # A list with only the master URL: every read and write goes to the current master (as
        # told by Sentinel), so the cache probe reads its own write; replica reads could be stale.
        "LOCATION": [f"redis://{SHOP.redis_master_name}/{SHOP.redis_db}?is_master=1"],
        "KEY_PREFIX": "shop",
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.SentinelClient",
            "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
            "SENTINELS": list(SHOP.redis_sentinels),
            "SENTINEL_KWARGS": _sentinel_kwargs,
            "PASSWORD": SHOP.redis_password,
            "SOCKET_CONNECT_TIMEOUT": SHOP.redis_socket_timeout,
            "SOCKET_TIMEOUT": SHOP.redis_socket_timeout,
            "CONNECTION_POOL_KWARGS": {"retry": REDIS_RETRY},
        },
    }
}

# --- Celery (read by shop.celery with namespace "CELERY") ---
_auth = f":{quote(SHOP.redis_password, safe='')}@" if SHOP.redis_password else ""
_sentinel_url = ";".join(
    f"sentinel://{_auth}{host}:{port}/{SHOP.redis_db}" for host, port in SHOP.redis_sentinels
)
_transport_options: dict[str, object] = {
    "master_name": SHOP.redis_master_name,
    "socket_timeout": SHOP.redis_socket_timeout,
    "socket_connect_timeout": SHOP.redis_socket_timeout,
    "sentinel_kwargs": {k: v for k, v in _sentinel_kwargs.items() if k != "retry"},
    # See config.celery_visibility_timeout: bounds redelivery of a killed worker's task.
    "visibility_timeout": SHOP.celery_visibility_timeout,
    # kombu sweeps for expired unacked messages every unacked_restore_interval (10 s) x
    # unacked_restore_throttle seconds: with its default 10 a killed task waits up to ~100 s
    # beyond the visibility timeout.
    "unacked_restore_throttle": SHOP.celery_restore_throttle,
}
CELERY_BROKER_URL = _sentinel_url
CELERY_BROKER_TRANSPORT_OPTIONS = _transport_options
CELERY_RESULT_BACKEND = _sentinel_url
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = dict(_transport_options)
# Tasks record their executions in Postgres (TaskExecution); nobody waits on a result. Ignoring
# results also keeps the web process from subscribing to the result backend on every publish.
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_ACKS_LATE = SHOP.celery_acks_late
# A worker process killed mid-task (OOM, SIGKILL) must not ack the task: redeliver it.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Reserve one task at a time: a killed worker then strands at most one task until redelivery.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Bound how long a publish can block the web request during a broker failover.
CELERY_BROKER_CONNECTION_TIMEOUT = SHOP.redis_socket_timeout
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": SHOP.celery_publish_max_retries,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1,
}
# Workers reconnect forever (supervisor restarts them anyway); retry also at startup.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# On broker connection loss, unacked (acks_late) tasks are redelivered anyway: cancel them.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
SHOP_BEAT_INTERVAL = SHOP.beat_interval
CELERY_BEAT_SYNC_EVERY = SHOP.beat_sync_every
# Exactly one beat runs. The schedule is aligned to multiples of the interval, so the slot
# floor(scheduled time / interval) is exact and a missed or doubled slot shows in BeatTick.
CELERY_BEAT_SCHEDULE = {
    "refresh-metal-prices": {
        "task": "store.tasks.refresh_metal_prices",
        "schedule": AlignedSchedule(SHOP.beat_interval),
    }
}
if SHOP.confirm_sweep_s > 0:
    CELERY_BEAT_SCHEDULE["sweep-unconfirmed-orders"] = {
        "task": "store.tasks.sweep_unconfirmed_orders",
        "schedule": float(SHOP.confirm_sweep_s),
    }

USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = False
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": SHOP.log_level},
}
