"""What a fault left in the lab, written down before it is applied: the next command repairs it.

A run killed by SIGKILL (or a crashed machine) cannot undo its fault, and its memory of what it
did is gone. So the lab target records each fault that outlives its call in ``faults.json`` in
the lab folder before applying it, and removes the entry when it is undone:

- ``pause``: SIGSTOPped processes (pids), undone by SIGCONT;
- ``upstream``: app instances a rollout took out of nginx's upstream, undone by listing them all;
- ``partition``: a member cut off (drivers.local.partition), undone by removing the lab's chain
  and net_cls cgroups. These outlive even the lab's processes, so ``lab down`` heals them too.

(A crashed or stopped instance needs no entry: supervisord starts it again, as kubelet would.)
``lab up`` and ``hasuite run`` call :func:`repair` first and say what they repaired.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from hasuite.drivers.local import partition, procs

FILE = "faults.json"


class FaultLedger:
    """The lab's ``faults.json``: kind -> what to undo (with who left it and since when)."""

    def __init__(self, lab_dir: Path) -> None:
        self.path = lab_dir / FILE

    def entries(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def add(self, kind: str, **detail: Any) -> None:
        data = self.entries()
        data[kind] = {**detail, "pid": os.getpid(), "since": time.time()}
        self._write(data)

    def clear(self, kind: str) -> None:
        data = self.entries()
        if data.pop(kind, None) is not None:
            self._write(data)

    def _write(self, data: dict[str, dict[str, Any]]) -> None:
        if not data:
            self.path.unlink(missing_ok=True)
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(self.path)


def heal_partition(entry: dict[str, Any]) -> list[str]:
    """Heal the partition an entry names, on this machine; what could not be removed."""
    root = Path(entry.get("cgroup_root") or partition.CGROUP_ROOT)
    return partition.heal(partition.Host(cgroups=partition.NetCls(root)), int(entry["port_base"]))


def repair(
    ledger: FaultLedger,
    *,
    relist_upstream: Callable[[], None],
    alive: Callable[[int], bool] = procs.alive,
    heal: Callable[[dict[str, Any]], list[str]] | None = None,
    kinds: Collection[str] | None = None,
) -> list[str]:
    """Undo every fault the ledger holds whose holder is gone (only ``kinds``, if given); what
    was repaired, in words.

    A fault whose holder is alive belongs to a running command (the lab lock keeps a second one
    out), so this is only called by a command that holds the lock."""
    done = []
    for kind, entry in ledger.entries().items():
        if kinds is not None and kind not in kinds:
            continue
        who = f"left by pid {entry.get('pid', '?')}"
        if kind == "pause":
            pids = [p for p in entry.get("pids", []) if isinstance(p, int) and alive(p)]
            procs.kill_all(pids, signal.SIGCONT)
            done.append(
                f"resumed {len(pids)} paused process(es) of {entry.get('component', '?')} ({who})"
            )
        elif kind == "upstream":
            relist_upstream()
            removed = entry.get("removed", [])
            done.append(f"listed app instance(s) {removed} in nginx's upstream again ({who})")
        elif kind == "partition" and not isinstance(entry.get("port_base"), int):
            done.append(f"dropped a partition entry without a port base ({who})")
        elif kind == "partition":
            left = (heal or heal_partition)(entry)
            cut = f"{entry.get('member', '?')} from {', '.join(entry.get('cut_from', [])) or '?'}"
            if left:
                # kept: the next command (as root, say) tries again
                done.append(f"could NOT heal the partition of {cut} ({who}): {'; '.join(left)}")
                continue
            done.append(
                f"healed the partition of {cut} (chain {partition.chain(entry['port_base'])} "
                f"and its net_cls cgroups removed; {who})"
            )
        else:
            done.append(f"dropped an unknown fault entry {kind!r} ({who})")
        ledger.clear(kind)
    return done
