"""Partitions on kind against fakes of our boundary: the peers resolved by set, the rules in our
own chain only, healed by the rollback, and refused before anything when the input is wrong."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from hasuite.drivers.k8s.boundary import CommandResult, PodInfo
from hasuite.drivers.k8s.runtime import partition
from hasuite.drivers.k8s.runtime.members import own_view
from hasuite.drivers.k8s.runtime.target import KubeTarget
from hasuite.errors import ConfigError, InjectionError

from .test_driver import FakeApi, make_api


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
        elif "service" in argv and "-l" in argv:  # the redis-announce-N Services
            out = "".join(f"redis-announce-{i} 10.96.9.{i}\n" for i in range(3))
            out += "redis-ha-headless None\n"
        elif "service" in argv:
            out = "10.96.0.1"
        elif "node" in argv and "jsonpath" in argv[-1]:
            out = {"hasuite-control-plane": "172.18.0.2"}.get(argv[5], "172.18.0.3")
        if check and self.fail_on and self.fail_on in argv:
            from hasuite.errors import HasuiteError

            raise HasuiteError(f"{' '.join(argv)} exited 1: iptables: No chain")
        return CommandResult(argv=argv, returncode=0, stdout=out)


def target(runner: NodeRunner, api: FakeApi | None = None) -> KubeTarget:
    api = api or make_api("kind-hasuite")
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


def _roles(t: KubeTarget, component: str) -> dict[str, str | None]:
    return {i.name: i.role for i in t.instances(component)}


def test_a_cut_off_leader_answers_for_itself_its_label_is_stale() -> None:
    # the cut-off pod cannot reach the API server to update its spilo-role label: during the cut
    # its role is what its own Patroni says, asked inside the pod through the kubelet
    api = make_api("kind-hasuite")
    t = target(NodeRunner(), api)
    t.partition("postgres", role="leader", cut_from=("dcs", "replicas"), keep=("app",))
    api.answers[("shop-db-1", "postgres")] = '{"state": "running", "role": "primary"}'
    assert _roles(t, "postgres") == {
        "shop-db-0": "replica",
        "shop-db-1": "leader",
        "shop-db-2": "replica",
    }
    api.answers[("shop-db-1", "postgres")] = '{"state": "stopping", "role": "primary"}'
    (cut,) = [i for i in t.instances("postgres") if i.name == "shop-db-1"]
    assert cut.role == "leader" and not cut.ready and "stopping" in cut.detail  # demoting
    api.answers[("shop-db-1", "postgres")] = '{"state": "running", "role": "replica"}'
    assert _roles(t, "postgres")["shop-db-1"] == "replica"  # its label still says master
    api.answers[("shop-db-1", "postgres")] = RuntimeError("exec: timed out")
    assert _roles(t, "postgres")["shop-db-1"] is None  # no answer, no role
    execs = [c for c in api.calls if c[0] == "exec"]
    assert {c[1] for c in execs} == {"shop-db-1"}  # the others keep their labels, no exec
    assert "127.0.0.1:8008/patroni" in " ".join(execs[0][3])
    t.restore()
    assert _roles(t, "postgres")["shop-db-1"] == "leader"  # healed: the label again


def test_a_cut_off_redis_master_answers_for_itself_and_its_sentinel_is_not_asked() -> None:
    api = make_api("kind-hasuite")  # a Sentinel names 10.0.0.11: redis-server-1 is master
    api.pods["app=redis-ha"] = [
        dataclasses.replace(p, container_ids=(f"{p.name}-c1",)) for p in api.pods["app=redis-ha"]
    ]
    runner = NodeRunner()
    t = target(runner, api)
    t.partition("redis", role="master", cut_from=("replicas", "sentinels"), keep=("app",))
    api.answers[("redis-server-1", "redis")] = "master\n1022952\nredis-announce-0\n"
    api.answers[("redis-server-0", "sentinel")] = "10.0.0.12\n6379\n"  # promoted meanwhile
    api.calls.clear()
    assert _roles(t, "redis") == {
        "redis-server-0": "replica",
        "redis-server-1": "master",  # it says so itself: two masters, a split brain
        "redis-server-2": "master",
    }
    sentinels = [c[1] for c in api.calls if c[0] == "exec" and c[2] == "sentinel"]
    assert sentinels == ["redis-server-0"]
    # the other members' announce Services are cut with their pods, its own is not
    dropped = {r[r.index("-d") + 1] for r in _iptables(runner) if "-d" in r and r[-1] == "DROP"}
    assert {"10.96.9.0", "10.96.9.2"} <= dropped and "10.96.9.1" not in dropped
    assert {"10.0.0.10", "10.0.0.12"} <= dropped and "10.0.0.11" not in dropped


@pytest.mark.parametrize(
    ("component", "answer", "role", "serving"),
    [
        ("postgres", '{"role": "master", "state": "running"}', "leader", True),
        ("postgres", '{"role": "primary", "state": "running"}', "leader", True),
        # demoting: still says primary while its Postgres shuts down, and takes no write
        ("postgres", '{"role": "primary", "state": "stopping"}', "leader", False),
        ("postgres", '{"role": "replica", "state": "streaming"}', "replica", True),
        ("postgres", '{"role": "demoted", "state": "stopped"}', "demoted", False),
        ("postgres", "curl: (7) Failed to connect", None, False),
        ("postgres", '{"state": "starting"}', None, False),
        ("postgres", "[1, 2]", None, False),
        ("redis", "master\n1022952\n", "master", True),
        ("redis", "slave\nredis-announce-0\n6379\nconnected\n", "replica", True),
        ("redis", "", None, False),
        ("redis", "(error) NOAUTH", None, False),
    ],
)
def test_a_member_s_own_answer_gives_its_role(
    component: str, answer: str, role: str | None, serving: bool
) -> None:
    assert own_view(component, answer) == (role, serving)


def test_the_cut_off_server_is_named_as_the_app_names_it() -> None:
    api = make_api("kind-hasuite")
    t = target(NodeRunner(), api)
    assert t.server_address("postgres", "shop-db-1") == "10.244.2.5:5432"
    assert t.server_address("redis", "redis-server-1") == "10.0.0.11:6379"  # Sentinel: IPs
    api.master_ip = "redis-announce-1"  # Sentinels announcing hostnames (local-images overlay)
    assert t.server_address("redis", "redis-server-1") == "redis-announce-1:6379"
    assert t.server_address("django", "django-1") is None
