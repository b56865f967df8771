"""Process-table helpers for the lab: find a lab's processes, children and postmasters."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path


def children(pid: int, proc: Path = Path("/proc")) -> list[int]:
    """Every descendant of `pid` (by parent pid), deepest last."""
    by_parent: dict[int, list[int]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: split after the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        by_parent.setdefault(ppid, []).append(int(entry.name))
    out: list[int] = []
    stack = [pid]
    while stack:
        for child in by_parent.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


def lab_processes(root: Path) -> list[int]:
    """Pids whose environment marks them as belonging to the lab at `root`.

    Every program of the lab is started with HASUITE_LAB_ROOT=<root>, and children inherit it
    (Postgres backends, gunicorn and Celery workers), so this finds orphans of a lost supervisor.
    """
    marker = f"HASUITE_LAB_ROOT={root}".encode()
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            env = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in env.split(b"\0"):
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def kill_all(pids: list[int], sig: int = signal.SIGKILL) -> list[int]:
    """Send `sig` to every pid that still exists; return those signalled."""
    hit = []
    for pid in pids:
        try:
            os.kill(pid, sig)
            hit.append(pid)
        except ProcessLookupError:
            continue
    return hit


def kill_tree(pid: int) -> list[int]:
    """SIGKILL `pid` and every descendant; return the pids signalled.

    The process is stopped (SIGSTOP) before its children are listed, so that it starts none
    after the listing. The tree is what finds the children of a supervisor: redis-server and
    nginx overwrite their environment with their process title, so `lab_processes` cannot.
    """
    try:
        os.kill(pid, signal.SIGSTOP)
    except ProcessLookupError:
        return []
    return kill_all([pid, *children(pid)])


def postmaster_pid(data_dir: Path) -> int | None:
    """The postmaster of a data directory, from its postmaster.pid, if it is alive."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if alive(pid) else None


def port_in_use(port: int) -> bool:
    """True when something listens on 127.0.0.1:port (from /proc/net/tcp, no connect)."""
    want = f"{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, state = parts[1], parts[3]
            if state == "0A" and local.rsplit(":", 1)[1] == want:
                return True
    return False


#: Programs the lab runs that come from Debian packages (env/local/install installs them).
LAB_TOOLS = (
    "etcd",
    "haproxy",
    "pgbouncer",
    "redis-server",
    "redis-sentinel",
    "nginx",
    "prometheus",
    "prometheus-alertmanager",
    "prometheus-redis-exporter",
)


def missing_tools(tools: tuple[str, ...] = LAB_TOOLS) -> list[str]:
    """The tools not found on PATH (plus /usr/sbin and /sbin, where Debian puts daemons)."""
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    return [t for t in tools if shutil.which(t, path=path) is None]
