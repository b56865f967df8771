"""`hasuite run` on the real lab, cancelled in each phase by SIGTERM (CI), SIGINT (Ctrl-C) and
SIGHUP (a closed terminal): it exits with 128 + the signal within 10 s (x the timeout
multiplier: CI's SIGKILL follows its first signal by about 10 s), the run folder says INTERRUPTED
with what was measured, no process of the run is left, and the lab is healthy again.

Each run is django-instance-kill on the lab tests' lab (known-good profile); the signal goes in
when the run prints the phase's line (the phases RunProgress prints on stderr).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from hasuite.drivers.local.lab import LocalLab

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.chaos]

EXPERIMENT = "django-instance-kill"
#: phase -> (a regex of the line that starts it, seconds after that line, the status the run
#: folder ends with)
PHASES = {
    "set-up": (rf"{EXPERIMENT}: running", 0.0, "INTERRUPTED"),
    "baseline": (r"baseline: probes running", 0.5, "INTERRUPTED"),
    "injection": (r"fault injected", 0.0, "INTERRUPTED"),
    "recovery": (r"fault injected", 2.0, "INTERRUPTED"),
    "measurement": (r"recovered; settling", 0.5, "INTERRUPTED"),
    "rollback": (r"measured; rolling back", 0.0, "INTERRUPTED"),
    # the run is over and judged; the report is being written: its folder keeps the verdicts
    "report": (rf"{EXPERIMENT}: (PASS|FAIL|ERROR|SKIPPED) in", 0.0, None),
}
MULT = float(os.environ.get("HASUITE_TIMEOUT_MULTIPLIER", "1"))


def _run_and_signal(
    lab: LocalLab,
    tmp_path: Path,
    marker: str,
    delay_s: float,
    sig: signal.Signals,
    twice: bool = False,
) -> tuple[int, float, str, Path]:
    reports = tmp_path / "reports"
    env = {**os.environ, "HASUITE_REPORTS_DIR": str(reports), "PYTHONUNBUFFERED": "1"}
    # a quarter of the Locust load: the run and its processes are what is under test, not the
    # load, and a lighter run leaves the 2-core machine's CPU to the signal handling being timed
    env.setdefault("HASUITE_LOAD_SCALE", "0.25")
    argv = [sys.executable, "-m", "hasuite.cli", "run", EXPERIMENT]
    argv += ["--lab-dir", str(lab.layout.root), "--port-base", str(lab.layout.port_base)]
    if lab.stack.profile:
        argv += ["--profile", lab.stack.profile]
    proc = subprocess.Popen(
        argv, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    lines: list[str] = []
    sent_at: list[float] = []

    def watch() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if not sent_at and re.search(marker, line):
                time.sleep(delay_s)
                sent_at.append(time.monotonic())
                proc.send_signal(sig)
                if twice:
                    time.sleep(0.3)
                    proc.send_signal(sig)

    reader = threading.Thread(target=watch, daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout=600 * MULT)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(5)
    assert sent_at, f"the run never printed {marker!r}:\n{''.join(lines)[-3000:]}"
    run_dirs = sorted(p for p in reports.iterdir() if p.is_dir() and p.name != "latest")
    return code, time.monotonic() - sent_at[0], "".join(lines), run_dirs[-1]


def _processes_of(run_dir: Path) -> list[str]:
    """Processes whose command line names the run folder (Locust's record file is in it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if run_dir.name in cmdline:
            found.append(f"{entry.name}: {cmdline[:200]}")
    return found


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
@pytest.mark.parametrize("phase", list(PHASES))
def test_a_signal_in_each_phase_leaves_nothing_behind(
    lab: LocalLab, tmp_path: Path, phase: str, sig: signal.Signals
) -> None:
    marker, delay, status = PHASES[phase]
    lab.up(timeout_s=240)  # idempotent; an earlier lab test may have brought it down
    code, took, log, run_dir = _run_and_signal(lab, tmp_path, marker, delay, sig)
    assert code == 128 + sig, f"exit {code}:\n{log[-3000:]}"
    assert took <= 10.0 * MULT, f"exited {took:.1f} s after {sig.name}:\n{log[-3000:]}"
    summary = json.loads((run_dir / "summary.json").read_text())
    if status is not None:
        assert summary["status"] == status, log[-3000:]
        (exp,) = summary["experiments"]
        assert exp["status"] == status
    else:
        assert summary["finished"] and summary["status"] != "PENDING"
    assert not _processes_of(run_dir)
    # the killed instance comes back (the rollback undid what it could; supervisord did the rest)
    lab.wait_healthy(time.monotonic() + 120 * MULT, quiet=True)


def test_a_second_signal_exits_at_once_and_leaves_no_process(lab: LocalLab, tmp_path: Path) -> None:
    lab.up(timeout_s=240)  # idempotent; an earlier lab test may have brought it down
    code, took, log, run_dir = _run_and_signal(
        lab, tmp_path, "fault injected", 0.0, signal.SIGTERM, twice=True
    )
    assert code == 143, log[-3000:]
    assert took <= 3.0 * MULT, f"exited {took:.1f} s after the first signal"
    assert "SIGTERM again: exiting now" in log
    deadline = time.monotonic() + 5
    while _processes_of(run_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _processes_of(run_dir)
    lab.wait_healthy(time.monotonic() + 120 * MULT, quiet=True)


def test_sighup_interrupts_like_the_others(lab: LocalLab, tmp_path: Path) -> None:
    lab.up(timeout_s=240)  # idempotent; an earlier lab test may have brought it down
    code, _, log, run_dir = _run_and_signal(lab, tmp_path, "fault injected", 1.0, signal.SIGHUP)
    assert code == 129, log[-3000:]
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "INTERRUPTED"
    lab.wait_healthy(time.monotonic() + 120 * MULT, quiet=True)


KILLED_MID_FAULT = """
import os, signal, sys
from hasuite.drivers.local.lab import LocalLab
from hasuite.drivers.local.target import LocalTarget
from hasuite.paths import project_dir
from hasuite.settings import load_stack, suite_settings_from_env
from pathlib import Path

suite = suite_settings_from_env(os.environ, lab_dir=Path(sys.argv[1]), port_base=int(sys.argv[2]))
lab = LocalLab(suite, load_stack(profile="known-good"), project_dir())
LocalTarget(lab=lab).pause("nginx")
os.kill(os.getpid(), signal.SIGKILL)  # hasuite dies with nginx stopped
"""


def test_a_run_killed_mid_fault_is_repaired_by_the_next_lab_up(lab: LocalLab) -> None:
    from hasuite.drivers.local.lab import LocalLab as Lab
    from hasuite.paths import project_dir

    lab.up(timeout_s=240)  # idempotent; an earlier lab test may have brought it down
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_MID_FAULT, str(lab.layout.root), str(lab.layout.port_base)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr

    def answers() -> bool:
        try:
            urllib.request.urlopen(lab.layout.app_url + "/", timeout=2).read()
        except OSError:
            return False
        return True

    assert not answers(), "nginx should be stopped by the killed run"
    said: list[str] = []
    Lab(lab.suite, lab.stack, project_dir(), progress=said.append).up(timeout_s=120)
    assert any("repaired: resumed" in line and "of nginx" in line for line in said), said
    assert answers()
