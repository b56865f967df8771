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
stop --timeout 0 <id>``), which is a real abrupt death; kubelet restarts them in place at once
(fault class crash-restarted-in-place). ``crash(hold_s=...)`` on kind holds them down that long
(:mod:`.holddown`: crash-held-down), so the control plane must fail over. On ``cluster`` there
is no runtime access: ``crash`` deletes with grace period 0, which STILL sends SIGTERM first
(kubelet); it is recorded as action ``delete-grace-0``, never as ``crash``, so a report cannot
overstate it, and a hold-down is not available (FaultUnavailable: its promises are SKIPPED).
Who leads Postgres is Patroni's leader lock (:func:`.members.patroni_leader`), not a label.

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
from hasuite.drivers.k8s.runtime import holddown, partition
from hasuite.drivers.k8s.runtime.context import check_context
from hasuite.drivers.k8s.runtime.members import (
    COMPONENTS,
    GRACEFUL_MARKERS,
    OWN_ROLE,
    ask_own_view,
    patroni_leader,
    role_of,
    sentinel_master,
    server_address,
)
from hasuite.errors import ConfigError, FaultUnavailable, InjectionError
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
    holds: list[holddown.Hold] = field(default_factory=list)
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
        now, wall = self.clock()
        lead = self._leader_of(component, pods, wall)
        out = []
        for p in pods:
            role, ready, detail = role_of(component, p, lead), p.ready, ""
            held = self._held(p, now)
            if held is not None:  # the API still shows its last status: ours is the truth
                ready, detail = False, f"; {holddown.describe(held, now)}"
            elif component in OWN_ROLE and self._is_cut(p):
                role, serving, said = ask_own_view(self.api, component, p)
                ready, detail = p.ready and serving, f"; cut off, says: {said[:80]}"
            out.append(
                Instance(
                    component=component,
                    name=p.name,
                    role=role,
                    ready=ready,
                    detail=f"node={p.node} ip={p.ip} phase={p.phase}{detail}",
                )
            )
        return out

    def crash(
        self,
        component: str,
        *,
        role: str | None = None,
        count: int = 1,
        hold_s: float | None = None,
    ) -> Injection:
        pods = self._select(component, role, count)
        if hold_s:
            return self._crash_held(component, role, pods, hold_s)
        if self.name == "kind":
            return self._inject(component, role, "crash", pods, self._kill)
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
        holddown.require_runtime_ids(pod, "enter its namespace")
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
            cut = partition.make_cut(
                self.runner,
                pod,
                peers,
                cut_from=cut_from,
                keep=keep,
                node_ip=self._node_ip(pod.node),
            )
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
        return partition.heal_all(self.runner, self.cuts) if self.runner is not None else []

    def restore(self) -> None:
        # Controllers (Deployments, StatefulSets, the operator) recreate what was deleted; a
        # partition and a hold-down are ours to take out.
        problems = [problem for problem in map(self._release, list(self.holds)) if problem]
        left = self.heal()
        if left:
            problems.append(partition.stuck(left, self.context))
        if problems:
            raise InjectionError("; ".join(problems))

    def _release(self, hold: holddown.Hold) -> str | None:
        self.holds.remove(hold)
        return holddown.release(self.runner, hold) if self.runner is not None else None

    def server_address(self, component: str, instance: str) -> str | None:
        """The ``host:port`` the app names as the backend ``instance`` served
        (:func:`.members.server_address`)."""
        return server_address(component, instance, self._pods(component), self._redis_master)

    def _node_ip(self, node: str) -> str:
        return self._kubectl("get", "node", node, "-o", partition.NODE_IP_JSONPATH)

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

    def _leader_of(self, component: str, pods: list[PodInfo], wall: float) -> str | None:
        """Who leads ``component`` now: Patroni's lock holder (a member name), the master's
        address as the Sentinels name it; None for components without a primary."""
        if component == "postgres":
            return patroni_leader(self.api, wall)
        if component == "redis":
            return self._redis_master(pods)
        return None

    def _is_cut(self, pod: PodInfo) -> bool:
        return any(c.pod == pod.name for c in self.cuts)

    def _held(self, pod: PodInfo, now: float) -> holddown.Hold | None:
        return next(
            (h for h in self.holds if h.pod == pod.name and holddown.still_down(h, pod, now)),
            None,
        )

    def _redis_master(self, pods: list[PodInfo]) -> str | None:
        return sentinel_master(self.api, pods, self._unreachable)

    def _unreachable(self, pod: PodInfo) -> bool:
        """Cut off (sees only its side), or held down (cannot be asked: kubelet stopped)."""
        return self._is_cut(pod) or self._held(pod, self.clock()[0]) is not None

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

    def _crash_held(
        self, component: str, role: str | None, pods: list[PodInfo], hold_s: float
    ) -> Injection:
        """Kill ``pods`` and keep them down ``hold_s`` (kind: :mod:`.holddown`)."""
        runner = self.runner
        if self.name != "kind" or runner is None:
            raise FaultUnavailable(
                f"a crash that stays down needs the node's kubelet (kind); the {self.name} "
                "target has no node access, and its crash (a pod delete) comes back at once"
            )

        def hold(pod: PodInfo) -> None:
            now = self.clock()[0]
            self.holds.append(holddown.hold_down(runner, pod, hold_s, now=now))

        return self._inject(component, role, "crash", pods, hold, held_s=hold_s)

    def _kill(self, pod: PodInfo) -> None:
        if self.runner is None:
            raise InjectionError("kind crash needs a command runner (docker exec on the node)")
        holddown.kill_containers(self.runner, pod)

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
        held_s: float | None = None,
    ) -> Injection:
        at, wall = self.clock()
        verb, held = ("hold-down", f", held {held_s:g} s") if held_s else (action, "")
        for pod in pods:
            self._act(verb, f"{pod.namespace}/{pod.name} on {pod.node}{held}", partial(call, pod))
        return Injection(
            at=at,
            wall=wall,
            component=component,
            action=action,
            instances=tuple(p.name for p in pods),
            role=role,
            held_s=held_s,
        )
