"""Network partitions on kind: packet filtering inside one pod's network namespace.

The member's pod is entered through its node's container (``docker exec <node> nsenter -t <pid>
-n iptables ...``), so the cut does not depend on the CNI (kind's does not enforce
NetworkPolicy). Every rule sits in one chain of our own, :data:`CHAIN`, hooked into INPUT and
OUTPUT of that namespace only: healing removes the hooks and the chain, and nothing else of the
pod or node is touched.

Peers are named as sets, resolved when the fault goes in:

- ``dcs``: the Kubernetes API (Patroni's DCS): the ``kubernetes`` Service address and the
  control-plane node's address;
- ``replicas``: the other members of the same component;
- ``sentinels``: the Redis pods (each runs a Sentinel);
- ``app``: the Django, Celery and PgBouncer pods;
- ``pooler``: the PgBouncer pods and their Service's address.

(:func:`peer_addresses` resolves them.)

Traffic from the pod's own node (kubelet's probes) always passes: cutting kubelet off would make
Kubernetes restart the member, which is another fault. ``keep`` names sets whose members keep
reaching the cut-off one (the split-brain case: clients on the minority side).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from hasuite.drivers.k8s.boundary import CommandRunner, PodInfo
from hasuite.drivers.k8s.names import NAMESPACE
from hasuite.drivers.k8s.runtime.members import COMPONENTS, announce_addresses
from hasuite.errors import InjectionError
from hasuite.target import PEER_SETS as PEER_SETS  # the same on every target: named there
from hasuite.target import check_sets as check_sets

CHAIN = "HASUITE-PARTITION"


@dataclass(frozen=True, slots=True, kw_only=True)
class Cut:
    """One pod cut off: where its namespace is entered and which addresses it cannot reach."""

    pod: str
    node: str
    pid: int
    peers: tuple[str, ...]
    cut_from: tuple[str, ...]
    keep: tuple[str, ...]


def _nsenter(node: str, pid: int, *iptables: str) -> list[str]:
    return ["docker", "exec", node, "nsenter", "-t", str(pid), "-n", "iptables", "-w", *iptables]


def cut_commands(cut: Cut, node_ip: str) -> list[list[str]]:
    """The commands that put the cut in: our chain, its hooks, a DROP per peer address."""
    cmds = [
        _nsenter(cut.node, cut.pid, "-N", CHAIN),
        _nsenter(cut.node, cut.pid, "-A", CHAIN, "-s", node_ip, "-j", "RETURN"),
        _nsenter(cut.node, cut.pid, "-A", CHAIN, "-d", node_ip, "-j", "RETURN"),
    ]
    for peer in cut.peers:
        cmds.append(_nsenter(cut.node, cut.pid, "-A", CHAIN, "-s", peer, "-j", "DROP"))
        cmds.append(_nsenter(cut.node, cut.pid, "-A", CHAIN, "-d", peer, "-j", "DROP"))
    cmds.append(_nsenter(cut.node, cut.pid, "-I", "INPUT", "1", "-j", CHAIN))
    cmds.append(_nsenter(cut.node, cut.pid, "-I", "OUTPUT", "1", "-j", CHAIN))
    return cmds


def heal_commands(node: str, pid: int) -> list[list[str]]:
    """The commands that take every rule of ours out again (each may find nothing: fine)."""
    return [
        _nsenter(node, pid, "-D", "INPUT", "-j", CHAIN),
        _nsenter(node, pid, "-D", "OUTPUT", "-j", CHAIN),
        _nsenter(node, pid, "-F", CHAIN),
        _nsenter(node, pid, "-X", CHAIN),
    ]


def container_pid(runner: CommandRunner, node: str, container_id: str) -> int:
    """The host-side pid of a container's first process (its network namespace's holder)."""
    out = runner.run(
        [
            "docker",
            "exec",
            node,
            "crictl",
            "--timeout",
            "20s",
            "inspect",
            "--output",
            "go-template",
            "--template",
            "{{.info.pid}}",
            container_id,
        ],
        timeout_s=30,
    ).stdout.strip()
    if not out.isdigit() or int(out) <= 0:
        raise InjectionError(
            f"container {container_id} on {node}: no pid ({out!r}); is it running?"
        )
    return int(out)


def apply(runner: CommandRunner, cut: Cut, node_ip: str) -> None:
    """Put the cut in; on any failure take out what went in, then raise naming the rule."""
    done = False
    try:
        for argv in cut_commands(cut, node_ip):
            runner.run(argv, timeout_s=20)
        done = True
    finally:
        if not done:
            heal(runner, cut.node, cut.pid)


def heal(runner: CommandRunner, node: str, pid: int) -> list[str]:
    """Take our rules out; the ones that could not be removed (empty: healed)."""
    left = []
    for argv in heal_commands(node, pid):
        result = runner.run(argv, timeout_s=20, check=False)
        if (
            result.returncode != 0
            and "No chain" not in result.stderr
            and "does a matching" not in (result.stderr)
        ):
            left.append(f"{' '.join(argv[6:])}: {result.stderr.strip()[-200:]}")
    return left


def heal_all(runner: CommandRunner, cuts: list[Cut]) -> list[str]:
    """Heal (and forget) every cut of ``cuts``; the rules that could not be removed."""
    left: list[str] = []
    while cuts:
        cut = cuts.pop()
        left += [f"{cut.pod}: {r}" for r in heal(runner, cut.node, cut.pid)]
    return left


def stuck(left: list[str], context: str) -> str:
    """What to do about partition rules that could not be removed."""
    return (
        "partition rules could not be removed: " + "; ".join(left) + "; delete the pod "
        f"(`kubectl --context {context} -n {NAMESPACE} delete pod NAME`): the rules live in "
        "its network namespace and go with it"
    )


def has_chain(runner: CommandRunner, node: str, pid: int) -> bool:
    """Whether our chain exists in that namespace (a partition a killed run left)."""
    result = runner.run(
        ["docker", "exec", node, "nsenter", "-t", str(pid), "-n", "iptables", "-w", "-S", CHAIN],
        timeout_s=20,
        check=False,
    )
    return result.returncode == 0


#: A node's InternalIP (kubectl get node NAME -o jsonpath=...).
NODE_IP_JSONPATH = "jsonpath={.status.addresses[?(@.type=='InternalIP')].address}"


def make_cut(
    runner: CommandRunner,
    pod: PodInfo,
    peers: tuple[str, ...],
    *,
    cut_from: tuple[str, ...],
    keep: tuple[str, ...],
    node_ip: str,
) -> Cut:
    """Cut ``pod`` (with a container id) off from ``peers`` in its network namespace; the Cut
    that heals it."""
    cut = Cut(
        pod=pod.name,
        node=pod.node,
        pid=container_pid(runner, pod.node, pod.container_ids[0]),
        peers=peers,
        cut_from=cut_from,
        keep=keep,
    )
    apply(runner, cut, node_ip)
    return cut


def addresses(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({v for v in values if v}))


def peer_addresses(
    component: str,
    pod: PodInfo,
    cut_from: tuple[str, ...],
    keep: tuple[str, ...],
    *,
    pods: Callable[[str], list[PodInfo]],
    kubectl: Callable[..., str],
    control_plane_ip: Callable[[], str],
) -> tuple[str, ...]:
    """The addresses ``pod`` (a member of ``component``) is cut from: those of the ``cut_from``
    peer sets less those of the ``keep`` sets. Each set is looked up only when named: ``pods``
    lists a component's pods, ``kubectl`` runs a read-only kubectl (context pinned) and returns
    its output, ``control_plane_ip`` is the control-plane node's address."""

    def of(*components: str) -> list[str]:
        return [p.ip for c in components for p in pods(c) if p.name != pod.name]

    def announced() -> list[str]:
        # Redis and Sentinel reach each other through the redis-announce-N Services: inside
        # the pod the packets carry those Service addresses (kube-proxy translates them on the
        # node, and the answers come back from them), so the other members' are cut too
        if component != "redis":
            return []
        rows = kubectl(
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
            kubectl(
                "get",
                "service",
                "kubernetes",
                "-n",
                "default",
                "-o",
                "jsonpath={.spec.clusterIP}",
            ),
            control_plane_ip(),
        ],
        "replicas": lambda: [*of(component), *announced()],
        "sentinels": lambda: [*of("redis"), *announced()],
        "app": lambda: of("django", "celery-worker", "celery-beat", "pooler"),
        # the app reaches PgBouncer through its Service: inside the pod the packets carry
        # the Service address (kube-proxy translates it on the node), so both are cut
        "pooler": lambda: [
            *of("pooler"),
            kubectl(
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
    kept = set(addresses(a for s in keep for a in sets[s]()))
    cut = addresses(a for s in cut_from for a in sets[s]())
    return tuple(a for a in cut if a not in kept)
