"""shop.config.load: pure, no servers needed (but Django must be importable)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

MINIMAL = {
    "SHOP_SECRET_KEY": "k",
    "SHOP_DB_NAME": "shop",
    "SHOP_DB_USER": "shop",
    "SHOP_REDIS_SENTINELS": "127.0.0.1:26379, 127.0.0.1:26380",
}


def load(**overrides: str | None):
    from shop import config

    env = {**MINIMAL, **overrides}
    return config.load({k: v for k, v in env.items() if v is not None})


def test_defaults_are_the_documented_ones() -> None:
    cfg = load()
    assert cfg.redis_sentinels == (("127.0.0.1", 26379), ("127.0.0.1", 26380))
    assert cfg.db_port == 6432
    assert cfg.db_connect_timeout == 2
    assert cfg.db_conn_max_age == 0
    assert cfg.celery_visibility_timeout == 3600
    assert cfg.celery_acks_late is True
    assert cfg.beat_interval == 10
    assert cfg.redis_socket_timeout == 1.0
    assert cfg.probe_token is None
    assert cfg.debug is False


@pytest.mark.parametrize("name", ["SHOP_DB_NAME", "SHOP_DB_USER", "SHOP_REDIS_SENTINELS"])
def test_missing_required_variable_is_named(name: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=name):
        load(**{name: None})


def test_secret_key_required_unless_debug() -> None:
    with pytest.raises(ImproperlyConfigured, match="SHOP_SECRET_KEY"):
        load(SHOP_SECRET_KEY=None)
    assert load(SHOP_SECRET_KEY=None, SHOP_DEBUG="1").debug is True


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"SHOP_REDIS_SENTINELS": "nohostport"}, "SHOP_REDIS_SENTINELS"),
        ({"SHOP_DB_PORT": "abc"}, "SHOP_DB_PORT"),
        ({"SHOP_BEAT_INTERVAL": "0"}, "SHOP_BEAT_INTERVAL"),
        ({"SHOP_CELERY_ACKS_LATE": "maybe"}, "SHOP_CELERY_ACKS_LATE"),
        ({"SHOP_REDIS_SOCKET_TIMEOUT": "-1"}, "SHOP_REDIS_SOCKET_TIMEOUT"),
    ],
)
def test_bad_values_are_rejected_with_the_variable_name(overrides, match) -> None:
    with pytest.raises(ImproperlyConfigured, match=match):
        load(**overrides)


def test_seeded_violation_switch_turns_acks_late_off() -> None:
    assert load(SHOP_CELERY_ACKS_LATE="false").celery_acks_late is False


def test_settings_wire_the_config_into_django_and_celery() -> None:
    from django.conf import settings

    db = settings.DATABASES["default"]
    assert db["OPTIONS"]["prepare_threshold"] is None
    assert db["OPTIONS"]["connect_timeout"] == settings.SHOP.db_connect_timeout
    assert settings.CELERY_TASK_ACKS_LATE is True
    assert settings.CELERY_TASK_REJECT_ON_WORKER_LOST is True
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
    assert settings.CELERY_BROKER_URL.startswith("sentinel://127.0.0.1:")
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    assert options["master_name"] == settings.SHOP.redis_master_name
    assert options["visibility_timeout"] == 3600
    assert settings.CACHES["default"]["OPTIONS"]["CLIENT_CLASS"].endswith("SentinelClient")


def test_committed_migrations_match_the_models() -> None:
    from django.core.management import call_command

    # Exits non-zero (SystemExit) when a model change has no migration.
    call_command("makemigrations", "store", "--check", "--dry-run", verbosity=0)


def test_app_transactions_carry_the_statement_timeout() -> None:
    from django.db import connection
    from store import db

    with db.atomic(), connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone() == ("5s",)
    with connection.cursor() as cursor:  # SET LOCAL ended with the transaction
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone() == ("0",)
