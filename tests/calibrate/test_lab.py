"""Calibration on the real local lab: connections to nginx refused for 1, 2, 5 and 10 s (the
default fault: an outage of known length), seen by the probes and by a Locust load.

Runs only with HASUITE_TEST_LAB=1 and an explicit HASUITE_LAB_DIR (and HASUITE_PORT_BASE), so it
never touches a lab it was not pointed at. A lab that was not running is brought up and, at the
end, down again (with its data); a running lab is left running.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hasuite.calibrate import TOLERANCE_S, calibrate, describe
from hasuite.drivers.local import procs
from hasuite.drivers.local.lab import LocalLab
from hasuite.drivers.local.target import LocalTarget
from hasuite.paths import project_dir
from hasuite.settings import load_stack, suite_settings_from_env

pytestmark = [pytest.mark.lab, pytest.mark.slow]


@pytest.fixture(scope="module")
def lab() -> Iterator[LocalLab]:
    if os.environ.get("HASUITE_TEST_LAB") != "1":
        pytest.skip(
            "needs a real lab: set HASUITE_TEST_LAB=1, HASUITE_LAB_DIR and HASUITE_PORT_BASE"
        )
    if not os.environ.get("HASUITE_LAB_DIR"):
        pytest.skip("set HASUITE_LAB_DIR (and HASUITE_PORT_BASE) to the lab this test may use")
    suite = suite_settings_from_env(os.environ)
    lab = LocalLab(suite, load_stack(), project_dir())
    was_running = lab.is_running()
    lab.up(timeout_s=240)
    try:
        yield lab
    finally:
        if not was_running:
            lab.down(purge=True)


def _stopped(pids: list[int]) -> list[int]:
    """Pids in state T (stopped)."""
    out = []
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[0] == "T":
            out.append(pid)
    return out


def test_probes_and_load_measure_a_known_outage_within_tolerance(
    lab: LocalLab, tmp_path: Path
) -> None:
    target = LocalTarget(lab=lab)
    lines: list[str] = []
    durations = (1.0, 2.0, 5.0, 10.0)
    results = calibrate(target, durations_s=durations, progress=lines.append, load_dir=tmp_path)
    info = lab.supervisor.processes()["nginx"]
    assert info.pid
    assert not _stopped([info.pid, *procs.children(info.pid)]), "nginx left paused"
    assert target.heal() == [], "the refusal left rules behind"
    report = "\n".join(f"{r.view}: {describe(r)}" for r in results)
    assert [(r.duration_s, r.view) for r in results] == [
        (d, view) for d in durations for view in ("probe", "load")
    ]
    for r in results:
        assert r.measured_s is not None and not r.at_least, report
        assert r.reference_s >= r.duration_s
        assert r.error_s is not None and abs(r.error_s) <= TOLERANCE_S, report
        assert r.within_tolerance, report
