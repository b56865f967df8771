"""Alert and load measurements of a session judged against THE promises file (built timelines).

Seeded violations: an alert that fires after its bound, one that stays firing after recovery and
a critical alert in a healthy window must each flip their promise to FAIL.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hasuite.analysis import judge_all
from hasuite.analysis.experiment import measure_load_and_alerts
from hasuite.analysis.load import build_load_adequacy, note_load_adequacy
from hasuite.model import Event, Sample, Timeline, Verdict
from hasuite.promises import load_promises

ROOT = Path(__file__).resolve().parents[2]
CATALOG = load_promises(ROOT / "suites" / "promises.yaml")
ALERT_PROMISES = [CATALOG.get(p) for p in ("ALERT-FIRES", "ALERT-RESOLVES", "NO-FALSE-ALARM")]


def ev(kind: str, at: float, name: str = "", severity: str = "warning") -> Event:
    detail = {"alertname": name, "severity": severity} if name else ""
    return Event(at=at, wall=1_000_000 + at, kind=kind, component="redis", detail=detail)


def timeline(*events: Event) -> Timeline:
    samples = (Sample(at=0.0, wall=1_000_000.0, probe="order-write", ok=True),)
    return Timeline(samples=samples, events=tuple(sorted(events, key=lambda e: e.at)))


def judged(tl: Timeline, *, end: float, alerts: tuple[str, ...] = ("RedisInstanceDown",)):
    ms = measure_load_and_alerts(
        tl,
        load_ran=False,
        stats=(),
        adequacy=None,
        alerts=alerts,
        alert_error=None,
        alert_start=0.0,
        end=end,
    )
    return {r.id: r for r in judge_all(ALERT_PROMISES, ms, "local")}


def test_alert_in_time_and_resolved_passes() -> None:
    tl = timeline(
        ev("fault", 10.0),
        ev("alert-firing", 24.0, "RedisInstanceDown"),
        ev("recovered", 40.0),
        ev("alert-resolved", 50.0, "RedisInstanceDown"),
    )
    r = judged(tl, end=60.0)
    assert r["ALERT-FIRES"].verdict == Verdict.PASS
    assert r["ALERT-FIRES"].measured == pytest.approx(14.0)
    assert r["ALERT-RESOLVES"].verdict == Verdict.PASS
    assert r["ALERT-RESOLVES"].measured == pytest.approx(10.0)
    assert r["NO-FALSE-ALARM"].verdict == Verdict.PASS  # nothing fired before the fault


def test_alert_later_than_its_bound_fails() -> None:
    tl = timeline(ev("fault", 10.0), ev("alert-firing", 85.0, "RedisInstanceDown"))
    r = judged(tl, end=90.0)
    assert r["ALERT-FIRES"].verdict == Verdict.FAIL
    assert "75 s > 60 s" in r["ALERT-FIRES"].reason


def test_alert_never_firing_until_past_the_bound_fails() -> None:
    """The alerts-violated lab profile: for: 90s never fires within the 60 s bound."""
    tl = timeline(ev("fault", 10.0), ev("recovered", 35.0))
    r = judged(tl, end=73.0)
    assert r["ALERT-FIRES"].verdict == Verdict.FAIL
    assert "at least 63 s > 60 s" in r["ALERT-FIRES"].reason
    # another alert does not count
    tl2 = timeline(ev("fault", 10.0), ev("alert-firing", 20.0, "RedisMasterChanged"))
    assert judged(tl2, end=73.0)["ALERT-FIRES"].verdict == Verdict.FAIL


def test_alert_still_firing_long_after_recovery_fails() -> None:
    tl = timeline(
        ev("fault", 10.0),
        ev("alert-firing", 24.0, "RedisInstanceDown"),
        ev("recovered", 40.0),
    )
    r = judged(tl, end=165.0)
    assert r["ALERT-RESOLVES"].verdict == Verdict.FAIL
    assert "at least 125 s > 120 s" in r["ALERT-RESOLVES"].reason
    late = timeline(
        ev("fault", 10.0),
        ev("alert-firing", 24.0, "RedisInstanceDown"),
        ev("recovered", 40.0),
        ev("alert-resolved", 170.0, "RedisInstanceDown"),
    )
    assert judged(late, end=175.0)["ALERT-RESOLVES"].verdict == Verdict.FAIL


def test_alert_resolved_before_the_recovery_instant_counts_zero() -> None:
    tl = timeline(
        ev("fault", 10.0),
        ev("alert-firing", 24.0, "RedisInstanceDown"),
        ev("alert-resolved", 36.0, "RedisInstanceDown"),
        ev("recovered", 40.0),
    )
    r = judged(tl, end=50.0)
    assert r["ALERT-RESOLVES"].verdict == Verdict.PASS
    assert r["ALERT-RESOLVES"].measured == 0.0


def test_critical_alert_in_a_healthy_window_is_a_false_alarm() -> None:
    healthy = timeline(ev("alert-firing", 20.0, "PostgresMemberDown", "warning"))
    assert judged(healthy, end=60.0, alerts=())["NO-FALSE-ALARM"].verdict == Verdict.PASS
    paged = timeline(ev("alert-firing", 20.0, "DjangoHigh5xxRatio", "critical"))
    r = judged(paged, end=60.0, alerts=())["NO-FALSE-ALARM"]
    assert r.verdict == Verdict.FAIL
    assert r.measured == 1.0


def test_unreachable_alertmanager_is_error_never_pass() -> None:
    ms = measure_load_and_alerts(
        timeline(ev("fault", 10.0)),
        load_ran=False,
        stats=(),
        adequacy=None,
        alerts=("RedisInstanceDown",),
        alert_error="Alertmanager unreachable for 30 s during the recording",
        alert_start=0.0,
        end=60.0,
    )
    for r in judge_all(ALERT_PROMISES, ms, "local"):
        assert r.verdict == Verdict.ERROR
        assert "Alertmanager unreachable" in r.reason


def test_promise_judged_under_less_load_says_so() -> None:
    samples = [Sample(at=i * 0.5, wall=i * 0.5, probe="http", ok=True) for i in range(40)]
    low = build_load_adequacy(samples, asked_rps=40.0, start=0.0, end=20.0)
    (result,) = judge_all([CATALOG.get("NO-FALSE-ALARM")], judged_false_alarms(), "local")
    noted = note_load_adequacy(result, low)
    assert noted.verdict == result.verdict == Verdict.PASS
    assert "judged under less load than asked" in noted.reason
    enough = build_load_adequacy(samples, asked_rps=2.0, start=0.0, end=20.0)
    assert note_load_adequacy(result, enough).reason == result.reason


def judged_false_alarms():
    return measure_load_and_alerts(
        timeline(),
        load_ran=False,
        stats=(),
        adequacy=None,
        alerts=(),
        alert_error=None,
        alert_start=0.0,
        end=60.0,
    )
