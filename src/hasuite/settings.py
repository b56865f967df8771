"""Settings: the stack under test (env/stack.yaml) and the suite's own knobs.

Loaded once (CLI > HASUITE_* environment > file > defaults) and passed down as values; nothing
below the CLI or the pytest plugin reads os.environ.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from hasuite.errors import ConfigError
from hasuite.paths import project_paths

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class PatroniSettings:
    ttl: int = 30
    loop_wait: int = 10
    retry_timeout: int = 10
    maximum_lag_on_failover: int = 33554432
    use_pg_rewind: bool = True
    termination_grace_s: int = 300


@dataclass(frozen=True, kw_only=True)
class PoolerSettings:
    instances: int = 2
    pool_mode: str = "transaction"
    default_pool_size: int = 20
    max_client_conn: int = 500
    server_connect_timeout: int = 3
    server_login_retry: int = 1
    query_wait_timeout: int = 30
    server_check_delay: int = 10


@dataclass(frozen=True, kw_only=True)
class SentinelSettings:
    quorum: int = 2
    down_after_milliseconds: int = 10000
    failover_timeout: int = 180000
    parallel_syncs: int = 5


@dataclass(frozen=True, kw_only=True)
class RedisSettings:
    master_name: str = "shop"
    min_replicas_to_write: int = 1
    min_replicas_max_lag: int = 5
    #: the append-only file: with it a master restarted in place comes back with its data
    appendonly: bool = False
    sentinel: SentinelSettings = field(default_factory=SentinelSettings)


@dataclass(frozen=True, kw_only=True)
class DjangoSettings:
    replicas: int = 3
    gunicorn_workers: int = 2
    gunicorn_graceful_timeout: int = 30
    gunicorn_timeout: int = 30
    #: seconds gunicorn keeps an idle connection from nginx; must exceed nginx's upstream one
    gunicorn_keepalive: int = 75
    prestop_delay_s: int = 5
    #: the HPA's maxReplicas (its minReplicas is `replicas`); equal to `replicas`, it cannot scale
    hpa_max_replicas: int = 6
    #: the HPA's target: average CPU use, in % of the pods' CPU request
    hpa_cpu_utilization: int = 60
    #: beat re-enqueues confirmations of orders pending this long (s); 0 = never
    confirm_sweep_s: int = 0
    #: seeded violation (suite profiles only): every N-th committed order vanishes; 0 = off
    seeded_order_loss_every: int = 0


@dataclass(frozen=True, kw_only=True)
class CelerySettings:
    workers: int = 2
    concurrency: int = 2
    acks_late: bool = True
    visibility_timeout: int = 3600
    beat_interval: int = 10
    beat_replicas: int = 1
    unacked_restore_throttle: int = 10
    beat_sync_every: int = 0


@dataclass(frozen=True, kw_only=True)
class NginxSettings:
    proxy_next_upstream: str = "error timeout"
    proxy_connect_timeout: int = 1
    proxy_read_timeout: int = 30
    max_fails: int = 1
    fail_timeout: int = 5
    #: seconds nginx keeps an idle upstream connection (nginx's default 60, made explicit)
    upstream_keepalive_timeout: int = 60


@dataclass(frozen=True, kw_only=True)
class MonitoringSettings:
    scrape_interval: int = 5
    evaluation_interval: int = 5
    #: lab only, seeded violations: > 0 renders every alerting rule with this `for:` (seconds)
    alert_for_override_s: int = 0


@dataclass(frozen=True, kw_only=True)
class LabPlumbing:
    haproxy_check_interval_ms: int = 1000
    haproxy_fall: int = 1
    haproxy_rise: int = 1
    restart_delay: int = 0
    postgres_restart_delay: int = 45
    redis_restart_delay: int = 20

    def restart_delay_of(self, component: str) -> int:
        """Seconds supervisord waits before it starts a crashed ``component`` again."""
        own = {"postgres": self.postgres_restart_delay, "redis": self.redis_restart_delay}
        return own.get(component, 0) or self.restart_delay


@dataclass(frozen=True, kw_only=True)
class StackSettings:
    """The settings of the stack under test (env/stack.yaml), after an optional profile."""

    patroni: PatroniSettings = field(default_factory=PatroniSettings)
    pooler: PoolerSettings = field(default_factory=PoolerSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    django: DjangoSettings = field(default_factory=DjangoSettings)
    celery: CelerySettings = field(default_factory=CelerySettings)
    nginx: NginxSettings = field(default_factory=NginxSettings)
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
    lab: LabPlumbing = field(default_factory=LabPlumbing)
    profile: str | None = None

    def app_env(self) -> dict[str, str]:
        """The app's SHOP_* settings that come from this file, the same for the lab's processes
        and the k8s ConfigMap (each adds its own addresses and secrets)."""
        django, celery = self.django, self.celery
        return {
            "SHOP_REDIS_MASTER_NAME": self.redis.master_name,
            "SHOP_GUNICORN_WORKERS": str(django.gunicorn_workers),
            "SHOP_GUNICORN_TIMEOUT": str(django.gunicorn_timeout),
            "SHOP_GUNICORN_KEEPALIVE": str(django.gunicorn_keepalive),
            "SHOP_GUNICORN_GRACEFUL_TIMEOUT": str(django.gunicorn_graceful_timeout),
            "SHOP_CELERY_ACKS_LATE": "true" if celery.acks_late else "false",
            "SHOP_CELERY_VISIBILITY_TIMEOUT": str(celery.visibility_timeout),
            "SHOP_CELERY_RESTORE_THROTTLE": str(celery.unacked_restore_throttle),
            "SHOP_BEAT_INTERVAL": str(celery.beat_interval),
            "SHOP_BEAT_SYNC_EVERY": str(celery.beat_sync_every),
            "SHOP_CONFIRM_SWEEP_S": str(django.confirm_sweep_s),
            "SHOP_SEEDED_ORDER_LOSS_EVERY": str(django.seeded_order_loss_every),
        }


def flat_settings(value: Any, prefix: str = "") -> dict[str, Any]:
    """A settings dataclass as ``{"celery.beat_sync_every": 0, ...}`` (leaves only)."""
    out: dict[str, Any] = {}
    for f in fields(value):
        child = getattr(value, f.name)
        path = f"{prefix}{f.name}"
        if is_dataclass(child):
            out.update(flat_settings(child, path + "."))
        else:
            out[path] = child
    return out


def stack_setting_paths() -> frozenset[str]:
    """Every dotted path of env/stack.yaml's settings (``profile`` excluded)."""
    return frozenset(k for k in flat_settings(StackSettings()) if k != "profile")


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Return base with overlay merged in, recursively (overlay wins)."""
    out = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _build(cls: type[T], data: Mapping[str, Any], where: str, source: str) -> T:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: {where or 'top level'} must be a mapping, got {data!r}")
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {', '.join(unknown)} in {where or 'top level'}; "
            f"known: {', '.join(sorted(known))}"
        )
    kwargs: dict[str, Any] = {}
    defaults = cls()
    for name, value in data.items():
        default = getattr(defaults, name)
        path = f"{where}.{name}" if where else name
        if is_dataclass(default):
            kwargs[name] = _build(type(default), value, path, source)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{source}: {path} must be true or false, got {value!r}")
            kwargs[name] = value
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"{source}: {path} must be a whole number >= 0, got {value!r}")
            kwargs[name] = value
        elif isinstance(default, str) or default is None:
            if not isinstance(value, str):
                raise ConfigError(f"{source}: {path} must be a string, got {value!r}")
            kwargs[name] = value
        else:  # pragma: no cover - every field type is handled above
            kwargs[name] = value
    return cls(**kwargs)


#: Smallest (and largest) values that make sense, by dotted setting (a count of 0 instances, a
#: Sentinel quorum above the Sentinels, a zero interval would break the lab or the promise).
_RANGES: dict[str, tuple[int, int | None]] = {
    "pooler.instances": (1, None),
    "pooler.default_pool_size": (1, None),
    "django.replicas": (1, None),
    "django.gunicorn_workers": (1, None),
    "django.hpa_max_replicas": (1, None),
    "django.hpa_cpu_utilization": (1, None),
    "celery.workers": (1, None),
    "celery.concurrency": (1, None),
    "celery.beat_interval": (1, None),
    "celery.visibility_timeout": (1, None),
    "celery.unacked_restore_throttle": (1, None),
    "redis.sentinel.quorum": (1, 3),
    "redis.sentinel.down_after_milliseconds": (100, None),
    "patroni.loop_wait": (1, None),
    "monitoring.scrape_interval": (1, None),
    "monitoring.evaluation_interval": (1, None),
}


def _check_ranges(stack: StackSettings, source: str) -> None:
    values = flat_settings(stack)
    for path, (low, high) in _RANGES.items():
        value = values[path]
        if value < low or (high is not None and value > high):
            want = f">= {low}" if high is None else f"within {low}..{high}"
            raise ConfigError(
                f"{source}: {path} must be {want}, got {value}; fix it in env/stack.yaml"
            )


def load_stack(path: Path | None = None, profile: str | None = None) -> StackSettings:
    """Read env/stack.yaml (or `path`), apply `profile` from its `profiles:` section."""
    path = path or project_paths().stack
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read stack settings {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    profiles = raw.pop("profiles", {}) or {}
    if profile:
        if profile not in profiles:
            raise ConfigError(
                f"unknown stack profile {profile!r}; {path} defines: "
                f"{', '.join(sorted(profiles)) or 'none'}"
            )
        raw = deep_merge(raw, profiles[profile])
    stack = _build(StackSettings, raw, "", str(path))
    _check_ranges(stack, f"{path}" + (f" (profile {profile})" if profile else ""))
    if stack.django.hpa_max_replicas < stack.django.replicas:
        raise ConfigError(
            f"{path}: django.hpa_max_replicas {stack.django.hpa_max_replicas} is below "
            f"django.replicas {stack.django.replicas} (the HPA's minimum); Kubernetes refuses "
            "an HPA whose maxReplicas is below its minReplicas: raise django.hpa_max_replicas"
        )
    if stack.patroni.ttl < 20:
        raise ConfigError(f"{path}: patroni.ttl {stack.patroni.ttl} < 20; Patroni enforces >= 20")
    if stack.nginx.upstream_keepalive_timeout >= stack.django.gunicorn_keepalive:
        # The server of a pooled connection must outlast the pool: gunicorn closing an idle
        # connection at the instant nginx reuses it resets the request, and nginx never retries
        # a POST (measured: stale-connection resets under load, a 4 s "no live upstreams").
        raise ConfigError(
            f"{path}: nginx.upstream_keepalive_timeout {stack.nginx.upstream_keepalive_timeout} "
            f"must be below django.gunicorn_keepalive {stack.django.gunicorn_keepalive}: gunicorn "
            "would close idle connections nginx is about to reuse; raise "
            "django.gunicorn_keepalive or lower nginx.upstream_keepalive_timeout"
        )
    if profile:
        stack = StackSettings(
            **{f.name: getattr(stack, f.name) for f in fields(stack) if f.name != "profile"},
            profile=profile,
        )
    return stack


@dataclass(frozen=True, kw_only=True)
class SuiteSettings:
    """The suite's own knobs (not the stack's)."""

    timeout_multiplier: float = 1.0
    lab_dir: Path = field(default_factory=lambda: default_lab_dir())
    port_base: int = 25000
    probe_hz: float = 10.0
    reports_dir: Path = field(default_factory=lambda: Path("reports"))
    #: every experiment's Locust load times this (HASUITE_LOAD_SCALE; 1 = as written): for a
    #: machine that cannot carry the profiles, e.g. kind on 2 cores; reports name the scale
    load_scale: float = 1.0

    def scaled(self, seconds: float) -> float:
        """A wait of `seconds`, scaled by the one timeout multiplier."""
        return seconds * self.timeout_multiplier


def default_lab_dir() -> Path:
    # Under /var/tmp, not the checkout: the `postgres` user must be able to reach its data
    # directory, and a checkout under /root is not traversable for it.
    return Path("/var/tmp") / f"hasuite-lab-{os.getuid()}"


def suite_settings_from_env(env: Mapping[str, str], **overrides: Any) -> SuiteSettings:
    """Build SuiteSettings from HASUITE_* variables; explicit overrides (CLI) win."""
    values: dict[str, Any] = {}
    try:
        if "HASUITE_TIMEOUT_MULTIPLIER" in env:
            values["timeout_multiplier"] = float(env["HASUITE_TIMEOUT_MULTIPLIER"])
        if "HASUITE_LAB_DIR" in env:
            values["lab_dir"] = Path(env["HASUITE_LAB_DIR"])
        if "HASUITE_PORT_BASE" in env:
            values["port_base"] = int(env["HASUITE_PORT_BASE"])
        if "HASUITE_PROBE_HZ" in env:
            values["probe_hz"] = float(env["HASUITE_PROBE_HZ"])
        if "HASUITE_REPORTS_DIR" in env:
            values["reports_dir"] = Path(env["HASUITE_REPORTS_DIR"])
        if "HASUITE_LOAD_SCALE" in env:
            values["load_scale"] = float(env["HASUITE_LOAD_SCALE"])
    except ValueError as exc:
        raise ConfigError(f"bad HASUITE_* environment value: {exc}") from exc
    values.update({k: v for k, v in overrides.items() if v is not None})
    s = SuiteSettings(**values)
    if s.timeout_multiplier <= 0:
        raise ConfigError(f"timeout multiplier must be > 0, got {s.timeout_multiplier}")
    if not 0 < s.load_scale <= 10:
        raise ConfigError(
            f"load scale (HASUITE_LOAD_SCALE or --load-scale) must be > 0 and <= 10, got "
            f"{s.load_scale:g}"
        )
    if not 1024 <= s.port_base <= 65000:
        raise ConfigError(f"port base must be within 1024..65000, got {s.port_base}")
    return s


def check_writable(folder: Path, what: str, hint: str) -> None:
    """ConfigError unless ``folder`` can be created and written (checked before any work)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".hasuite-write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"the {what} {folder} cannot be written: {exc.strerror or exc}; {hint}"
        ) from exc
