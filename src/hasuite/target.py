"""The seam between experiments and targets.

Everything target-specific sits behind `Target`, so `local`, `kind` and `cluster` are
interchangeable: an experiment says "crash the postgres leader"; the target resolves which
instance that is at injection time. Component and role names are the same on every target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from hasuite.components import COMPONENTS, STACK_COMPONENTS
from hasuite.model import Injection

#: Component -> roles it can have (the registry's stack components, hasuite.components).
COMPONENT_ROLES: dict[str, tuple[str, ...]] = {
    c.name: c.roles for c in COMPONENTS if c.name in STACK_COMPONENTS
}


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
    #: bytes a replica is behind its leader (None: not known on this target)
    lag: int | None = None


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
