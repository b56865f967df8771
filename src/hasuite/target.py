"""The seam between experiments and targets.

Everything target-specific sits behind `Target`, so `local`, `kind` and `cluster` are
interchangeable: an experiment says "crash the postgres leader"; the target resolves which
instance that is at injection time. Component and role names are the same on every target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from hasuite.components import COMPONENTS, STACK_COMPONENTS
from hasuite.errors import ConfigError
from hasuite.model import Injection

#: Component -> roles it can have (the registry's stack components, hasuite.components).
COMPONENT_ROLES: dict[str, tuple[str, ...]] = {
    c.name: c.roles for c in COMPONENTS if c.name in STACK_COMPONENTS
}

#: The peers a partition cuts a member off from, by name, the same on every target (each target
#: resolves them: addresses on Kubernetes, processes and ports on the lab). ``pooler``: the
#: database's door for the app (PgBouncer and the Service in front of it), to cut one app
#: instance off from the database without touching anything else.
PEER_SETS = ("dcs", "replicas", "sentinels", "app", "pooler")


def check_sets(cut_from: Sequence[str], keep: Sequence[str]) -> None:
    """Refuse unknown or empty peer sets before anything is resolved."""
    unknown = [s for s in [*cut_from, *keep] if s not in PEER_SETS]
    if unknown:
        raise ConfigError(
            f"unknown peer set(s) {', '.join(sorted(set(unknown)))}; known: {', '.join(PEER_SETS)}"
        )
    if not cut_from:
        raise ConfigError("a partition needs at least one peer set to cut the member off from")
    both = sorted(set(cut_from) & set(keep))
    if both:
        raise ConfigError(f"peer set(s) {', '.join(both)} both cut and kept: choose one")


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

    def crash(
        self,
        component: str,
        *,
        role: str | None = None,
        count: int = 1,
        hold_s: float | None = None,
    ) -> Injection:
        """Kill (SIGKILL) ``count`` instances holding ``role``. ``hold_s``: keep them from
        coming back for that long where the target can (kind's hold-down); the Injection's
        ``held_s`` says what the target did."""
        ...

    def stop(self, component: str, *, role: str | None = None, count: int = 1) -> Injection: ...

    def pause(self, component: str, *, role: str | None = None) -> Injection: ...

    def resume(self) -> None: ...

    def rollout(self, component: str) -> Injection: ...

    def restore(self) -> None: ...


@runtime_checkable
class Refuser(Protocol):
    """A target that can refuse every connection to a component (a sharp-edged outage, for
    calibration) until heal()."""

    name: str

    def refuse(self, component: str) -> Injection: ...

    def heal(self) -> list[str]: ...


@runtime_checkable
class Partitioner(Protocol):
    """A target that can cut one member off from named peer sets (``PEER_SETS``)."""

    name: str

    def partition(
        self,
        component: str,
        *,
        role: str | None = None,
        cut_from: tuple[str, ...],
        keep: tuple[str, ...] = (),
    ) -> Injection: ...

    def heal(self) -> list[str]: ...

    def server_address(self, component: str, instance: str) -> str | None:
        """The ``host:port`` the app's answers name as the backend when ``instance`` served
        them (a ledger entry's ``server``); None: unknown."""
        ...


#: What Patroni calls its primary, by version (2: master; 3 and 4: leader, or primary in a
#: standby cluster's views); hasuite calls it ``leader`` on every target.
PATRONI_PRIMARY_NAMES = ("leader", "master", "primary")


def patroni_role(raw: str | None) -> str | None:
    """A role as Patroni reports it, in hasuite's words: its primary is the ``leader``."""
    return "leader" if raw in PATRONI_PRIMARY_NAMES else raw
