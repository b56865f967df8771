"""The `kind` and `cluster` targets: hasuite.target.Target over a KubeApi boundary.

Safety (checked in ``create``, BEFORE the KubeApi factory is called, i.e. before any API call,
by :func:`~hasuite.drivers.k8s.runtime.context.check_context`):
- ``cluster``: the context must be on the explicit allow-list (option or settings file).
- ``kind``: the context must be ``kind-<name>`` of the cluster the bootstrap created (the
  bootstrap refuses an unmarked cluster of that name).
- Every KubeApi is bound to that one context; ``dry_run`` records planned actions, calls nothing
  that changes the cluster.

Faults: ``stop`` = graceful pod delete (SIGTERM, preStop, grace period). ``crash`` on kind = the
node's container runtime stops the pod's containers with no grace (``docker exec <node> crictl
stop --timeout 0 <id>``), which is a real abrupt death. On ``cluster`` there is no runtime
access: ``crash`` deletes with grace period 0, which STILL sends SIGTERM first (kubelet); it is
recorded as action ``delete-grace-0``, never as ``crash``, so a report cannot overstate it.

Which pods play which component, and what a member says of itself: :mod:`.members`; partitions
(the packet filter and the peer sets): :mod:`.partition`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from hasuite.components import validate_selector
from hasuite.drivers.k8s.boundary import CommandRunner, HpaStatus, KubeApi, PodInfo
from hasuite.drivers.k8s.names import NAMESPACE, PRODUCTION, PROFILE_ANNOTATION
from hasuite.drivers.k8s.runtime import partition
from hasuite.drivers.k8s.runtime.context import check_context
from hasuite.drivers.k8s.runtime.members import (
    ANNOUNCE,
    COMPONENTS,
    GRACEFUL_MARKERS,
    OWN_ROLE,
    ask_own_view,
    is_address_of,
    sentinel_master,
)
from hasuite.errors import ConfigError, InjectionError
from hasuite.model import Injection
from hasuite.target import Endpoints, Instance

__all__ = ["KubeTarget", "PlannedAction"]


@dataclass(frozen=True, kw_only=True)
class PlannedAction:
    verb: str
    detail: str


@dataclass(kw_only=True)
class KubeTarget:
    """A target on Kubernetes. Build with ``KubeTarget.create`` (runs the safety checks)."""

    name: str
    context: str
    api: KubeApi
    runner: CommandRunner | None = None
    dry_run: bool = False
    endpoints_: Endpoints | None = None
    planned: list[PlannedAction] = field(default_factory=list)
    cuts: list[partition.Cut] = field(default_factory=list)
    clock: Callable[[], tuple[float, float]] = lambda: (time.monotonic(), time.time())

    @classmethod
    def create(
        cls,
        *,
        target: str,
        context: str,
        api_factory: Callable[[str], KubeApi],
        allowed_contexts: tuple[str, ...] = (),
        kind_cluster: str = "hasuite",
        runner: CommandRunner | None = None,
        dry_run: bool = False,
        endpoints: Endpoints | None = None,
        clock: Callable[[], tuple[float, float]] | None = None,
    ) -> KubeTarget:
        check_context(
            target=target, context=context, allowed=allowed_contexts, kind_cluster=kind_cluster
        )
        target_obj = cls(
            name=target,
            context=context,
            api=api_factory(context),
            runner=runner,
            dry_run=dry_run,
            endpoints_=endpoints,
        )
        if clock is not None:
            target_obj.clock = clock
        return target_obj

    # -- Target protocol -----------------------------------------------------------------------

    def up(self) -> None:  # the bootstrap module does the work for kind; cluster is never created
        return None

    def down(self) -> None:
        return None

    def endpoints(self) -> Endpoints:
        if self.endpoints_ is None:
            raise ConfigError(f"{self.name}: no endpoints configured (ingress URL, port-forwards)")
        return self.endpoints_

    def instances(self, component: str) -> list[Instance]:
        validate_selector(component, None)
        pods = self._pods(component)
        master_ip = sentinel_master(self.api, pods, self._is_cut) if component == "redis" else None
        out = []
        for p in pods:
            detail = f"node={p.node} ip={p.ip} phase={p.phase}"
            if component in OWN_ROLE and self._is_cut(p):
                role, serving, said = ask_own_view(self.api, component, p)
                out.append(
                    Instance(
                        component=component,
                        name=p.name,
                        role=role,
                        ready=p.ready and serving,
                        detail=f"{detail}; cut off, says: {said[:80]}",
                    )
                )
                continue
            role = self._role(component, p, master_ip)
            out.append(
                Instance(component=component, name=p.name, role=role, ready=p.ready, detail=detail)
            )
        return out

    def crash(self, component: str, *, role: str | None = None, count: int = 1) -> Injection:
        pods = self._select(component, role, count)
        if self.name == "kind":
            return self._inject(component, role, "crash", pods, self._crash_via_runtime)
        return self._inject(
            component,
            role,
            "delete-grace-0",
            pods,
            lambda p: self.api.delete_pod(NAMESPACE, p.name, grace_period_s=0),
        )

    def stop(self, component: str, *, role: str | None = None, count: int = 1) -> Injection:
        pods = self._select(component, role, count)
        return self._inject(
            component,
            role,
            "stop",
            pods,
            lambda p: self.api.delete_pod(NAMESPACE, p.name, grace_period_s=None),
        )

    def pause(self, component: str, *, role: str | None = None) -> Injection:
        raise InjectionError(
            f"pause is not supported on the {self.name} target (no SIGSTOP through the "
            "Kubernetes API); use the local target for pause experiments"
        )

    def resume(self) -> None:
        return None

    def rollout(self, component: str) -> Injection:
        validate_selector(component, None)
        deployment = COMPONENTS.get(component, ("", None))[1]
        if deployment is None:
            raise InjectionError(f"{component} is not a Deployment of ours; cannot roll it out")
        at, wall = self.clock()
        stamp = datetime.fromtimestamp(wall, UTC).isoformat()
        self._act(
            "rollout",
            f"deployment/{deployment} restartedAt={stamp}",
            lambda: self.api.restart_deployment(NAMESPACE, deployment, at=stamp),
        )
        return Injection(
            at=at, wall=wall, component=component, action="rollout", instances=(deployment,)
        )

    def partition(
        self,
        component: str,
        *,
        role: str | None = None,
        cut_from: tuple[str, ...],
        keep: tuple[str, ...] = (),
    ) -> Injection:
        """Cut the member holding ``role`` off from the ``cut_from`` peer sets (kind only:
        packet filtering in its pod's namespace, see drivers.k8s.runtime.partition)."""
        partition.check_sets(cut_from, keep)
        if self.name != "kind" or self.runner is None:
            raise InjectionError(
                f"partitions need the node's container runtime (kind); the {self.name} target "
                "has no access to a pod's network namespace"
            )
        (pod,) = self._select(component, role, 1)
        if not pod.container_ids:
            raise InjectionError(f"{pod.name}: no container id; cannot enter its namespace")
        peers = partition.peer_addresses(
            component,
            pod,
            cut_from,
            keep,
            pods=self._pods,
            kubectl=self._kubectl,
            control_plane_ip=lambda: self._node_ip(
                f"{self.context.removeprefix('kind-')}-control-plane"
            ),
        )
        at, wall = self.clock()
        if not self.dry_run:
            cut = partition.Cut(
                pod=pod.name,
                node=pod.node,
                pid=partition.container_pid(self.runner, pod.node, pod.container_ids[0]),
                peers=peers,
                cut_from=cut_from,
                keep=keep,
            )
            partition.apply(self.runner, cut, self._node_ip(pod.node))
            self.cuts.append(cut)
        self.planned.append(
            PlannedAction(
                verb="partition",
                detail=f"[{self.context}] {pod.name} cut from {', '.join(cut_from)} "
                f"({len(peers)} addresses)" + (f", keeping {', '.join(keep)}" if keep else ""),
            )
        )
        return Injection(
            at=at,
            wall=wall,
            component=component,
            action="partition",
            instances=(pod.name,),
            role=role,
        )

    def heal(self) -> list[str]:
        """Take every partition of this target out; the rules that could not be removed."""
        left: list[str] = []
        while self.cuts and self.runner is not None:
            cut = self.cuts.pop()
            left += [f"{cut.pod}: {r}" for r in partition.heal(self.runner, cut.node, cut.pid)]
        return left

    def restore(self) -> None:
        # Controllers (Deployments, StatefulSets, the operator) recreate what was deleted; a
        # partition is ours to take out.
        left = self.heal()
        if left:
            raise InjectionError(
                "partition rules could not be removed: " + "; ".join(left) + "; delete the "
                f"pod (`kubectl --context {self.context} -n {NAMESPACE} delete pod NAME`): the "
                "rules live in its network namespace and go with it"
            )

    def server_address(self, component: str, instance: str) -> str | None:
        """The ``host:port`` the app names as the backend a pod served: Postgres's
        ``pod-ip:5432`` (the server's own address); Redis's as Sentinel names it, the pod's
        announce Service ``redis-announce-N:6379`` where the Sentinels announce hostnames (the
        local-images overlay), else ``pod-ip:6379``. None for other components or a pod without
        an address."""
        port = {"postgres": 5432, "redis": 6379}.get(component)
        pods = self._pods(component)
        pod = next((p for p in pods if p.name == instance), None)
        if not port or pod is None or not pod.ip:
            return None
        if component == "redis" and (
            sentinel_master(self.api, pods, self._is_cut) or ""
        ).startswith(ANNOUNCE):
            return f"{ANNOUNCE}{pod.name.rsplit('-', 1)[-1]}:{port}"
        return f"{pod.ip}:{port}"

    def _node_ip(self, node: str) -> str:
        return self._kubectl(
            "get",
            "node",
            node,
            "-o",
            "jsonpath={.status.addresses[?(@.type=='InternalIP')].address}",
        )

    def _kubectl(self, *args: str) -> str:
        assert self.runner is not None
        out = self.runner.run(["kubectl", "--context", self.context, *args], timeout_s=20)
        return out.stdout.strip()

    # -- observation -----------------------------------------------------------------------------

    def observe_hpa(self, name: str = "django") -> HpaStatus:
        return self.api.read_hpa(NAMESPACE, name)

    def stack_profile(self) -> str | None:
        """The env/stack.yaml profile the shop's Namespace says it runs (its
        ``hasuite.io/stack-profile`` annotation, set by `hasuite up --target kind`); None for
        the production settings or a stack hasuite did not install."""
        value = self.api.namespace_annotations(NAMESPACE).get(PROFILE_ANNOTATION)
        return None if value in (None, "", PRODUCTION) else value

    def shutdown_lines(self, pod: str, container: str) -> list[str]:
        """The lines of a graceful shutdown (SIGTERM handled) in the log of ``container``'s
        previous run in ``pod``: none after a real crash (SIGKILL without SIGTERM)."""
        markers = GRACEFUL_MARKERS.get(container, ())
        log = self.api.pod_log(NAMESPACE, pod, container, previous=True, tail_lines=200)
        return [line for line in log.splitlines() if any(m in line for m in markers)]

    # -- internals -------------------------------------------------------------------------------

    def _pods(self, component: str) -> list[PodInfo]:
        if component not in COMPONENTS:
            raise InjectionError(f"{component} is not managed by the {self.name} target's driver")
        return sorted(self.api.list_pods(NAMESPACE, COMPONENTS[component][0]), key=lambda p: p.name)

    def _role(self, component: str, pod: PodInfo, master_ip: str | None) -> str | None:
        if component == "postgres":
            return {"master": "leader", "replica": "replica"}.get(pod.labels.get("spilo-role", ""))
        if component == "redis":
            return "master" if master_ip and is_address_of(pod, master_ip) else "replica"
        return None

    def _is_cut(self, pod: PodInfo) -> bool:
        return any(c.pod == pod.name for c in self.cuts)

    def _select(self, component: str, role: str | None, count: int) -> list[PodInfo]:
        validate_selector(component, role)
        if count < 1:
            raise ConfigError(f"count must be >= 1, got {count}")
        instances = self.instances(component)
        chosen = [i for i in instances if role is None or i.role == role][:count]
        if len(chosen) < count:
            seen = ", ".join(f"{i.name} {i.role or '-'}" for i in instances) or "none"
            raise InjectionError(
                f"{component}: wanted {count} with role {role or 'any'}, found {len(chosen)} "
                f"(pods: {seen}) in context {self.context}"
            )
        names = {i.name for i in chosen}
        return [p for p in self._pods(component) if p.name in names]

    def _crash_via_runtime(self, pod: PodInfo) -> None:
        if self.runner is None:
            raise InjectionError("kind crash needs a command runner (docker exec on the node)")
        if not pod.node or not pod.container_ids:
            raise InjectionError(f"{pod.name}: node or container ids unknown; cannot crash it")
        # crictl stop --timeout 0: the runtime kills the containers at once (SIGKILL). crictl's
        # own RPC deadline (global --timeout, default 2 s) was too short for the 4 containers of
        # a Redis pod on a loaded node ("context deadline exceeded", seen on kind).
        self.runner.run(
            [
                "docker",
                "exec",
                pod.node,
                "crictl",
                "--timeout",
                "20s",
                "stop",
                "--timeout",
                "0",
                *pod.container_ids,
            ],
            timeout_s=30,
        )

    def _act(self, verb: str, detail: str, call: Callable[[], None]) -> None:
        self.planned.append(PlannedAction(verb=verb, detail=f"[{self.context}] {detail}"))
        if not self.dry_run:
            call()

    def _inject(
        self,
        component: str,
        role: str | None,
        action: str,
        pods: list[PodInfo],
        call: Callable[[PodInfo], None],
    ) -> Injection:
        at, wall = self.clock()
        for pod in pods:
            self._act(action, f"{pod.namespace}/{pod.name} on {pod.node}", partial(call, pod))
        return Injection(
            at=at,
            wall=wall,
            component=component,
            action=action,
            instances=tuple(p.name for p in pods),
            role=role,
        )
