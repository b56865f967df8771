"""The one registry of the stack's components: names, roles, instance counts, health checks.

Every target, the lab, the run and the tests read the components from here; an experiment names
them ("kill the postgres leader") and each target resolves them. A component is either part of
the stack under test (the same name on every target) or lab plumbing that stands in for a piece
of Kubernetes on the local lab (etcd for Patroni's DCS, HAProxy for the primary Service, the
exporters and the alert receiver).
"""

from __future__ import annotations

from dataclasses import dataclass

from hasuite.errors import ConfigError
from hasuite.model import PRIMARY_ROLES
from hasuite.settings import StackSettings, flat_settings

__all__ = [
    "APP_TIER",
    "COMPONENTS",
    "LAB_COMPONENTS",
    "STACK_COMPONENTS",
    "Component",
    "component",
    "validate_selector",
]


@dataclass(frozen=True, kw_only=True)
class Component:
    """One component of the stack (or of the lab's plumbing).

    ``instances`` is a fixed count or the dotted env/stack.yaml setting that sets it;
    ``primary`` is the role a failover must replace; ``steady_state`` says whether its health is
    part of "the stack is healthy" before a fault; ``health`` says what "ready" means.
    """

    name: str
    roles: tuple[str, ...] = ()
    primary: str | None = None
    instances: int | str = 1
    steady_state: bool = False
    lab_only: bool = False
    #: runs the shop's own code (the app image): Django and Celery, the app tier
    app: bool = False
    health: str

    def count(self, stack: StackSettings) -> int:
        """How many instances ``stack`` runs."""
        if isinstance(self.instances, int):
            return self.instances
        value = flat_settings(stack)[self.instances]
        return int(value)


#: In start order on the lab; the stack's components first-class, the lab's plumbing marked.
COMPONENTS: tuple[Component, ...] = (
    Component(name="etcd", lab_only=True, health="etcd answers (Patroni's DCS on the lab)"),
    Component(
        name="postgres",
        roles=(PRIMARY_ROLES["postgres"], "replica"),
        primary=PRIMARY_ROLES["postgres"],
        instances=3,
        steady_state=True,
        health="Patroni REST: every member running, one leader, replicas streaming",
    ),
    Component(
        name="haproxy",
        lab_only=True,
        health="HAProxy stats answer (the primary and pooler Services on the lab)",
    ),
    Component(
        name="pooler",
        instances="pooler.instances",
        steady_state=True,
        health="PgBouncer accepts connections and reaches the primary",
    ),
    Component(
        name="redis",
        roles=(PRIMARY_ROLES["redis"], "replica"),
        primary=PRIMARY_ROLES["redis"],
        instances=3,
        steady_state=True,
        health="one master, the replicas linked to it",
    ),
    Component(
        name="sentinel",
        instances=3,
        steady_state=True,
        health="every Sentinel names the same master and sees the quorum",
    ),
    Component(
        name="django",
        instances="django.replicas",
        steady_state=True,
        app=True,
        health="GET /readyz 200 (database and Redis answer)",
    ),
    Component(
        name="celery-worker",
        instances="celery.workers",
        steady_state=True,
        app=True,
        health="every worker answers a Celery ping",
    ),
    Component(
        name="celery-beat",
        instances="celery.beat_replicas",
        steady_state=True,
        app=True,
        health="a beat tick in the last intervals",
    ),
    Component(
        name="nginx", steady_state=True, health="GET /readyz through nginx 200 (the ingress)"
    ),
    Component(name="prometheus", health="every scrape target up"),
    Component(name="alertmanager", health="GET /-/ready 200"),
    Component(name="alert-receiver", lab_only=True, health="GET /healthz 200"),
    Component(name="redis-exporter", lab_only=True, health="scraped by Prometheus"),
    Component(name="nginx-exporter", lab_only=True, health="scraped by Prometheus"),
    Component(
        name="pooler-exporter",
        lab_only=True,
        instances="pooler.instances",
        health="scraped by Prometheus",
    ),
)

_BY_NAME = {c.name: c for c in COMPONENTS}
#: The names every target knows (what an experiment may name).
STACK_COMPONENTS: tuple[str, ...] = tuple(c.name for c in COMPONENTS if not c.lab_only)
#: Every name the local lab runs, in start order.
LAB_COMPONENTS: tuple[str, ...] = tuple(c.name for c in COMPONENTS)
#: The app tier: the components that run the shop's own code (Django, Celery's workers and beat).
APP_TIER: tuple[str, ...] = tuple(c.name for c in COMPONENTS if c.app)
#: The components whose health is the steady-state hypothesis before a fault.
STEADY_STATE: tuple[str, ...] = tuple(c.name for c in COMPONENTS if c.steady_state)


def component(name: str) -> Component:
    """The component named ``name``; ConfigError listing the known ones otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ConfigError(
            f"unknown component {name!r}; valid: {', '.join(STACK_COMPONENTS)}"
        ) from None


def validate_selector(name: str, role: str | None) -> None:
    """Raise ConfigError for an unknown stack component or a role it cannot have."""
    if name not in STACK_COMPONENTS:
        raise ConfigError(f"unknown component {name!r}; valid: {', '.join(STACK_COMPONENTS)}")
    roles = _BY_NAME[name].roles
    if role is not None and role not in roles:
        valid = ", ".join(roles) if roles else f"none ({name} has no roles)"
        raise ConfigError(f"unknown role {role!r} for {name}; valid: {valid}")
