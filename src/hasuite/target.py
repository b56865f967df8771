"""The seam between experiments and targets.

Everything target-specific sits behind `Target`, so `local`, `kind` and `cluster` are
interchangeable: an experiment says "crash the postgres leader"; the target resolves which
instance that is at injection time. Component and role names are the same on every target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from hasuite.errors import ConfigError
from hasuite.model import Injection

# Component -> roles it can have ("" for none). The same names on every target.
COMPONENT_ROLES: dict[str, tuple[str, ...]] = {
    "postgres": ("leader", "replica"),
    "pooler": (),
    "redis": ("master", "replica"),
    "sentinel": (),
    "django": (),
    "celery-worker": (),
    "celery-beat": (),
    "nginx": (),
    "prometheus": (),
    "alertmanager": (),
}


def validate_selector(component: str, role: str | None) -> None:
    """Raise ConfigError for an unknown component or a role it cannot have."""
    if component not in COMPONENT_ROLES:
        raise ConfigError(f"unknown component {component!r}; valid: {', '.join(COMPONENT_ROLES)}")
    roles = COMPONENT_ROLES[component]
    if role is not None and role not in roles:
        valid = ", ".join(roles) if roles else f"none ({component} has no roles)"
        raise ConfigError(f"unknown role {role!r} for {component}; valid: {valid}")


@dataclass(frozen=True, kw_only=True)
class Endpoints:
    """Where the suite reaches the stack from outside (the doors users use)."""

    app_url: str
    prometheus_url: str
    alertmanager_url: str
    alert_receiver_url: str | None = None
    probe_token: str | None = None


@dataclass(frozen=True, kw_only=True)
class Instance:
    """One running instance of a component (a lab program or a pod)."""

    component: str
    name: str
    role: str | None
    ready: bool
    detail: str = ""


@runtime_checkable
class Target(Protocol):
    """What experiments need from a place the stack runs. Every call is bounded in time."""

    name: str

    def up(self) -> None: ...

    def down(self) -> None: ...

    def endpoints(self) -> Endpoints: ...

    def instances(self, component: str) -> list[Instance]: ...

    def crash(self, component: str, *, role: str | None = None, count: int = 1) -> Injection: ...

    def stop(self, component: str, *, role: str | None = None, count: int = 1) -> Injection: ...

    def pause(self, component: str, *, role: str | None = None) -> Injection: ...

    def resume(self) -> None: ...

    def rollout(self, component: str) -> Injection: ...

    def restore(self) -> None: ...
