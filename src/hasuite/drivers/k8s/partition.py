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
- ``app``: the Django, Celery and PgBouncer pods.

Traffic from the pod's own node (kubelet's probes) always passes: cutting kubelet off would make
Kubernetes restart the member, which is another fault. ``keep`` names sets whose members keep
reaching the cut-off one (the split-brain case: clients on the minority side).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hasuite.drivers.k8s.boundary import CommandRunner
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


def has_chain(runner: CommandRunner, node: str, pid: int) -> bool:
    """Whether our chain exists in that namespace (a partition a killed run left)."""
    result = runner.run(
        ["docker", "exec", node, "nsenter", "-t", str(pid), "-n", "iptables", "-w", "-S", CHAIN],
        timeout_s=20,
        check=False,
    )
    return result.returncode == 0


def addresses(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({v for v in values if v}))
