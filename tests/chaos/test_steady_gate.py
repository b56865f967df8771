"""The steady-state gate before the fault: a clean window of ``baseline_s``, or no fault at all.

A fake clock and scripted probe samples: no lab, no threads, no sleeping.
"""

from __future__ import annotations

from pathlib import Path

from hasuite.analysis import build_phases, measure_phase_errors, unhealthy_baseline
from hasuite.model import Sample
from hasuite.promises import load_promises
from hasuite.session.experiment import ExperimentSession
from hasuite.session.options import ExperimentOptions

from .fakes import FakeApp, FakeTarget

ROOT = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s


class ScriptedProbes:
    """samples(): the scripted samples up to the fake clock's now (10 Hz, ``fails`` failed)."""

    def __init__(self, clock: Clock, fails: set[int]) -> None:
        self.clock, self.fails = clock, fails

    def samples(self) -> tuple[Sample, ...]:
        n = int(self.clock.now * 10 + 1e-9) + 1
        return tuple(
            Sample(at=i / 10, wall=i / 10, probe="order-write", ok=i not in self.fails)
            for i in range(n)
        )


def _session(tmp_path: Path, clock: Clock, fails: set[int]) -> ExperimentSession:
    catalog = load_promises(ROOT / "suites" / "promises.yaml")
    session = ExperimentSession(
        options=ExperimentOptions(
            name="postgres-leader-kill",
            promises=("PG-FAILOVER",),
            baseline_s=3.0,
            baseline_timeout_s=20.0,
        ),
        promises=(catalog.get("PG-FAILOVER"),),
        target=FakeTarget(app=FakeApp(), app_url="http://unused"),
        run_dir=tmp_path,
        clock=clock,
        wall=clock,
        sleep=clock.sleep,
        timeout_multiplier=1.0,
    )
    session.probes = ScriptedProbes(clock, fails)  # type: ignore[assignment]
    return session


def test_a_clean_baseline_goes_straight_to_the_fault(tmp_path: Path) -> None:
    clock = Clock()
    session = _session(tmp_path, clock, fails=set())
    clock.sleep(3.0)
    session._await_steady(0.0)
    assert session.refused is None
    assert clock.now == 3.0  # no extra wait
    assert [e.kind for e in session.events] == []


def test_a_warm_up_burst_is_waited_out_and_left_out_of_the_judged_baseline(
    tmp_path: Path,
) -> None:
    clock = Clock()
    burst = {20, 21, 22, 23, 24}  # 2.0 .. 2.4 s: timeouts while a neighbour was busy
    session = _session(tmp_path, clock, fails=burst)
    clock.sleep(3.0)
    session._await_steady(0.0)
    assert session.refused is None
    (event,) = session.events
    assert event.kind == "baseline" and 2.4 < event.at < 2.41
    assert clock.now >= 5.4  # 3 s clean after the last failure
    samples = session.probes.samples()  # type: ignore[union-attr]
    phases = build_phases(session.events, start=0.0, end=clock.now + 0.01)
    measured = measure_phase_errors(samples, phases)
    assert {m.name: m.value for m in measured}["errors_warmup"] == 5.0
    assert unhealthy_baseline(measured) is None


def test_a_stack_that_never_steadies_gets_no_fault(tmp_path: Path) -> None:
    clock = Clock()
    flapping = set(range(0, 1000, 25))  # one failure every 2.5 s, never 3 s clean
    session = _session(tmp_path, clock, fails=flapping)
    clock.sleep(3.0)
    session._await_steady(0.0)
    assert session.refused is not None
    assert "fault not injected: the stack was not steady" in session.refused
    assert "baseline_timeout_s" in session.refused
    assert 20.0 <= clock.now - 3.0 <= 21.0  # bounded by baseline_timeout_s
    assert not session.events
