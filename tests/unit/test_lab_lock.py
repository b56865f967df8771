"""One command at a time on a lab: a second is refused naming the holder; a killed holder's
lock is taken over (real processes, real flock)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hasuite.drivers.local.lock import LabBusyError, lab_lock, lock_path

HOLDER = """
import sys, time
from pathlib import Path
from hasuite.drivers.local.lock import lab_lock
with lab_lock(Path(sys.argv[1]), "hasuite run postgres-leader-kill"):
    print("held", flush=True)
    time.sleep(60)
"""


def _hold(lab: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lab)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_command_is_refused_with_who_holds_the_lab(tmp_path: Path) -> None:
    lab = tmp_path / "hasuite-lab-0"
    proc = _hold(lab)
    try:
        with pytest.raises(LabBusyError) as info, lab_lock(lab, "hasuite lab down"):
            pass
        text = str(info.value)
        assert f"in use by pid {proc.pid}" in text
        assert "`hasuite run postgres-leader-kill`" in text and "since 20" in text
    finally:
        proc.kill()
        proc.wait()


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path: Path) -> None:
    lab = tmp_path / "hasuite-lab-0"
    proc = _hold(lab)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with lab_lock(lab, "hasuite lab up") as note:
        assert note is not None and f"left by pid {proc.pid}" in note and "gone" in note
        assert '"command": "hasuite lab up"' in lock_path(lab).read_text()
    # released: the next one finds no holder to report
    with lab_lock(lab) as note:
        assert note is None


def test_the_lock_is_released_after_the_block(tmp_path: Path) -> None:
    lab = tmp_path / "hasuite-lab-0"
    start = time.monotonic()
    with lab_lock(lab):
        pass
    with lab_lock(lab):
        pass
    assert time.monotonic() - start < 5
