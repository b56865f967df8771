"""The `kind` and `cluster` targets: hasuite.target.Target over a KubeApi boundary.

Safety (checked in ``__init__``, BEFORE the KubeApi factory is called, i.e. before any API call):
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
"""

# size: the Target protocol on Kubernetes (roles, crash, stop, rollout, partition, heal) and the
# context safety check; each a short method over the KubeApi boundary.
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from hasuite.components import validate_selector
from hasuite.drivers.k8s import partition
from hasuite.drivers.k8s.boundary import CommandRunner, HpaStatus, KubeApi, PodInfo
from hasuite.drivers.k8s.overlay import PRODUCTION, PROFILE_ANNOTATION
from hasuite.errors import ConfigError, InjectionError
from hasuite.model import Injection
from hasuite.target import Endpoints, Instance

NAMESPACE = "shop"

#: Component -> (label selector, container names to crash, deployment name or None).
COMPONENTS: dict[str, tuple[str, str | None]] = {
    "postgres": ("application=spilo,cluster-name=shop-db", None),
    "pooler": ("application=db-connection-pooler,cluster-name=shop-db", None),
    "redis": ("app=redis-ha", None),
    "sentinel": ("app=redis-ha", None),
    "django": ("app.kubernetes.io/name=shop,app.kubernetes.io/component=django", "django"),
    "celery-worker": (
        "app.kubernetes.io/name=shop,app.kubernetes.io/component=celery-worker",
        "celery-worker",
    ),
    "celery-beat": (
        "app.kubernetes.io/name=shop,app.kubernetes.io/component=celery-beat",
        "celery-beat",
    ),
    "nginx": ("app.kubernetes.io/name=shop,app.kubernetes.io/component=nginx", "nginx"),
}


#: The Services the local-images overlay's Redis members announce themselves by (+ ordinal).
ANNOUNCE = "redis-announce-"

#: A cut-off pod cannot update its own labels (it cannot reach the API server), so during a cut
#: its role comes from the member itself, asked inside its pod through the kubelet (exec), which
#: no cut touches: Patroni's REST API (GET /patroni) and Redis's ROLE, both on the pod's loopback.
OWN_ROLE: dict[str, tuple[str, tuple[str, ...]]] = {
    "postgres": (
        "postgres",
        (
            "python3",
            "-c",
            "import urllib.request as r;"
            "print(r.urlopen('http://127.0.0.1:8008/patroni', timeout=2).read().decode())",
        ),
    ),
    "redis": ("redis", ("redis-cli", "-p", "6379", "role")),
}

#: Container -> log lines its process writes when it handles SIGTERM (a graceful stop): gunicorn's
#: arbiter logs both; Celery's worker logs its warm shutdown.
GRACEFUL_MARKERS: dict[str, tuple[str, ...]] = {
    "django": ("Handling signal: term", "Shutting down: Master"),
    "celery-worker": ("worker: Warm shutdown",),
}


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
        master_ip = self._redis_master_ip(pods) if component == "redis" else None
        out = []
        for p in pods:
            detail = f"node={p.node} ip={p.ip} phase={p.phase}"
            if component in OWN_ROLE and self._is_cut(p):
                role, serving, said = self._own_view(component, p)
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
        packet filtering in its pod's namespace, see drivers.k8s.partition)."""
        partition.check_sets(cut_from, keep)
        if self.name != "kind" or self.runner is None:
            raise InjectionError(
                f"partitions need the node's container runtime (kind); the {self.name} target "
                "has no access to a pod's network namespace"
            )
        (pod,) = self._select(component, role, 1)
        if not pod.container_ids:
            raise InjectionError(f"{pod.name}: no container id; cannot enter its namespace")
        peers = self._peer_addresses(component, pod, cut_from, keep)
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

    def _peer_addresses(
        self, component: str, pod: PodInfo, cut_from: tuple[str, ...], keep: tuple[str, ...]
    ) -> tuple[str, ...]:
        def of(*components: str) -> list[str]:
            return [p.ip for c in components for p in self._pods(c) if p.name != pod.name]

        def announced() -> list[str]:
            # Redis and Sentinel reach each other through the redis-announce-N Services: inside
            # the pod the packets carry those Service addresses (kube-proxy translates them on the
            # node, and the answers come back from them), so the other members' are cut too
            if component != "redis":
                return []
            rows = self._kubectl(
                "get",
                "service",
                "-n",
                NAMESPACE,
                "-l",
                COMPONENTS["redis"][0],
                "-o",
                "jsonpath={range .items[*]}{.metadata.name} {.spec.clusterIP}{'\\n'}{end}",
            )
            return announce_addresses(rows, pod)

        sets = {
            "dcs": lambda: [
                self._kubectl(
                    "get",
                    "service",
                    "kubernetes",
                    "-n",
                    "default",
                    "-o",
                    "jsonpath={.spec.clusterIP}",
                ),
                self._node_ip(f"{self.context.removeprefix('kind-')}-control-plane"),
            ],
            "replicas": lambda: [*of(component), *announced()],
            "sentinels": lambda: [*of("redis"), *announced()],
            "app": lambda: of("django", "celery-worker", "celery-beat", "pooler"),
            # the app reaches PgBouncer through its Service: inside the pod the packets carry
            # the Service address (kube-proxy translates it on the node), so both are cut
            "pooler": lambda: [
                *of("pooler"),
                self._kubectl(
                    "get",
                    "service",
                    "shop-db-pooler",
                    "-n",
                    NAMESPACE,
                    "-o",
                    "jsonpath={.spec.clusterIP}",
                ),
            ],
        }
        kept = set(partition.addresses(a for s in keep for a in sets[s]()))
        cut = partition.addresses(a for s in cut_from for a in sets[s]())
        return tuple(a for a in cut if a not in kept)

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
        if component == "redis" and (self._redis_master_ip(pods) or "").startswith(ANNOUNCE):
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
            return "master" if master_ip and _is_address_of(pod, master_ip) else "replica"
        return None

    def _is_cut(self, pod: PodInfo) -> bool:
        return any(c.pod == pod.name for c in self.cuts)

    def _own_view(self, component: str, pod: PodInfo) -> tuple[str | None, bool, str]:
        """What a cut-off member says of itself (OWN_ROLE): ``own_view`` of its answer, and the
        answer; no role and not serving when it does not answer."""
        container, argv = OWN_ROLE[component]
        try:
            said = self.api.exec_in_pod(NAMESPACE, pod.name, container, argv, timeout_s=5)
        except Exception as exc:  # no answer is no role, as on the lab; the observer goes on
            return None, False, f"no answer ({type(exc).__name__})"
        role, serving = own_view(component, said)
        return role, serving, " ".join(said.split())

    def _redis_master_ip(self, pods: list[PodInfo]) -> str | None:
        """Ask a Sentinel (the first ready pod's sentinel container) for the master address;
        never a cut-off pod's, which sees only its own side of the cut."""
        for pod in pods:
            if not pod.ready or self._is_cut(pod):
                continue
            out = self.api.exec_in_pod(
                NAMESPACE,
                pod.name,
                "sentinel",
                ["redis-cli", "-p", "26379", "sentinel", "get-master-addr-by-name", "shop"],
                timeout_s=5,
            )
            lines = out.split()
            if lines:
                return lines[0]
        return None

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


def own_view(component: str, answer: str) -> tuple[str | None, bool]:
    """A member's answer about itself -> (its role, whether it serves).

    Patroni's GET /patroni JSON: role leader, master or primary -> leader, others as said; it
    serves while its Postgres ``state`` is running or streaming, as on the lab (a leader that is
    demoting says primary while its Postgres shuts down, and accepts no write). Redis's ROLE:
    master; slave -> replica; it serves when it answers. (None, False) for anything else."""
    if component == "postgres":
        try:
            data = json.loads(answer)
        except ValueError:
            return None, False
        if not isinstance(data, dict) or not isinstance(data.get("role"), str):
            return None, False
        role = data["role"]
        role = "leader" if role in ("leader", "master", "primary") else role
        return (role or None), bool(role) and data.get("state") in ("running", "streaming")
    words = answer.split()
    role = (
        {"master": "master", "slave": "replica", "replica": "replica"}.get(words[0])
        if words
        else None
    )
    return role, role is not None


def announce_addresses(rows: str, pod: PodInfo) -> list[str]:
    """The Service addresses of the other members' ``redis-announce-N`` Services, from
    ``NAME CLUSTER-IP`` lines (headless Services and ``pod``'s own announce Service left out)."""
    out = []
    for line in rows.splitlines():
        name, _, ip = line.strip().partition(" ")
        if not name.startswith(ANNOUNCE) or ip in ("", "None"):
            continue
        if _is_address_of(pod, name):
            continue
        out.append(ip)
    return out


def _is_address_of(pod: PodInfo, address: str) -> bool:
    """Whether the address a Sentinel gives is ``pod``'s: its IP, or its announce Service's
    name (``redis-announce-N`` for pod ``...-N``, as the local-images overlay announces)."""
    if address == pod.ip:
        return True
    host = address.split(".", 1)[0]
    ordinal = pod.name.rsplit("-", 1)[-1]
    return host.startswith(ANNOUNCE) and host.rsplit("-", 1)[-1] == ordinal


def check_context(
    *, target: str, context: str, allowed: tuple[str, ...], kind_cluster: str
) -> None:
    """Refuse a context before any API call. Raises ConfigError."""
    if target == "cluster":
        if not allowed:
            raise ConfigError(
                f"--target cluster refused context {context!r}: no context is allow-listed; "
                "add it with --allow-context or `allowed_contexts` in the settings file"
            )
        if context not in allowed:
            raise ConfigError(
                f"--target cluster refused context {context!r}: not on the allow-list "
                f"({', '.join(allowed)})"
            )
    elif target == "kind":
        expected = f"kind-{kind_cluster}"
        if context != expected:
            raise ConfigError(
                f"--target kind acts only on the cluster it created (context {expected!r}), "
                f"not {context!r}"
            )
    else:
        raise ConfigError(f"unknown Kubernetes target {target!r}; valid: kind, cluster")
