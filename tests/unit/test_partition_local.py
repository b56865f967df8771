"""Partitions on the lab against fakes of the machine: the rules (both directions, in the lab's
own chain), the cgroup moves in a tmp tree that behaves like the kernel's, the fault ledger
written before the rules and cleared after, and refusals before anything is touched."""

from __future__ import annotations

import errno
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hasuite.drivers.local import faults, partition
from hasuite.drivers.local.faults import FaultLedger, repair
from hasuite.drivers.local.lab import LocalLab
from hasuite.drivers.local.layout import LabLayout
from hasuite.drivers.local.partition import Cut, Host, Ran
from hasuite.drivers.local.target import LocalTarget
from hasuite.errors import ConfigError, InjectionError, PartitionUnavailable
from hasuite.settings import StackSettings, SuiteSettings

BASE = 25000
CHAIN = "HASUITE-PART-25000"
CUT_ID, PEERS_ID = "0x61a80001", "0x61a80002"  # 25000 = 0x61a8: the port base is the major


class KernelTree(partition.NetCls):
    """A net_cls tree in a tmp folder that moves and removes as the kernel does: a pid is in
    one cgroup at a time, and a cgroup goes only when no process is left in it."""

    def __init__(self, root: Path, *, stuck: Sequence[int] = ()) -> None:
        super().__init__(root)
        self.stuck = set(stuck)  # pids the kernel refuses to move (e.g. gone half-way)

    def move(self, pids: Sequence[int], path: Path) -> None:
        for pid in pids:
            if pid in self.stuck:
                raise OSError(errno.EINVAL, "Invalid argument")
            for procs in self.root.rglob("cgroup.procs"):
                kept = [p for p in self.pids(procs.parent) if p != pid]
                procs.write_text("".join(f"{p}\n" for p in kept))
        super().move(pids, path)

    def remove(self, path: Path) -> None:
        if self.pids(path):
            raise OSError(errno.EBUSY, "Device or resource busy")
        if any(p.is_dir() for p in path.iterdir()):
            raise OSError(errno.EBUSY, "Device or resource busy")
        for f in path.iterdir():
            f.unlink()
        path.rmdir()


@dataclass
class FakeRunner:
    """Answers iptables and mount like a machine that can partition; records every argv."""

    root: Path
    calls: list[tuple[str, ...]] = field(default_factory=list)
    fail: dict[str, Ran] = field(default_factory=dict)  # a word of the argv -> its answer
    on_call: Any = None

    def __call__(self, argv: Sequence[str]) -> Ran:
        argv = tuple(argv)
        self.calls.append(argv)
        if self.on_call:
            self.on_call(argv)
        for word, answer in self.fail.items():
            if word in argv:
                return answer
        if argv[:2] == ("iptables", "-m"):
            return Ran(0, stdout="cgroup match options:\n[!] --cgroup classid  Match classid\n")
        if argv[0] == "mount":
            (self.root / "net_cls.classid").write_text("0\n")
        return Ran(0)

    def rules(self) -> list[tuple[str, ...]]:
        return [c for c in self.calls if c[0] == "iptables" and c[2] != "-m"]


def mounted_tree(tmp_path: Path, **kw: Any) -> KernelTree:
    root = tmp_path / "net_cls"
    root.mkdir(parents=True)
    (root / "net_cls.classid").write_text("0\n")
    (root / "cgroup.procs").write_text("1\n4242\n")
    return KernelTree(root, **kw)


def host(tree: KernelTree, runner: FakeRunner | None = None, **kw: Any) -> Host:
    return Host(
        run=runner or FakeRunner(tree.root),
        cgroups=tree,
        proc_cgroups=kw.pop("proc_cgroups", Path("/nonexistent")),
        euid=kw.pop("euid", lambda: 0),
        which=kw.pop("which", lambda: "/usr/sbin/iptables"),
    )


def a_cut(**kw: Any) -> Cut:
    values: dict[str, Any] = {
        "port_base": BASE,
        "member": "postgres-1",
        "member_pids": (101, 102),
        "member_ports": (25010, 25020),
        "peers": ("etcd",),
        "peer_pids": (201,),
        "peer_ports": (25000, 25001),
    }
    return Cut(**{**values, **kw})


# -- rules -------------------------------------------------------------------------------------


def test_the_rules_cut_both_directions_in_the_labs_own_chain_hooked_last() -> None:
    drop = ["-p", "tcp", "-m", "multiport", "--dports"]
    assert partition.cut_commands(a_cut()) == [
        ["iptables", "-w", "-N", CHAIN],
        # the member cannot reach the peers' ports ...
        ["iptables", "-w", "-A", CHAIN, *drop, "25000,25001", "-m", "cgroup", "--cgroup", CUT_ID,
         "-j", "DROP"],
        # ... and the peers cannot reach the member's
        ["iptables", "-w", "-A", CHAIN, *drop, "25010,25020", "-m", "cgroup", "--cgroup",
         PEERS_ID, "-j", "DROP"],
        ["iptables", "-w", "-I", "OUTPUT", "1", "-o", "lo", "-j", CHAIN],
    ]  # fmt: skip
    assert partition.heal_commands(BASE) == [
        ["iptables", "-w", "-D", "OUTPUT", "-o", "lo", "-j", CHAIN],
        ["iptables", "-w", "-F", CHAIN],
        ["iptables", "-w", "-X", CHAIN],
    ]


def test_more_than_fifteen_ports_take_more_than_one_rule() -> None:
    peers = tuple(range(26000, 26020))
    rules = partition.cut_commands(a_cut(peer_ports=(*peers, 26000)))
    dports = [r[r.index("--dports") + 1].split(",") for r in rules if CUT_ID in r]
    assert [len(d) for d in dports] == [15, 5]
    assert sorted(int(p) for d in dports for p in d) == list(peers)  # each once, none lost


def test_each_lab_has_its_own_chain_cgroups_and_class_ids(tmp_path: Path) -> None:
    assert partition.chain(26000) == "HASUITE-PART-26000" != partition.chain(BASE)
    assert partition.classids(26000) == (0x65900001, 0x65900002)
    assert partition.group(tmp_path, 26000) == tmp_path / "hasuite-26000"
    other = partition.cut_commands(a_cut(port_base=26000))
    assert all("HASUITE-PART-26000" in r for r in other) and not any(CUT_ID in r for r in other)


# -- in and out --------------------------------------------------------------------------------


def test_apply_mounts_net_cls_tags_both_sides_then_heal_takes_it_all_out(tmp_path: Path) -> None:
    root = tmp_path / "net_cls"  # not mounted yet
    tree = KernelTree(root)
    runner = FakeRunner(root)
    h = host(tree, runner)
    partition.apply(h, a_cut())
    assert runner.calls[0] == ("mount", "-t", "cgroup", "-o", "net_cls", "net_cls", str(root))
    group = root / "hasuite-25000"
    assert tree.pids(group / "cut") == [101, 102] and tree.pids(group / "peers") == [201]
    assert (group / "cut" / "net_cls.classid").read_text() == f"{int(CUT_ID, 16)}\n"
    assert (group / "peers" / "net_cls.classid").read_text() == f"{int(PEERS_ID, 16)}\n"
    assert runner.rules()[-1][2:4] == ("-I", "OUTPUT")

    runner.calls.clear()
    assert partition.heal(h, BASE) == []
    assert [c[2] for c in runner.calls] == ["-D", "-F", "-X"]
    assert not group.exists() and sorted(tree.pids(root)) == [101, 102, 201]


def test_a_failing_rule_takes_out_what_went_in_and_names_the_rule(tmp_path: Path) -> None:
    tree = mounted_tree(tmp_path)
    runner = FakeRunner(tree.root, fail={PEERS_ID: Ran(1, stderr="iptables: No chain/target.")})
    with pytest.raises(InjectionError) as err:
        partition.apply(host(tree, runner), a_cut())
    assert f"--cgroup {PEERS_ID} -j DROP` failed: iptables: No chain/target." in str(err.value)
    assert "took out what went in" in str(err.value)
    assert [c[2] for c in runner.rules()] == ["-N", "-A", "-A", "-D", "-F", "-X"]  # no hook
    assert not (tree.root / "hasuite-25000").exists()
    assert sorted(tree.pids(tree.root)) == [1, 101, 102, 201, 4242]


def test_a_cgroup_that_cannot_be_filled_takes_out_what_went_in(tmp_path: Path) -> None:
    tree = mounted_tree(tmp_path, stuck=(201,))
    runner = FakeRunner(tree.root)
    with pytest.raises(InjectionError, match=r"the cgroups in .*Invalid argument"):
        partition.apply(host(tree, runner), a_cut())
    assert not any(c[2] in ("-N", "-I") for c in runner.rules())  # no rule went in
    assert not (tree.root / "hasuite-25000").exists()


def test_heal_with_nothing_there_is_fine_twice(tmp_path: Path) -> None:
    tree = mounted_tree(tmp_path)
    runner = FakeRunner(
        tree.root,
        fail={
            "-D": Ran(2, stderr="iptables v1.8.9 (nf_tables): Chain 'X' does not exist"),
            "-F": Ran(1, stderr="iptables: No chain/target/match by that name."),
            "-X": Ran(1, stderr="iptables: No chain/target/match by that name."),
        },
    )
    assert partition.heal(host(tree, runner), BASE) == []
    assert partition.heal(host(tree, runner), BASE) == []
    assert len(runner.calls) == 6


def test_heal_reports_what_it_could_not_remove(tmp_path: Path) -> None:
    tree = mounted_tree(tmp_path)
    h = host(tree)
    partition.apply(h, a_cut())
    stuck = KernelTree(tree.root, stuck=(102,))
    runner = FakeRunner(tree.root, fail={"-X": Ran(1, stderr="Device or resource busy")})
    left = partition.heal(host(stuck, runner), BASE)
    assert left[0] == f"`iptables -w -X {CHAIN}`: Device or resource busy"
    assert any(
        "hasuite-25000/cut: Invalid argument (processes still in it: [102])" in x for x in left
    )
    assert (tree.root / "hasuite-25000" / "cut").is_dir()
    assert not (tree.root / "hasuite-25000" / "peers").exists()  # the rest was removed


# -- is it possible here -----------------------------------------------------------------------


def test_every_reason_a_partition_cannot_work_says_what_to_do(tmp_path: Path) -> None:
    proc = tmp_path / "cgroups"
    proc.write_text("#subsys_name\thierarchy\tnum_cgroups\tenabled\nnet_cls\t0\t1\t0\n")
    tree = KernelTree(tmp_path / "net_cls")  # not mounted
    why = partition.unavailable(
        host(tree, euid=lambda: 1000, which=lambda: None, proc_cgroups=proc)
    )
    assert why[0] == "iptables and the net_cls cgroup need root: run hasuite as root"
    assert why[1] == "no iptables binary: apt-get install iptables"
    assert "no net_cls cgroup controller" in why[2] and len(why) == 3

    old = FakeRunner(tree.root, fail={"cgroup": Ran(2, stderr="Couldn't load match `cgroup'")})
    proc.write_text("net_cls\t0\t1\t1\n")  # enabled, but nowhere to mount it
    nowhere = KernelTree(tmp_path / "gone" / "net_cls")
    why = partition.unavailable(host(nowhere, old, proc_cgroups=proc))
    assert "no cgroup match (libxt_cgroup): apt-get install iptables" in why[0]
    assert f"net_cls is not mounted and {tmp_path / 'gone'} is not writable" in why[1]
    assert "mount -t cgroup -o net_cls net_cls" in why[1] and len(why) == 2
    assert partition.unavailable(host(tree, proc_cgroups=proc)) == []  # mountable: apply mounts
    assert partition.unavailable(host(mounted_tree(tmp_path / "ok"))) == []

    with pytest.raises(
        PartitionUnavailable, match=r"cannot be made on this machine: .*run hasuite"
    ):
        partition.require(host(tree, euid=lambda: 1000))


def test_a_failed_mount_is_unavailable_with_what_to_run(tmp_path: Path) -> None:
    tree = KernelTree(tmp_path / "net_cls")
    runner = FakeRunner(tree.root, fail={"mount": Ran(32, stderr="mount: permission denied")})
    with pytest.raises(PartitionUnavailable, match="permission denied; mount it as root"):
        partition.apply(host(tree, runner), a_cut())
    assert runner.rules() == []


# -- the lab's target --------------------------------------------------------------------------


PROGRAMS = [
    ("etcd", "etcd"),
    ("postgres-1", "postgres"),
    ("postgres-2", "postgres"),
    ("postgres-3", "postgres"),
    ("haproxy", "haproxy"),
    ("pooler-1", "pooler"),
    ("redis-1", "redis"),
    ("redis-2", "redis"),
    ("sentinel-1", "sentinel"),
    ("sentinel-2", "sentinel"),
    ("django-1", "django"),
    ("celery-worker-1", "celery-worker"),
    ("celery-beat", "celery-beat"),
    ("nginx", "nginx"),
]
PIDS = {name: (1000 + 10 * i, 1001 + 10 * i) for i, (name, _) in enumerate(PROGRAMS)}


@dataclass
class FakeSupervisor:
    started: list[str] = field(default_factory=list)

    def start(self, name: str, wait: bool) -> None:
        self.started.append(name)


@dataclass
class FakeSuite:
    def scaled(self, seconds: float) -> float:
        return seconds


@dataclass
class FakeLab:
    layout: LabLayout
    supervisor: FakeSupervisor = field(default_factory=FakeSupervisor)
    suite: FakeSuite = field(default_factory=FakeSuite)
    waited: bool = False

    def programs(self) -> list[tuple[str, str]]:
        return PROGRAMS

    def wait_healthy(self, deadline: float, quiet: bool = False) -> None:
        self.waited = True


class LabTarget(LocalTarget):
    """The lab's target with its instances and pids from tables (roles: postgres-1 leads)."""

    def _select(self, component: str, role: str | None, count: int) -> list[str]:
        names = [n for n, c in PROGRAMS if c == component]
        return names[:count] if role in (None, "leader", "master") else names[1 : 1 + count]

    def instance_pids(self, name: str, component: str) -> list[int]:
        return list(PIDS[name])


def lab_target(tmp_path: Path, runner: FakeRunner | None = None) -> tuple[LabTarget, FakeRunner]:
    tree = mounted_tree(tmp_path)
    runner = runner or FakeRunner(tree.root)
    lab = FakeLab(LabLayout(root=tmp_path, port_base=BASE, stack=StackSettings()))
    return LabTarget(lab=lab, host=host(tree, runner)), runner  # type: ignore[arg-type]


def dports(runner: FakeRunner, classid: str) -> set[int]:
    return {
        int(p)
        for r in runner.rules()
        if classid in r
        for p in r[r.index("--dports") + 1].split(",")
    }


def test_the_leader_is_cut_from_the_dcs_and_replicas_keeping_the_app(tmp_path: Path) -> None:
    t, runner = lab_target(tmp_path)
    inj = t.partition("postgres", role="leader", cut_from=("dcs", "replicas"), keep=("app",))
    assert inj.action == "partition" and inj.instances == ("postgres-1",) and inj.role == "leader"
    # etcd (client, peer), patroni and postgres of members 2 and 3; not the member's own ports
    assert dports(runner, CUT_ID) == {25000, 25001, 25011, 25012, 25021, 25022}
    assert dports(runner, PEERS_ID) == {25010, 25020}  # patroni-1, postgres-1
    group = t.host.cgroups.root / "hasuite-25000"
    assert t.host.cgroups.pids(group / "cut") == list(PIDS["postgres-1"])
    peers = [*PIDS["etcd"], *PIDS["postgres-2"], *PIDS["postgres-3"]]
    assert sorted(t.host.cgroups.pids(group / "peers")) == sorted(peers)  # no app, no hasuite


def test_the_app_set_is_every_client_of_the_redis_master_haproxy_included(tmp_path: Path) -> None:
    t, runner = lab_target(tmp_path)
    t.partition("redis", role="master", cut_from=("app", "sentinels"))
    # django, pooler, haproxy (primary, stats, pooler), celery worker metrics, the Sentinels
    assert dports(runner, CUT_ID) == {25070, 25040, 25030, 25031, 25032, 25100, 25060, 25061}
    assert dports(runner, PEERS_ID) == {25050}
    peers = t.host.cgroups.pids(t.host.cgroups.root / "hasuite-25000" / "peers")
    assert set(PIDS["celery-beat"]) <= set(peers) and not set(PIDS["redis-2"]) & set(peers)
    assert not set(PIDS["nginx"]) & set(peers)


def test_the_ledger_holds_the_partition_before_the_rules_and_until_healed(tmp_path: Path) -> None:
    t, runner = lab_target(tmp_path)
    ledger = FaultLedger(tmp_path)
    seen: list[dict[str, Any]] = []
    runner.on_call = lambda argv: seen.append(dict(ledger.entries())) if "-N" in argv else None
    t.partition("postgres", role="leader", cut_from=("dcs",))
    assert seen and seen[0]["partition"]["port_base"] == BASE
    assert seen[0]["partition"]["member"] == "postgres-1"
    assert seen[0]["partition"]["cgroup_root"] == str(t.host.cgroups.root)
    with pytest.raises(InjectionError, match="postgres-1 is already cut off"):
        t.partition("redis", cut_from=("sentinels",))
    assert t.heal() == [] and ledger.entries() == {}
    runner.calls.clear()
    assert t.heal() == [] and runner.calls == []  # nothing in: not even an iptables call


def test_a_partition_that_fails_leaves_no_ledger_entry(tmp_path: Path) -> None:
    t, runner = lab_target(tmp_path)
    runner.fail = {"-I": Ran(4, stderr="iptables: Resource temporarily unavailable.")}
    with pytest.raises(InjectionError, match="Resource temporarily unavailable"):
        t.partition("sentinel", cut_from=("replicas",))
    assert FaultLedger(tmp_path).entries() == {}


@pytest.mark.parametrize(
    ("cut_from", "keep", "message"),
    [
        (("dcs", "moon"), (), "unknown peer set.*moon"),
        ((), (), "at least one peer set"),
        (("app",), ("app",), "both cut and kept"),
    ],
)
def test_bad_sets_are_refused_before_anything(
    tmp_path: Path, cut_from: tuple[str, ...], keep: tuple[str, ...], message: str
) -> None:
    t, runner = lab_target(tmp_path)
    with pytest.raises(ConfigError, match=message):
        t.partition("postgres", cut_from=cut_from, keep=keep)
    assert runner.calls == [] and FaultLedger(tmp_path).entries() == {}


def test_an_unavailable_machine_is_refused_before_anything(tmp_path: Path) -> None:
    t, runner = lab_target(tmp_path)
    t.host = Host(run=runner, cgroups=t.host.cgroups, euid=lambda: 1000, which=lambda: None)
    with pytest.raises(
        PartitionUnavailable, match=r"run hasuite as root.*apt-get install iptables"
    ):
        t.partition("postgres", cut_from=("dcs",))
    assert runner.rules() == [] and FaultLedger(tmp_path).entries() == {}


def test_nothing_to_cut_is_refused(tmp_path: Path) -> None:
    t, _ = lab_target(tmp_path)
    with pytest.raises(InjectionError, match=r"nothing to cut: sentinel-1 .* once sentinels"):
        t.partition("sentinel", cut_from=("replicas",), keep=("sentinels",))


def test_restore_heals_and_says_what_it_could_not(tmp_path: Path) -> None:
    t, runner = lab_target(tmp_path)
    t.partition("postgres", role="leader", cut_from=("replicas",))
    t.restore()
    assert t.lab.waited and FaultLedger(tmp_path).entries() == {}  # type: ignore[attr-defined]
    assert not (t.host.cgroups.root / "hasuite-25000").exists()

    t, runner = lab_target(tmp_path / "b")
    t.partition("postgres", role="leader", cut_from=("replicas",))
    runner.fail = {"-D": Ran(4, stderr="iptables: Permission denied (you must be root)")}
    with pytest.raises(InjectionError, match=r"could not be removed: .*Permission denied"):
        t.restore()
    assert "partition" in FaultLedger(tmp_path / "b").entries()  # the next command tries again
    assert t.lab.supervisor.started and not t.lab.waited  # type: ignore[attr-defined]


# -- a dead run's partition --------------------------------------------------------------------


def test_a_partition_a_dead_run_left_is_healed_and_named(tmp_path: Path) -> None:
    ledger = FaultLedger(tmp_path)
    ledger.add("partition", port_base=BASE, cgroup_root="/x", member="redis-1", cut_from=["app"])
    ledger.add("upstream", removed=[1])
    healed: list[dict[str, Any]] = []
    done = repair(
        ledger,
        relist_upstream=lambda: None,
        heal=lambda e: healed.append(e) or [],
        kinds=("partition",),
    )
    assert len(done) == 1 and done[0].startswith(
        f"healed the partition of redis-1 from app (chain {CHAIN} and its net_cls cgroups removed"
    )
    assert healed[0]["cgroup_root"] == "/x" and list(ledger.entries()) == ["upstream"]

    ledger.add("partition", port_base=BASE, member="redis-1", cut_from=["app"])
    done = repair(ledger, relist_upstream=lambda: None, heal=lambda e: ["`iptables -X`: busy"])
    assert any("could NOT heal the partition of redis-1 from app" in d for d in done)
    assert list(ledger.entries()) == ["partition"]  # kept for the next command


def test_lab_down_heals_a_left_partition_with_no_lab_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    healed: list[int] = []
    monkeypatch.setattr(faults, "heal_partition", lambda e: healed.append(e["port_base"]) or [])
    FaultLedger(tmp_path).add("partition", port_base=BASE, member="postgres-1", cut_from=["dcs"])
    said: list[str] = []
    lab = LocalLab(
        SuiteSettings(lab_dir=tmp_path, port_base=BASE), StackSettings(), tmp_path, said.append
    )
    assert not lab.is_running()
    lab.down()
    assert healed == [BASE] and FaultLedger(tmp_path).entries() == {}
    assert any(s.startswith("repaired: healed the partition of postgres-1") for s in said)


# -- a refusal (calibration's sharp-edged outage) ----------------------------------------------


def test_a_refusal_resets_every_connection_to_the_component_until_healed(tmp_path: Path) -> None:
    t, runner = lab_target(tmp_path)
    ledger = FaultLedger(tmp_path)
    seen: list[dict[str, Any]] = []
    runner.on_call = lambda argv: seen.append(dict(ledger.entries())) if "-N" in argv else None
    inj = t.refuse("nginx")
    assert inj.action == "refuse" and inj.instances == ("nginx",)
    assert [list(r) for r in runner.rules()] == [
        ["iptables", "-w", "-N", CHAIN],
        ["iptables", "-w", "-A", CHAIN, "-p", "tcp", "-m", "multiport", "--dports", "25080",
         "-j", "REJECT", "--reject-with", "tcp-reset"],
        ["iptables", "-w", "-I", "OUTPUT", "1", "-o", "lo", "-j", CHAIN],
    ]  # fmt: skip
    assert not (t.host.cgroups.root / "hasuite-25000").exists()  # no cgroup: every client
    # in the ledger before the first rule, so a killed run's refusal is healed by the next one
    assert seen and seen[0]["partition"]["member"] == "nginx"
    with pytest.raises(InjectionError, match="nginx is already cut off"):
        t.refuse("nginx")
    runner.calls.clear()
    assert t.heal() == [] and ledger.entries() == {}
    assert [list(r) for r in runner.rules()] == partition.heal_commands(BASE)


def test_a_refusal_that_fails_takes_out_what_went_in(tmp_path: Path) -> None:
    t, runner = lab_target(tmp_path)
    runner.fail = {"REJECT": Ran(2, stderr="iptables: No chain/target/match by that name.")}
    with pytest.raises(InjectionError, match=r"refusal of nginx: .*REJECT.* failed: iptables"):
        t.refuse("nginx")
    assert ("iptables", "-w", "-X", CHAIN) in runner.rules()
    assert FaultLedger(tmp_path).entries() == {}


def test_a_refusal_without_root_is_unavailable_before_anything(tmp_path: Path) -> None:
    t, runner = lab_target(tmp_path)
    t.host = Host(run=runner, cgroups=t.host.cgroups, euid=lambda: 1000)
    with pytest.raises(
        PartitionUnavailable, match=r"cannot be refused here: .*run hasuite as root"
    ):
        t.refuse("nginx")
    assert runner.calls == [] and FaultLedger(tmp_path).entries() == {}
