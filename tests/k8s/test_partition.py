"""Partitions on kind against fakes of our boundary: the peers resolved by set, the rules in our
own chain only, healed by the rollback, and refused before anything when the input is wrong."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from hasuite.drivers.k8s import partition
from hasuite.drivers.k8s.boundary import CommandResult, PodInfo
from hasuite.drivers.k8s.target import KubeTarget
from hasuite.errors import ConfigError, InjectionError

from .test_driver import make_api


@dataclass
class NodeRunner:
    """docker exec / kubectl answers of a kind cluster; records every command."""

    commands: list[tuple[str, ...]] = field(default_factory=list)
    fail_on: str | None = None

    def which(self, tool: str) -> str | None:
        return f"/usr/bin/{tool}"

    def run(
        self, argv: Sequence[str], *, timeout_s: float, check: bool = True, cwd: str | None = None
    ) -> CommandResult:
        argv = tuple(argv)
        self.commands.append(argv)
        out = ""
        if "inspect" in argv:
            out = "4242\n"
        elif "service" in argv:
            out = "10.96.0.1"
        elif "node" in argv and "jsonpath" in argv[-1]:
            out = {"hasuite-control-plane": "172.18.0.2"}.get(argv[5], "172.18.0.3")
        if check and self.fail_on and self.fail_on in argv:
            from hasuite.errors import HasuiteError

            raise HasuiteError(f"{' '.join(argv)} exited 1: iptables: No chain")
        return CommandResult(argv=argv, returncode=0, stdout=out)


def target(runner: NodeRunner) -> KubeTarget:
    api = make_api("kind-hasuite")
    api.pods["application=spilo"] = [
        dataclasses.replace(p, ip=f"10.244.{i}.5")
        for i, p in enumerate(api.pods["application=spilo"], 1)
    ]
    api.pods["application=db-connection-pooler"] = [
        PodInfo(name="pooler-a", namespace="shop", ip="10.244.1.9", node="hasuite-worker")
    ]
    return KubeTarget.create(
        target="kind", context="kind-hasuite", api_factory=lambda c: api, runner=runner
    )


def _iptables(runner: NodeRunner) -> list[tuple[str, ...]]:
    return [c[c.index("iptables") :] for c in runner.commands if "iptables" in c]


def test_the_leader_is_cut_from_the_dcs_and_its_replicas_keeping_the_pooler() -> None:
    runner = NodeRunner()
    t = target(runner)
    inj = t.partition("postgres", role="leader", cut_from=("dcs", "replicas"), keep=("app",))
    assert inj.action == "partition" and inj.instances == ("shop-db-1",)
    rules = _iptables(runner)
    dropped = {r[r.index("-s") + 1] for r in rules if "-s" in r and r[-1] == "DROP"}
    # the API (Service and control-plane node) and the two replicas; not the pooler (kept)
    assert dropped == {"10.96.0.1", "172.18.0.2", "10.244.1.5", "10.244.3.5"}
    assert all(
        c[:3] == ("docker", "exec", "hasuite-worker2") for c in runner.commands if "nsenter" in c
    )
    assert ("iptables", "-w", "-A", partition.CHAIN, "-s", "172.18.0.3", "-j", "RETURN") in rules
    assert rules[-2:] == [
        ("iptables", "-w", "-I", "INPUT", "1", "-j", partition.CHAIN),
        ("iptables", "-w", "-I", "OUTPUT", "1", "-j", partition.CHAIN),
    ]
    assert not [r for r in rules if partition.CHAIN not in r]  # only our chain is touched
    n = len(runner.commands)
    t.restore()
    healed = _iptables(NodeRunner(commands=runner.commands[n:]))
    assert healed == [
        ("iptables", "-w", "-D", "INPUT", "-j", partition.CHAIN),
        ("iptables", "-w", "-D", "OUTPUT", "-j", partition.CHAIN),
        ("iptables", "-w", "-F", partition.CHAIN),
        ("iptables", "-w", "-X", partition.CHAIN),
    ]
    assert t.cuts == []


def test_a_rule_that_fails_takes_out_what_went_in() -> None:
    runner = NodeRunner(fail_on="INPUT")
    with pytest.raises(Exception, match="No chain"):
        target(runner).partition("postgres", role="leader", cut_from=("replicas",))
    assert ("iptables", "-w", "-X", partition.CHAIN) in _iptables(runner)


@pytest.mark.parametrize(
    ("cut_from", "keep", "match"),
    [
        (("replicas", "moon"), (), "unknown peer set"),
        ((), (), "at least one peer set"),
        (("app",), ("app",), "both cut and kept"),
    ],
)
def test_bad_peer_sets_are_refused_before_any_command(
    cut_from: tuple[str, ...], keep: tuple[str, ...], match: str
) -> None:
    runner = NodeRunner()
    with pytest.raises(ConfigError, match=match):
        target(runner).partition("postgres", role="leader", cut_from=cut_from, keep=keep)
    assert runner.commands == []


def test_a_cluster_without_runtime_access_refuses_partitions() -> None:
    t = KubeTarget.create(
        target="cluster",
        context="staging",
        allowed_contexts=("staging",),
        api_factory=make_api,
        runner=None,
    )
    with pytest.raises(InjectionError, match="need the node's container runtime"):
        t.partition("postgres", role="leader", cut_from=("dcs",))
