"""What a fault left in the lab, written down before it is applied: the next command repairs it.

A run killed by SIGKILL (or a crashed machine) cannot undo its fault, and its memory of what it
did is gone. So the lab target records each fault that outlives its call in ``faults.json`` in
the lab folder before applying it, and removes the entry when it is undone:

- ``pause``: SIGSTOPped processes (pids), undone by SIGCONT;
- ``upstream``: app instances a rollout took out of nginx's upstream, undone by listing them all.

(A crashed or stopped instance needs no entry: supervisord starts it again, as kubelet would.)
``lab up`` and ``hasuite run`` call :func:`repair` first and say what they repaired.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hasuite.drivers.local import procs

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


def repair(
    ledger: FaultLedger,
    *,
    relist_upstream: Callable[[], None],
    alive: Callable[[int], bool] = procs.alive,
) -> list[str]:
    """Undo every fault the ledger holds whose holder is gone; what was repaired, in words.

    A fault whose holder is alive belongs to a running command (the lab lock keeps a second one
    out), so this is only called by a command that holds the lock."""
    done = []
    for kind, entry in ledger.entries().items():
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
        else:
            done.append(f"dropped an unknown fault entry {kind!r} ({who})")
        ledger.clear(kind)
    return done
