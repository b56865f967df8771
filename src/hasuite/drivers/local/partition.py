"""Network partitions on the local lab: net_cls cgroups and iptables' cgroup match.

Every lab process talks over 127.0.0.1, so addresses cannot tell members apart; the sending
process can. Loopback packets traverse OUTPUT with their socket attached, and iptables' cgroup
match reads the socket's net_cls class id. So the cut puts the member's processes into one
net_cls cgroup (``cut``) and the peers' processes into another (``peers``), and one chain of our
own, hooked into OUTPUT for loopback only, drops

- what ``cut`` sends to the peers' listening ports (the member cannot reach them), and
- what ``peers`` send to the member's listening ports (they cannot reach it).

Every flow between the two sides loses its packets in one direction at least, which stalls TCP
as a real partition does. The cgroup v1 controller, not cgroup v2 path matching: a socket's v2
cgroup is fixed when it is created, while moving a task between net_cls cgroups re-tags its
existing sockets, so established connections are cut too. Children forked later inherit the
cgroup (new Postgres backends, gunicorn workers).

A process in neither cgroup is never touched: hasuite itself (its probes and role observers),
supervisord, and the sets the experiment keeps (the split-brain case). Two limits, both like
Kubernetes: a member that supervisord restarts during the partition comes back outside it (a
rescheduled pod lands without the old pod's rules), and a process forked in the instant between
the lookup of an instance's pids and the move stays outside.

A refusal (``refuse``, for calibration) uses the same chain without cgroups: every TCP packet
to an instance's listening ports is answered with a reset, so every client fails at once, also on
a kept-alive connection, and the first request after the heal is answered at once. Its outage
has sharp edges at both ends, unlike a SIGSTOP, after which the server first works off what
queued up in the pause.

The chain, the cgroups and the class ids are named after the lab's port base, which is unique
per lab on a machine (its ports are), so two labs never share or heal each other's cut.
"""

# size: the cut and the refusal share one chain, its hook and its heal (every heal path removes
# both); apart, each module would reach into the other's rule names.

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hasuite.components import APP_TIER
from hasuite.drivers.local.layout import LabLayout
from hasuite.errors import InjectionError, PartitionUnavailable

CGROUP_ROOT = Path("/sys/fs/cgroup/net_cls")
#: iptables' multiport match takes at most this many ports per rule.
MULTIPORT_MAX = 15
#: What iptables says when a heal command finds nothing to remove (legacy and nf_tables).
NOTHING_THERE = ("No chain", "does not exist", "does a matching", "Couldn't load target")

#: The lab's components in each peer set ("replicas": the member's own component).
SET_COMPONENTS: dict[str, tuple[str, ...]] = {
    "dcs": ("etcd",),
    "sentinels": ("sentinel",),
    # HAProxy plays the primary Service on the lab: the app's traffic to Postgres goes through it
    "app": (*APP_TIER, "pooler", "haproxy"),
    # the app's door to the database: PgBouncer and HAProxy (the pooler and primary Services)
    "pooler": ("pooler", "haproxy"),
}
#: Component -> the layout's port names each instance listens on (indexed by instance).
LISTENS: dict[str, tuple[str, ...]] = {
    "etcd": ("etcd", "etcd-peer"),
    "postgres": ("patroni", "postgres"),
    "redis": ("redis",),
    "sentinel": ("sentinel",),
    "django": ("django",),
    "pooler": ("pooler",),
    "haproxy": ("haproxy-primary", "haproxy-stats", "haproxy-pooler"),
    "celery-worker": ("celery-worker-metrics",),
    "nginx": ("nginx",),  # refused only (calibration): no peer set holds it
}


@dataclass(frozen=True, slots=True)
class Ran:
    """What a command answered (all the cut needs of it)."""

    returncode: int
    stdout: str = ""
    stderr: str = ""


Runner = Callable[[Sequence[str]], Ran]


def run_command(argv: Sequence[str]) -> Ran:
    """Run one command for real, bounded; a missing binary or a timeout is an answer too."""
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"  # Debian keeps iptables in sbin
    exe = shutil.which(argv[0], path=path) or argv[0]
    try:
        done = subprocess.run(
            [exe, *argv[1:]], capture_output=True, text=True, timeout=20, check=False
        )
    except FileNotFoundError as exc:
        return Ran(127, stderr=str(exc))
    except subprocess.TimeoutExpired:
        return Ran(124, stderr=f"{argv[0]} did not answer within 20 s")
    return Ran(done.returncode, done.stdout, done.stderr)


def _which_iptables() -> str | None:
    return shutil.which("iptables", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


class NetCls:
    """The net_cls hierarchy at ``root``: a cgroup is a folder, its tasks are ``cgroup.procs``.

    The kernel does the moving: writing a pid into a cgroup's ``cgroup.procs`` takes the whole
    process (every thread, every socket) out of the cgroup it was in."""

    def __init__(self, root: Path = CGROUP_ROOT) -> None:
        self.root = root

    def mounted(self) -> bool:
        return (self.root / "net_cls.classid").is_file()

    def make(self, path: Path, classid: int) -> None:
        path.mkdir(parents=True, exist_ok=True)
        (path / "net_cls.classid").write_text(f"{classid}\n")

    def pids(self, path: Path) -> list[int]:
        try:
            lines = (path / "cgroup.procs").read_text().split()
        except OSError:
            return []
        return [int(p) for p in lines if p.isdigit()]

    def move(self, pids: Sequence[int], path: Path) -> None:
        """Move each process into ``path``; one that has exited meanwhile is skipped."""
        for pid in pids:
            try:
                with open(path / "cgroup.procs", "a") as fh:  # one write per pid: the kernel's rule
                    fh.write(f"{pid}\n")
            except ProcessLookupError:
                continue

    def remove(self, path: Path) -> None:
        path.rmdir()


@dataclass(frozen=True, kw_only=True)
class Host:
    """This machine as the cut sees it; every part injectable, so tests need no root."""

    run: Runner = run_command
    cgroups: NetCls = field(default_factory=NetCls)
    proc_cgroups: Path = Path("/proc/cgroups")
    euid: Callable[[], int] = os.geteuid
    which: Callable[[], str | None] = _which_iptables


@dataclass(frozen=True, slots=True, kw_only=True)
class Cut:
    """One member cut off: its processes and ports, and those of the peers it loses."""

    port_base: int
    member: str
    member_pids: tuple[int, ...]
    member_ports: tuple[int, ...]
    peers: tuple[str, ...]
    peer_pids: tuple[int, ...]
    peer_ports: tuple[int, ...]


# -- names and rules (pure) -------------------------------------------------------------------


def chain(port_base: int) -> str:
    return f"HASUITE-PART-{port_base}"


def classids(port_base: int) -> tuple[int, int]:
    """(cut, peers): the port base (1024..65000) is the major, so each lab has its own pair."""
    return (port_base << 16) | 1, (port_base << 16) | 2


def group(root: Path, port_base: int) -> Path:
    return root / f"hasuite-{port_base}"


def _chunks(ports: Sequence[int]) -> list[str]:
    ordered = sorted(set(ports))
    return [
        ",".join(str(p) for p in ordered[i : i + MULTIPORT_MAX])
        for i in range(0, len(ordered), MULTIPORT_MAX)
    ]


def _drop(port_base: int, classid: int, ports: str) -> list[str]:
    return [
        "iptables", "-w", "-A", chain(port_base), "-p", "tcp", "-m", "multiport",
        "--dports", ports, "-m", "cgroup", "--cgroup", f"0x{classid:08x}", "-j", "DROP",
    ]  # fmt: skip


def _reset(port_base: int, ports: str) -> list[str]:
    return [
        "iptables", "-w", "-A", chain(port_base), "-p", "tcp", "-m", "multiport",
        "--dports", ports, "-j", "REJECT", "--reject-with", "tcp-reset",
    ]  # fmt: skip


def _hook(port_base: int) -> list[str]:
    """OUTPUT's jump into our chain, loopback only: the machine's other traffic never enters."""
    return ["-o", "lo", "-j", chain(port_base)]


def cut_commands(cut: Cut) -> list[list[str]]:
    """Our chain, its DROPs (member -> peers, peers -> member), then the hook: the cut begins
    when the hook goes in, complete."""
    cut_id, peers_id = classids(cut.port_base)
    cmds = [["iptables", "-w", "-N", chain(cut.port_base)]]
    cmds += [_drop(cut.port_base, cut_id, ports) for ports in _chunks(cut.peer_ports)]
    cmds += [_drop(cut.port_base, peers_id, ports) for ports in _chunks(cut.member_ports)]
    cmds.append(["iptables", "-w", "-I", "OUTPUT", "1", *_hook(cut.port_base)])
    return cmds


def refuse_commands(port_base: int, ports: Sequence[int]) -> list[list[str]]:
    """Our chain, a reset for every TCP packet to ``ports``, then the hook: the refusal begins
    when the hook goes in."""
    cmds = [["iptables", "-w", "-N", chain(port_base)]]
    cmds += [_reset(port_base, chunk) for chunk in _chunks(ports)]
    cmds.append(["iptables", "-w", "-I", "OUTPUT", "1", *_hook(port_base)])
    return cmds


def heal_commands(port_base: int) -> list[list[str]]:
    """The hook out first (traffic flows again at once), then the chain."""
    return [
        ["iptables", "-w", "-D", "OUTPUT", *_hook(port_base)],
        ["iptables", "-w", "-F", chain(port_base)],
        ["iptables", "-w", "-X", chain(port_base)],
    ]


# -- the lab's sides (pure) -------------------------------------------------------------------


def index(name: str) -> int:
    """postgres-2 -> 1; a single instance (haproxy, etcd, celery-beat) -> 0."""
    last = name.rsplit("-", 1)[-1]
    return int(last) - 1 if last.isdigit() else 0


def listening_ports(layout: LabLayout, name: str, component: str) -> tuple[int, ...]:
    return tuple(layout.port(what, index(name)) for what in LISTENS.get(component, ()))


def peer_instances(
    programs: Sequence[tuple[str, str]],
    component: str,
    member: str,
    cut_from: Sequence[str],
    keep: Sequence[str],
) -> list[tuple[str, str]]:
    """(instance, component) of the peers cut off: the ``cut_from`` sets' instances but the
    member and the kept ones (an instance both cut and kept stays reachable)."""

    def of(name: str) -> list[tuple[str, str]]:
        wanted = (component,) if name == "replicas" else SET_COMPONENTS[name]
        return [(n, c) for n, c in programs if c in wanted and n != member]

    kept = {p for s in keep for p in of(s)}
    return list(dict.fromkeys(p for s in cut_from for p in of(s) if p not in kept))


# -- is it possible here ----------------------------------------------------------------------


def refusal_unavailable(host: Host) -> list[str]:
    """Why a refusal cannot be made on this machine (root, iptables), each with what to do."""
    why = []
    if host.euid() != 0:
        why.append("iptables and the net_cls cgroup need root: run hasuite as root")
    if host.which() is None:
        why.append("no iptables binary: apt-get install iptables")
    return why


def unavailable(host: Host) -> list[str]:
    """Why a partition cannot be made on this machine, each with what to do (empty: it can)."""
    why = refusal_unavailable(host)
    if host.which() is not None:
        answer = host.run(["iptables", "-m", "cgroup", "--help"])
        if answer.returncode != 0 or "--cgroup" not in answer.stdout:
            why.append(
                "iptables has no cgroup match (libxt_cgroup): apt-get install iptables "
                "(1.6 or later)"
            )
    if not host.cgroups.mounted():
        enabled = False
        try:
            for line in host.proc_cgroups.read_text().splitlines():
                parts = line.split()
                enabled = enabled or (parts[:1] == ["net_cls"] and parts[-1] == "1")
        except OSError:
            pass
        parent = host.cgroups.root.parent
        if not enabled:
            why.append(
                "the kernel has no net_cls cgroup controller (CONFIG_CGROUP_NET_CLASSID); "
                "use a kernel that has it"
            )
        elif not (host.cgroups.root.is_dir() or os.access(parent, os.W_OK)):
            why.append(
                f"net_cls is not mounted and {parent} is not writable: mount it yourself "
                f"(mkdir -p {host.cgroups.root}; mount -t cgroup -o net_cls net_cls "
                f"{host.cgroups.root})"
            )
    return why


def require(host: Host) -> None:
    """PartitionUnavailable naming every reason, before anything is touched."""
    why = unavailable(host)
    if why:
        raise PartitionUnavailable(
            "network partitions cannot be made on this machine: " + "; ".join(why)
        )


def _mount(host: Host) -> None:
    root = host.cgroups.root
    if host.cgroups.mounted():
        return
    root.mkdir(parents=True, exist_ok=True)
    answer = host.run(["mount", "-t", "cgroup", "-o", "net_cls", "net_cls", str(root)])
    if answer.returncode != 0 or not host.cgroups.mounted():
        raise PartitionUnavailable(
            f"could not mount the net_cls cgroup at {root}: {answer.stderr.strip()[-200:]}; "
            f"mount it as root (mount -t cgroup -o net_cls net_cls {root})"
        )


# -- in and out -------------------------------------------------------------------------------


def apply(host: Host, cut: Cut) -> None:
    """Put the cut in; on any failure take out what went in, then raise naming the step."""
    _mount(host)
    base = group(host.cgroups.root, cut.port_base)
    cut_id, peers_id = classids(cut.port_base)
    step = f"the cgroups in {base}"
    failure = ""
    try:
        host.cgroups.make(base / "cut", cut_id)
        host.cgroups.make(base / "peers", peers_id)
        host.cgroups.move(cut.member_pids, base / "cut")
        host.cgroups.move(cut.peer_pids, base / "peers")
        for argv in cut_commands(cut):
            step = f"`{' '.join(argv)}`"
            answer = host.run(argv)
            if answer.returncode != 0:
                failure = answer.stderr.strip()[-300:] or f"exit {answer.returncode}"
                break
    except OSError as exc:
        failure = str(exc)
    if failure:
        left = heal(host, cut.port_base)
        raise InjectionError(
            f"partition of {cut.member}: {step} failed: {failure}; took out what went in"
            + (f" except: {'; '.join(left)}" if left else "")
        )


def refuse(host: Host, port_base: int, ports: Sequence[int], what: str) -> None:
    """Put a refusal of ``ports`` in; on any failure take out what went in, then raise."""
    if not ports:
        raise InjectionError(f"refusal of {what}: no listening ports to refuse")
    for argv in refuse_commands(port_base, ports):
        answer = host.run(argv)
        if answer.returncode != 0:
            failure = answer.stderr.strip()[-300:] or f"exit {answer.returncode}"
            left = heal(host, port_base)
            raise InjectionError(
                f"refusal of {what}: `{' '.join(argv)}` failed: {failure}; took out what went in"
                + (f" except: {'; '.join(left)}" if left else "")
            )


def heal(host: Host, port_base: int) -> list[str]:
    """Take this lab's cut out (nothing there is fine); what could not be removed."""
    left = []
    for argv in heal_commands(port_base):
        answer = host.run(argv)
        if answer.returncode != 0 and not any(m in answer.stderr for m in NOTHING_THERE):
            left.append(f"`{' '.join(argv)}`: {answer.stderr.strip()[-200:]}")
    base = group(host.cgroups.root, port_base)
    for path in (base / "cut", base / "peers", base):
        if path.is_dir():
            problem = _empty_and_remove(host.cgroups, path)
            if problem:
                left.append(problem)
    return left


def _empty_and_remove(cgroups: NetCls, path: Path) -> str | None:
    """Move the cgroup's processes back to the root and remove it; a few passes, since one of
    them may fork in between (its child is born inside)."""
    problem = ""
    for _ in range(3):
        try:
            cgroups.move(cgroups.pids(path), cgroups.root)
            cgroups.remove(path)
            return None
        except OSError as exc:
            problem = exc.strerror or str(exc)
    return f"cgroup {path}: {problem} (processes still in it: {cgroups.pids(path) or 'none'})"
