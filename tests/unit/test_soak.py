"""The soak: a series that grows or drifts over the runs FAILs, noise does not (pure), and the
soak loop itself finds a leak seeded into the runs it drives (real file descriptors)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from hasuite.analysis.soak import SoakSample, judge_soak
from hasuite.model import Measurement, Verdict
from hasuite.session.result import ExperimentResult
from hasuite.session.runner import RunResult


def _samples(
    resources: dict[str, list[float]], gaps: list[float] | None = None, verdict: str = "PASS"
) -> list[SoakSample]:
    n = len(next(iter(resources.values())))
    return [
        SoakSample(
            run=i + 1,
            resources={k: v[i] for k, v in resources.items()},
            verdict=verdict,
            measurements={"max_success_gap_s": gaps[i]} if gaps else {},
        )
        for i in range(n)
    ]


STEADY_FDS = [40, 41, 40, 42, 41, 40, 41, 42, 40, 41]


def test_noise_up_and_down_passes() -> None:
    gaps = [0.6, 0.8, 0.5, 0.7, 0.9, 0.6, 0.5, 0.8, 0.7, 0.6]
    rss = [120, 131, 126, 129, 133, 128, 130, 127, 132, 129]  # the allocator's noise
    j = judge_soak(
        _samples({"hasuite_fds": STEADY_FDS, "hasuite_rss_mib": rss}, gaps),
        drift_of=["max_success_gap_s"],
    )
    assert j.verdict == Verdict.PASS, j.findings
    assert any(n.startswith("hasuite_fds: 40 -> 41") for n in j.notes)


def test_a_descriptor_leaked_per_run_fails() -> None:
    leak = [40 + 2 * i for i in range(10)]
    j = judge_soak(_samples({"hasuite_fds": leak}), drift_of=[])
    assert j.verdict == Verdict.FAIL
    assert "grows: hasuite_fds: 40 -> 58" in j.findings[0]


def test_a_one_off_jump_is_not_a_leak() -> None:
    """A pool filled on the second run jumps once and then stays: most steps do not rise."""
    jump = [40, 52, 52, 51, 52, 52, 52, 51, 52, 52]
    assert judge_soak(_samples({"lab_fds": jump}), drift_of=[]).verdict == Verdict.PASS


def test_processes_left_behind_by_each_run_fail() -> None:
    j = judge_soak(_samples({"hasuite_children": [0, 1, 2, 3, 4, 5]}), drift_of=[])
    assert j.verdict == Verdict.FAIL and "hasuite_children" in j.findings[0]


def test_an_outage_that_creeps_up_drifts() -> None:
    creeping = [0.5, 0.6, 0.7, 0.8, 0.9, 1.6, 1.8, 2.0, 2.2, 2.4]
    j = judge_soak(_samples({"hasuite_fds": STEADY_FDS}, creeping), drift_of=["max_success_gap_s"])
    assert j.verdict == Verdict.FAIL
    assert j.findings[0].startswith("drifts: max_success_gap_s: median 0.7 -> 2")


def test_too_few_runs_or_runs_without_a_verdict_are_error_not_pass() -> None:
    few = judge_soak(_samples({"hasuite_fds": [40, 40, 40]}), drift_of=[])
    assert few.verdict == Verdict.ERROR and "at least 4" in few.unknown[0]
    errs = judge_soak(_samples({"hasuite_fds": STEADY_FDS[:5]}, verdict="ERROR"), drift_of=[])
    assert errs.verdict == Verdict.ERROR and "without a verdict" in errs.unknown[0]
    missing = judge_soak(_samples({"hasuite_fds": STEADY_FDS}), drift_of=["instance_ready_s"])
    assert missing.verdict == Verdict.ERROR and "measured in 0 of 10" in missing.unknown[0]


class _Supervisor:
    def daemon_pid(self) -> int:
        return os.getpid()


class _Layout:
    def pg_data(self, index: int) -> Path:
        return Path("/nonexistent") / str(index)


class _Lab:
    supervisor = _Supervisor()
    layout = _Layout()

    def __init__(self) -> None:
        from hasuite.settings import load_stack

        self.stack = load_stack()

    def programs(self) -> list[tuple[str, str]]:
        return []  # the lab's processes: supervisord (this test's process) only


def _result(tmp_path: Path, gap: float) -> RunResult:
    exp = ExperimentResult(
        name="django-instance-kill",
        status=Verdict.PASS,
        reason="",
        promises=(),
        measurements=(Measurement(name="max_success_gap_s", value=gap, unit="s"),),
    )
    return RunResult(run_id="r", run_dir=tmp_path, status=Verdict.PASS, experiments=[exp])


@pytest.mark.parametrize("leak", [False, True])
def test_the_soak_loop_finds_a_leak_seeded_into_its_runs(tmp_path: Path, leak: bool) -> None:
    from hasuite import soak

    kept: list[Any] = []

    def run_once(name: str) -> RunResult:
        if leak:
            kept.append((tmp_path / "leak").open("a"))  # a descriptor no one closes
        return _result(tmp_path, 0.5)

    out = tmp_path / "soak.json"
    try:
        samples, judgement = soak.soak(
            _Lab(),  # type: ignore[arg-type]
            "django-instance-kill",
            runs=8,
            run_once=run_once,
            drift_of=["max_success_gap_s"],
            out=out,
            progress=lambda _: None,
        )
    finally:
        for f in kept:
            f.close()
    assert len(samples) == 8
    data = json.loads(out.read_text())
    assert data["judgement"]["verdict"] == judgement.verdict.value
    assert [r["measurements"]["max_success_gap_s"] for r in data["runs"]] == [0.5] * 8
    if leak:
        assert judgement.verdict == Verdict.FAIL
        assert any("hasuite_fds" in f for f in judgement.findings)
    else:
        assert judgement.verdict == Verdict.PASS, judgement.findings
