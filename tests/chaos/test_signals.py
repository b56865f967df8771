"""hasuite.session.signals: the first SIGINT/SIGTERM/SIGHUP interrupts, a second exits at once
with no child left behind (real signals, real child processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hasuite.session import signals


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGHUP, 129)]
)
def test_the_first_signal_interrupts_with_its_exit_code(sig: signal.Signals, code: int) -> None:
    before = {s: signal.getsignal(s) for s in signals.SIGNALS}
    with pytest.raises(KeyboardInterrupt), signals.trap():
        os.kill(os.getpid(), sig)
        time.sleep(5)  # the handler raises in the main thread before this ends
    assert signals.received() == sig and signals.interrupted()
    assert signals.exit_code() == code and signals.signal_name() == sig.name
    assert {s: signal.getsignal(s) for s in signals.SIGNALS} == before


def test_reinstall_puts_the_handlers_back_inside_a_trap_only() -> None:
    with signals.trap():
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # what chaoslib does per experiment
        signals.reinstall()
        assert signal.getsignal(signal.SIGTERM) is signals._handle
    signals.reinstall()  # outside: nothing changes
    assert signal.getsignal(signal.SIGTERM) is not signals._handle


def test_children_are_read_from_proc(tmp_path: Path) -> None:
    def proc(pid: int, ppid: int, comm: str = "sleep") -> None:
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(f"{pid} ({comm}) S {ppid} 1 1 0\n")

    proc(10, 1)
    proc(11, 10, "locust (worker) x")  # a comm with spaces and parentheses
    proc(12, 11)
    proc(13, 10)
    proc(20, 1)
    (tmp_path / "self").mkdir()
    from hasuite.drivers.local import procs

    assert sorted(procs.children(10, tmp_path)) == [11, 12, 13]
    assert procs.children(20, tmp_path) == []


SCRIPT = textwrap.dedent(
    """
    import os, signal, subprocess, sys, time
    from hasuite.session import signals

    child = subprocess.Popen(["sleep", "60"])
    with signals.trap():
        try:
            # inside the try: a signal that lands as the pid is written is still caught
            print(child.pid, flush=True)  # the handlers are in place
            time.sleep(30)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            time.sleep(30)  # a slow shutdown: the second signal must end it at once
    """
)


def test_a_second_signal_exits_at_once_and_kills_the_children() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    proc.send_signal(signal.SIGTERM)
    assert proc.stdout.readline().strip() == "interrupted"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 143
    assert proc.stderr is not None and "SIGTERM again: exiting now" in proc.stderr.read()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        # a zombie until its parent's reaper (init) collects it: check its state
        stat = Path(f"/proc/{child}/stat")
        if not stat.exists() or stat.read_text().rsplit(")", 1)[-1].split()[0] == "Z":
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"child {child} outlived the second signal")


def test_a_signal_inside_deferred_waits_for_the_block_to_end() -> None:
    """A run folder file being written is finished before the interrupt is raised."""
    done: list[str] = []
    with pytest.raises(KeyboardInterrupt), signals.trap():
        with signals.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)  # the handler has run by now: it must not have raised
            done.append("written")
        done.append("never")  # the interrupt is raised as the block ends
    assert done == ["written"] and signals.exit_code() == 143
