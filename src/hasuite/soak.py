"""`hasuite soak`: one experiment N times in a row on one lab, in one process.

A leak shows only over many runs: a file descriptor a run forgets to close, a Locust or
port-forward process that outlives its run, a lab process that piles up connections, or an
outage that creeps up because something slows down. So the soak runs the experiment ``runs``
times in this process (hasuite's own leaks accumulate here, as in a CI job that runs the suite
for hours), samples after each run what hasuite and the lab hold, and judges the series with
:func:`hasuite.analysis.soak.judge_soak`. It writes ``soak.json`` beside the runs' folders.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from hasuite.analysis.soak import SoakJudgement, SoakSample, judge_soak
from hasuite.drivers.local import procs
from hasuite.drivers.local.lab import LocalLab
from hasuite.drivers.local.target import LocalTarget
from hasuite.errors import ConfigError
from hasuite.model import Verdict
from hasuite.runfolder import dump
from hasuite.session.runner import RunResult

__all__ = ["lab_pids", "process_resources", "soak"]

Progress = Callable[[str], None]


def _fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def lab_pids(lab: LocalLab) -> list[int]:
    """supervisord and every process of every instance (the target's own pid lookup: it finds
    the postmasters, which Patroni starts detached from itself)."""
    daemon = lab.supervisor.daemon_pid()
    target = LocalTarget(lab=lab)
    pids = [daemon] if daemon else []
    pids += [p for name, comp in lab.programs() for p in target.instance_pids(name, comp)]
    return list(dict.fromkeys(p for p in pids if procs.alive(p)))


def process_resources(lab: LocalLab, me: int | None = None) -> dict[str, float]:
    """What hasuite (``me``, default this process) and the lab hold right now."""
    me = me or os.getpid()
    pids = lab_pids(lab)
    return {
        "hasuite_fds": _fds(me),
        "hasuite_children": len(procs.children(me)),
        "hasuite_threads": threading.active_count(),
        "hasuite_rss_mib": round(_rss_mib(me), 1),
        "lab_processes": len(pids),
        "lab_fds": sum(_fds(p) for p in pids),
        "lab_rss_mib": round(sum(_rss_mib(p) for p in pids), 1),
    }


def _numbers(result: RunResult) -> tuple[str, dict[str, float]]:
    (experiment,) = result.experiments
    values = {m.name: float(m.value) for m in experiment.measurements if m.value is not None}
    return experiment.status.value, values


def soak(
    lab: LocalLab,
    experiment: str,
    *,
    runs: int,
    run_once: Callable[[str], RunResult],
    drift_of: Sequence[str],
    out: Path,
    progress: Progress = print,
) -> tuple[list[SoakSample], SoakJudgement]:
    """Run ``experiment`` ``runs`` times with ``run_once``; sample after each; judge; write
    ``out`` (soak.json). An interrupted or failed run ends the soak with what it has."""
    if runs < 1:
        raise ConfigError(f"--runs must be >= 1, got {runs}")
    samples: list[SoakSample] = []
    before = process_resources(lab)
    progress(f"before: {before}")
    started = time.monotonic()
    for i in range(1, runs + 1):
        result = run_once(experiment)
        status, values = _numbers(result)
        resources = process_resources(lab)
        samples.append(SoakSample(run=i, resources=resources, verdict=status, measurements=values))
        shown = ", ".join(f"{k} {values[k]:g}" for k in drift_of if k in values)
        progress(f"run {i}/{runs}: {status}; {shown}; {resources}")
        _write(out, experiment, before, samples, None, time.monotonic() - started)
        if result.status == Verdict.INTERRUPTED:
            break
    judgement = judge_soak(samples, drift_of=drift_of)
    _write(out, experiment, before, samples, judgement, time.monotonic() - started)
    return samples, judgement


def _write(
    out: Path,
    experiment: str,
    before: dict[str, float],
    samples: Sequence[SoakSample],
    judgement: SoakJudgement | None,
    took_s: float,
) -> None:
    data = {
        "experiment": experiment,
        "took_s": round(took_s, 1),
        "before": before,
        "runs": [
            {
                "run": s.run,
                "verdict": s.verdict,
                "resources": dict(s.resources),
                "measurements": dict(s.measurements),
            }
            for s in samples
        ],
        "judgement": None
        if judgement is None
        else {
            "verdict": judgement.verdict.value,
            "findings": list(judgement.findings),
            "unknown": list(judgement.unknown),
            "notes": list(judgement.notes),
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    dump(out, data)
