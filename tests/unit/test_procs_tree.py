"""procs.kill_tree: a supervisor's children die with it, even those that hide their environment."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from hasuite.drivers.local import procs

# A parent that starts a child with an empty environment (as redis-server and nginx look once
# they have written their process title over it), prints the child's pid and waits.
PARENT = (
    "import subprocess, sys\n"
    "child = subprocess.Popen(['sleep', '300'], env={})\n"
    "print(child.pid, flush=True)\n"
    "child.wait()\n"
)


def _wait_dead(pid: int, timeout_s: float = 10) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not procs.alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_kill_tree_kills_a_child_that_the_environment_marker_cannot_find() -> None:
    env = {**os.environ, "HASUITE_LAB_ROOT": "/nonexistent/kill-tree-test"}
    parent = subprocess.Popen([sys.executable, "-c", PARENT], env=env, stdout=subprocess.PIPE)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        assert child not in procs.lab_processes(Path("/nonexistent/kill-tree-test"))
        signalled = procs.kill_tree(parent.pid)
        assert set(signalled) == {parent.pid, child}
        parent.wait(timeout=10)
        assert _wait_dead(child), f"child {child} outlived its parent's kill_tree"
    finally:
        procs.kill_all([parent.pid, child])
        parent.wait(timeout=10)


def test_kill_tree_of_a_gone_process_signals_nothing() -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert procs.kill_tree(gone.pid) == []
