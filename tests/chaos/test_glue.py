"""Unit tests of the chaos glue: recorders, bounded calls, recovery waits, measurements.

No lab: a fake app (real HTTP on 127.0.0.1) and a fake Target (tests/chaos/fakes.py).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from hasuite.analysis import judge_all, measure_lost
from hasuite.analysis.experiment import measure_experiment
from hasuite.drivers.observers import ObserverSet
from hasuite.drivers.readback import fetch_order_read_back
from hasuite.drivers.recorders import ProbeConfig, ProbeSet
from hasuite.errors import ConfigError, HasuiteError
from hasuite.model import (
    Event,
    Injection,
    LedgerCheck,
    LedgerEntry,
    OrderReadBack,
    RoleObservation,
    Sample,
    Timeline,
    Verdict,
)
from hasuite.promises import load_promises
from hasuite.session.options import parse_options, resolve_experiments, select_promises
from hasuite.session.waits import bounded, wait_recovered
from hasuite.target import Instance

from .fakes import TOKEN, FakeApp, FakeTarget, serve

ROOT = Path(__file__).resolve().parents[2]
PROMISES = load_promises(ROOT / "suites" / "promises.yaml")


def test_probes_record_samples_ledger_and_read_back() -> None:
    app = FakeApp()
    with serve(app) as url:
        probes = ProbeSet(
            ProbeConfig(
                app_url=url,
                token=TOKEN,
                rate_hz=20,
                timeout_s=0.5,
                probes=("order-write",),
                seq_base=1000,
            )
        )
        probes.start()
        time.sleep(0.4)
        app.down_until = time.monotonic() + 0.4
        time.sleep(0.8)
        app.lose.add(app.next_order + 2)  # an order acknowledged soon is "lost"
        time.sleep(0.3)
        probes.stop()
        samples = probes.samples()
        ledger = probes.ledger()
        orders = fetch_order_read_back(url, [e.key for e in ledger if e.kind == "order"]).check
    assert {s.probe for s in samples} == {"order-write"}
    failed = [s for s in samples if not s.ok]
    assert failed and all(s.error and s.error.startswith("http 503") for s in failed)
    assert all(s.key is None for s in failed)
    ok = [s for s in samples if s.ok]
    assert len(ledger) == len(ok) > 10
    assert {e.source for e in ledger} == {"probe"}
    assert [e.key for e in ledger] == [s.key for s in ok]  # keyed by the shop's order ids
    assert all(s.backend == "127.0.0.1:5432" and s.latency_s is not None for s in ok)
    lost = measure_lost(ledger, orders, kind="order")
    assert lost.value == 1.0, lost.detail


def test_probe_rate_holds_while_requests_hang() -> None:
    """A request hanging up to the timeout must not lower the sampling rate (pool of senders)."""
    app = FakeApp(delay_s=2.0)
    with serve(app) as url:
        probes = ProbeSet(
            ProbeConfig(
                app_url=url, token=TOKEN, rate_hz=10, timeout_s=0.3, probes=("order-write",)
            )
        )
        probes.start()
        time.sleep(1.55)
        t0 = time.monotonic()
        probes.stop()
        assert time.monotonic() - t0 < 2.0
    samples = probes.samples()
    assert len(samples) >= 10, len(samples)  # ~10 Hz although every request times out
    assert {s.error for s in samples} == {"timeout"}


def test_observers_poll_roles() -> None:
    app = FakeApp()
    target = FakeTarget(app=app, app_url="http://unused")
    observers = ObserverSet(target, ["postgres"], rate_hz=20)
    observers.start()
    time.sleep(0.3)
    observers.stop()
    roles = observers.roles()
    assert roles and {r.instance for r in roles} == {"postgres-1", "postgres-2", "postgres-3"}
    assert any(r.role == "leader" and r.instance == "postgres-1" for r in roles)


def test_bounded_gives_up_on_a_hung_call() -> None:
    t0 = time.monotonic()
    with pytest.raises(HasuiteError, match="did not finish within"):
        bounded(lambda: time.sleep(5), 0.2, "hung thing")
    assert time.monotonic() - t0 < 1.0
    assert bounded(lambda: 42, 1.0, "quick") == 42
    with pytest.raises(ValueError):
        bounded(lambda: int("x"), 1.0, "raising")


class ScriptedTarget(FakeTarget):
    """instances() answers from a script keyed by a fake clock."""

    script: list[tuple[float, list[Instance]]]
    now: float = 0.0

    def instances(self, component: str) -> list[Instance]:
        answer = self.script[0][1]
        for at, found in self.script:
            if at <= self.now:
                answer = found
        return answer


def _pg(leader: str, down: str = "") -> list[Instance]:
    return [
        Instance(
            component="postgres",
            name=f"postgres-{i}",
            role="leader" if f"postgres-{i}" == leader else "replica",
            ready=f"postgres-{i}" != down,
        )
        for i in (1, 2, 3)
    ]


def _scripted(script: list[tuple[float, list[Instance]]]) -> ScriptedTarget:
    target = ScriptedTarget(app=FakeApp(), app_url="http://unused")
    target.script = script
    return target


def _wait(target: ScriptedTarget, **kw: float) -> float:
    def sleep(s: float) -> None:
        target.now += s

    inj = Injection(
        at=0.0,
        wall=0.0,
        component="postgres",
        action="crash",
        instances=("postgres-1",),
        role="leader",
    )
    rec = wait_recovered(
        target,
        "postgres",
        injection=inj,
        clock=lambda: target.now,
        wall=lambda: target.now,
        sleep=sleep,
        **kw,
    )
    return rec.at


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        # the old leader still reported at first, then nobody, then postgres-2 leads
        ([(0, _pg("postgres-1")), (1, _pg("", down="postgres-1")), (5, _pg("postgres-2"))], 5),
        # the killed leader restarts and keeps its lock: back once seen down and ready again
        (
            [
                (0, _pg("postgres-1")),
                (2, _pg("postgres-1", down="postgres-1")),
                (7, _pg("postgres-1")),
            ],
            7,
        ),
    ],
)
def test_wait_recovered_needs_a_real_change_and_stability(
    script: list[tuple[float, list[Instance]]], expected: float
) -> None:
    at = _wait(_scripted(script), timeout_s=30, stable_s=2, poll_s=0.25)
    assert at == pytest.approx(expected, abs=0.26)


def test_wait_recovered_times_out_with_what_it_saw() -> None:
    target = _scripted([(0, _pg("postgres-1")), (1, _pg("", down="postgres-1"))])
    with pytest.raises(HasuiteError, match=r"postgres not recovered 10 s.*postgres-1 replica NOT"):
        _wait(target, timeout_s=10, stable_s=2, poll_s=0.5)


def _samples(pattern: str, probe: str = "order-write", step: float = 0.1) -> list[Sample]:
    return [
        Sample(
            at=i * step,
            wall=1e9 + i * step,
            probe=probe,
            ok=c == ".",
            error=None if c == "." else "http 503",
            key=str(i) if c == "." else None,
        )
        for i, c in enumerate(pattern)
    ]


def test_measure_experiment_from_a_hand_built_timeline() -> None:
    # fault at 1.0; last ok 0.9, first failure 1.0, last failure 3.4, back 3.5: the edges in the
    # middle of their brackets, 0.95 .. 3.45
    samples = _samples("." * 10 + "x" * 25 + "." * 10)
    roles = [
        RoleObservation(
            at=0.5, wall=0, component="postgres", instance="postgres-1", role="leader", ready=True
        ),
        RoleObservation(
            at=3.2, wall=0, component="postgres", instance="postgres-2", role="leader", ready=True
        ),
    ]
    inj = Injection(
        at=1.0,
        wall=1e9 + 1,
        component="postgres",
        action="crash",
        instances=("postgres-1",),
        role="leader",
    )
    recovered = Event(at=3.2, wall=0, kind="recovered", component="postgres")
    ledger = [LedgerEntry(kind="order", key=s.key, acknowledged_at=s.at) for s in samples if s.key]
    orders = OrderReadBack(
        check=LedgerCheck(
            present=frozenset(e.key for e in ledger[1:]),
            executions={e.key: 1 for e in ledger[1:]},
            checked_at=5.0,
        )
    )
    timeline = Timeline(
        samples=tuple(samples), roles=tuple(roles), events=(inj.to_event(), recovered)
    )
    ms = {
        m.name: m
        for m in measure_experiment(
            timeline, ledger=ledger, orders=orders, tasks=None, injection=inj, end=4.5
        )
    }
    assert ms["write_outage_s"].value == pytest.approx(2.5)
    assert ms["time_to_new_leader_s"].value == pytest.approx(2.2)
    assert ms["lost_orders"].value == 1.0
    assert ms["lost_tasks"].value is None and "not read back" in ms["lost_tasks"].detail
    assert ms["errors_during"].value == 22.0
    results = judge_all([PROMISES.get("PG-FAILOVER")], ms, "local")
    assert results[0].verdict == Verdict.FAIL
    assert "lost orders 1 != 0" in results[0].reason


def test_unknown_experiment_lists_the_known_ones(tmp_path: Path) -> None:
    (tmp_path / "a-kill.yaml").write_text("x: 1\n")
    (tmp_path / "b-stop.yaml").write_text("x: 1\n")
    assert [p.name for p in resolve_experiments([], tmp_path)] == ["a-kill.yaml", "b-stop.yaml"]
    with pytest.raises(ConfigError, match=r"unknown experiment.*nope; known: a-kill, b-stop"):
        resolve_experiments(["nope"], tmp_path)


def test_options_must_name_promises_of_the_experiment() -> None:
    exp = {
        "title": "t",
        "extensions": [
            {"name": "hasuite", "experiment": "pooler-kill", "promises": ["PG-FAILOVER"]}
        ],
    }
    with pytest.raises(ConfigError, match="does not list pooler-kill"):
        select_promises(PROMISES, parse_options(exp))
    with pytest.raises(ConfigError, match="unknown promise 'NOPE'"):
        exp["extensions"][0]["promises"] = ["NOPE"]  # type: ignore[index]
        select_promises(PROMISES, parse_options(exp))
    with pytest.raises(ConfigError, match="no `extensions"):
        parse_options({"title": "t"})


class _SettlingTarget:
    """A target whose replica catches up and whose alert resolves after a few polls."""

    name = "local"

    def __init__(self, lag_polls: int, ready: bool = True) -> None:
        self.polls = 0
        self.lag_polls = lag_polls
        self.ready = ready

    def instances(self, component: str) -> list[Instance]:
        if component == "postgres":
            self.polls += 1
            lag = 4096 if self.polls <= self.lag_polls else 0
            return [
                Instance(component=component, name="postgres-1", role="leader", ready=True),
                Instance(
                    component=component, name="postgres-2", role="replica", ready=True, lag=lag
                ),
            ]
        role = "master" if component == "redis" else None
        return [Instance(component=component, name=f"{component}-1", role=role, ready=self.ready)]

    def endpoints(self) -> Any:
        return type("E", (), {"app_url": "http://127.0.0.1:9"})()


def test_wait_settled_waits_for_lag_and_alerts_then_reports_the_time(monkeypatch) -> None:
    from hasuite.session import waits

    monkeypatch.setattr(waits, "check_stack_healthy", lambda target: (True, "ok"))
    target = _SettlingTarget(lag_polls=2)
    alerts = iter([["PostgresLeaderChanged"], ["PostgresLeaderChanged"], [], [], []])
    now = [0.0]
    settled = waits.wait_settled(
        target,  # type: ignore[arg-type]
        timeout_s=30,
        active_alerts=lambda: next(alerts),
        clock=lambda: now[0],
        sleep=lambda s: now.__setitem__(0, now[0] + s),
    )
    assert settled.ok and settled.waited_s == 2.0  # two polls of lag and a firing alert
    # the cause of the wait is named, with the time it held the wait up
    assert settled.waited_on == (
        "postgres replicas behind the leader: postgres-2 4096 B (2 s)",
        "alerts still active: PostgresLeaderChanged (2 s)",
    )


def test_a_stack_that_does_not_settle_names_what(monkeypatch) -> None:
    from hasuite.session import waits

    monkeypatch.setattr(waits, "check_stack_healthy", lambda target: (True, "ok"))
    now = [0.0]
    settled = waits.wait_settled(
        _SettlingTarget(lag_polls=10**6),  # type: ignore[arg-type]
        timeout_s=5,
        active_alerts=lambda: ["RedisMasterChanged"],
        clock=lambda: now[0],
        sleep=lambda s: now.__setitem__(0, now[0] + s),
    )
    assert not settled.ok and settled.waited_s >= 5
    text = "; ".join(settled.problems)
    assert "postgres replicas behind the leader: postgres-2 4096 B" in text
    assert "alerts still active: RedisMasterChanged" in text


def test_cache_keys_are_read_back_and_losses_counted() -> None:
    from hasuite.drivers.readback import fetch_key_check

    app = FakeApp(lose_keys={"hasuite-1002"})
    with serve(app) as url:
        probes = ProbeSet(
            ProbeConfig(
                app_url=url,
                token=TOKEN,
                rate_hz=20,
                timeout_s=0.5,
                probes=("cache-write",),
                seq_base=1000,
            )
        )
        probes.start()
        time.sleep(0.5)
        probes.stop()
        ledger = probes.ledger()
        check = fetch_key_check(url, TOKEN, [e.key for e in ledger if e.kind == "key"])
    lost = measure_lost(ledger, check, kind="key")
    assert lost.name == "lost_keys" and lost.value == 1.0, lost.detail
    assert "absent: hasuite-1002" in (lost.detail or "")
