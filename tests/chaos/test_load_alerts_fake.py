"""Alert promises and the refusal paths through chaoslib, on the fake target + a fake Alertmanager.

The fake Alertmanager (a real HTTP server on 127.0.0.1 at our own boundary) answers
``GET /api/v2/alerts`` with what :class:`FakeAlertmanager` holds now; the fake target makes the
expected alert appear ``fire_after_s`` after the crash and disappear ``resolve_after_s`` after it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hasuite.chaos import actions
from hasuite.drivers.load import load_profile
from hasuite.errors import HasuiteError
from hasuite.model import Injection
from hasuite.promises import load_promises
from hasuite.session.config import RunConfig
from hasuite.session.experiment import ExperimentSession
from hasuite.session.options import ExperimentOptions
from hasuite.session.registry import REGISTRY
from hasuite.session.runner import run_experiments
from hasuite.target import Endpoints

from .fakes import TOKEN, FakeApp, FakeTarget, fast_experiments, json_server, serve

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class FakeAlertmanager:
    """Alerts as (labels, firing from monotonic, until monotonic)."""

    alerts: list[tuple[dict[str, str], float, float]] = field(default_factory=list)
    requests: int = 0

    def body(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        self.requests += 1
        return [
            {
                "labels": labels,
                "fingerprint": labels["alertname"],
                "startsAt": "2026-11-28T00:00:00Z",
                "status": {"state": "active"},
            }
            for labels, start, end in self.alerts
            if start <= now < end
        ]


@contextmanager
def serve_alertmanager(am: FakeAlertmanager) -> Iterator[str]:
    def answer(method: str, path: str, headers: Any) -> tuple[int, Any]:
        if method == "GET" and path.startswith("/api/v2/alerts"):
            return 200, am.body()
        return 404, {"error": "not found"}

    with json_server(answer) as url:
        yield url


@dataclass
class AlertingTarget(FakeTarget):
    am: FakeAlertmanager | None = None
    alertmanager_url: str = ""
    alert: str = "PostgresMemberDown"
    severity: str = "warning"
    fire_after_s: float = 0.5
    resolve_after_s: float = 2.5

    def endpoints(self) -> Endpoints:
        return Endpoints(
            app_url=self.app_url,
            prometheus_url="",
            alertmanager_url=self.alertmanager_url,
            probe_token=TOKEN,
        )

    def crash(
        self,
        component: str,
        *,
        role: str | None = None,
        count: int = 1,
        hold_s: float | None = None,
    ) -> Injection:
        inj = super().crash(component, role=role, count=count)
        if self.am is not None:
            labels = {"alertname": self.alert, "severity": self.severity}
            self.am.alerts.append(
                (labels, inj.at + self.fire_after_s, inj.at + self.resolve_after_s)
            )
        return inj


def _run(tmp_path: Path, target: FakeTarget, name: str, **ext_update: Any) -> dict[str, Any]:
    result = run_experiments(
        RunConfig(
            target=target.name,
            experiments=(name,),
            reports_dir=tmp_path / "reports",
            experiments_dir=fast_experiments(tmp_path, name, alerts=True, **ext_update),
            promises_path=ROOT / "suites" / "promises.yaml",
            probe_hz=20,
            run_id="test-run",
        ),
        target,
    )
    exp: dict[str, Any] = json.loads((result.run_dir / "summary.json").read_text())["experiments"][
        0
    ]
    return exp


def _promise(exp: dict[str, Any], pid: str) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in exp["promises"] if p["id"] == pid)
    return found


def test_alert_fires_and_resolves_is_measured(tmp_path: Path) -> None:
    app, am = FakeApp(), FakeAlertmanager()
    with serve(app) as url, serve_alertmanager(am) as am_url:
        target = AlertingTarget(app=app, app_url=url, am=am, alertmanager_url=am_url)
        exp = _run(tmp_path, target, "postgres-leader-kill")
    fires, resolves = _promise(exp, "ALERT-FIRES"), _promise(exp, "ALERT-RESOLVES")
    assert fires["verdict"] == "PASS", fires["reason"]
    assert 0.4 <= fires["measured"] <= 2.0  # fired 0.5 s after the crash, polled at 1 Hz
    assert resolves["verdict"] == "PASS", resolves["reason"]
    assert resolves["measured"] is not None
    folder = tmp_path / "reports" / "test-run" / "postgres-leader-kill"
    lines = [json.loads(x) for x in (folder / "alerts.jsonl").read_text().splitlines()]
    kinds = [(x["kind"], x["detail"]["alertname"]) for x in lines if x["source"] == "alertmanager"]
    assert kinds == [
        ("alert-firing", "PostgresMemberDown"),
        ("alert-resolved", "PostgresMemberDown"),
    ]
    events = json.loads((folder / "events.json").read_text())
    assert {"fault", "recovered", "alert-firing", "alert-resolved"} <= {e["kind"] for e in events}


def test_alert_that_never_fires_fails_after_the_bound(tmp_path: Path) -> None:
    """Seeded violation: the expected alert never reaches Alertmanager -> FAIL at the bound."""
    app, am = FakeApp(), FakeAlertmanager()
    with serve(app) as url, serve_alertmanager(am) as am_url:
        target = AlertingTarget(app=app, app_url=url, am=None, alertmanager_url=am_url)
        promises = tmp_path / "promises.yaml"
        # same catalogue, a 1 s bound so the test does not wait a minute
        text = (ROOT / "suites" / "promises.yaml").read_text()
        promises.write_text(
            text.replace(
                '{measurement: alert_fire_s, comparison: "<=", threshold: 60, unit: s}',
                '{measurement: alert_fire_s, comparison: "<=", threshold: 1, unit: s}',
            )
        )
        assert load_promises(promises).get("ALERT-FIRES").checks[0].threshold == 1
        t0 = time.monotonic()
        result = run_experiments(
            RunConfig(
                target=target.name,
                experiments=("postgres-leader-kill",),
                reports_dir=tmp_path / "reports",
                experiments_dir=fast_experiments(tmp_path, "postgres-leader-kill", alerts=True),
                promises_path=promises,
                probe_hz=20,
                run_id="test-run",
            ),
            target,
        )
        took = time.monotonic() - t0
    (exp,) = result.experiments
    fires = next(p for p in exp.promises if p.id == "ALERT-FIRES")
    assert fires.verdict.value == "FAIL", fires.reason
    assert "at least" in fires.reason and "> 1 s" in fires.reason
    assert took < 30  # waited for the 1 s bound (+ its polls), not for ever
    resolves = next(p for p in exp.promises if p.id == "ALERT-RESOLVES")
    assert resolves.verdict.value == "ERROR"  # nothing fired: nothing to resolve
    assert "nothing to resolve" in resolves.reason


def test_unreachable_alertmanager_is_error_and_no_fault_is_injected(tmp_path: Path) -> None:
    app = FakeApp()
    with serve(app) as url:
        # a port nothing listens on (bound then closed)
        target = AlertingTarget(
            app=app, app_url=url, alertmanager_url="http://127.0.0.1:9/", am=None
        )
        exp = _run(tmp_path, target, "postgres-leader-kill")
    assert exp["status"] == "ERROR"
    for p in exp["promises"]:
        assert p["verdict"] == "ERROR"
        assert "Alertmanager unreachable" in p["reason"], p["reason"]
    assert target.calls == []  # the crash action refused
    assert target.restored >= 1  # rollbacks still ran


@pytest.mark.parametrize(("severity", "verdict"), [("warning", "PASS"), ("critical", "FAIL")])
def test_healthy_baseline_judges_false_alarms(tmp_path: Path, severity: str, verdict: str) -> None:
    app, am = FakeApp(), FakeAlertmanager()
    now = time.monotonic()
    am.alerts.append(({"alertname": "DjangoHigh5xxRatio", "severity": severity}, now + 1, now + 60))
    with serve(app) as url, serve_alertmanager(am) as am_url:
        target = AlertingTarget(app=app, app_url=url, am=am, alertmanager_url=am_url)
        exp = _run(tmp_path, target, "healthy-baseline", baseline_s=2.5, observe=["postgres"])
    (promise,) = exp["promises"]
    assert promise["id"] == "NO-FALSE-ALARM"
    assert promise["verdict"] == verdict, promise["reason"]
    assert promise["measured"] == (1 if severity == "critical" else 0)
    assert target.calls == []  # fault-less: nothing injected, and that is not an ERROR


def test_unreachable_load_host_refuses_the_fault(tmp_path: Path) -> None:
    """The load's host does not answer: recorders do not start and the crash action refuses."""
    # the app is not served: nothing answers on port 9
    target = FakeTarget(app=FakeApp(), app_url="http://127.0.0.1:9")
    catalog = load_promises(ROOT / "suites" / "promises.yaml")
    session = ExperimentSession(
        options=ExperimentOptions(
            name="postgres-leader-kill",
            promises=("PG-FAILOVER",),
            load=load_profile("smoke"),
            baseline_s=0.1,
        ),
        promises=(catalog.get("PG-FAILOVER"),),
        target=target,
        run_dir=tmp_path,
    )
    REGISTRY.activate(session, owner="runner")
    try:
        session.start_recorders()
        assert session.refused is not None
        assert "load host http://127.0.0.1:9 is unreachable" in session.refused
        assert session.load_run is None and session.probes is None
        with pytest.raises(HasuiteError, match="refused"):
            actions.crash("postgres", role="leader")
        assert target.calls == []
        result = session.finish("completed")
    finally:
        REGISTRY.clear()
    assert result.status.value == "ERROR"
    assert "unreachable" in result.promises[0].reason


def _settle(tmp_path: Path, name: str) -> dict[str, Any]:
    folder = tmp_path / "reports" / "test-run" / name
    found: dict[str, Any] = next(
        m for m in json.loads((folder / "measurements.json").read_text()) if m["name"] == "settle_s"
    )
    return found


def test_the_settle_waits_for_a_judged_alert_and_not_for_others(tmp_path: Path) -> None:
    """Before the fault, an alert left from an earlier fault delays the next one only when this
    experiment judges it: PostgresMemberDown (ALERT-FIRES) is waited out; PostgresLeaderChanged,
    active for minutes after a failover and judged by no promise here, is noted, not waited for
    (before, it held every next experiment for up to its 3-minute window)."""
    app, am = FakeApp(), FakeAlertmanager()
    now = time.monotonic()
    am.alerts.append(({"alertname": "PostgresLeaderChanged", "severity": "warning"}, 0, now + 60))
    am.alerts.append(({"alertname": "PostgresMemberDown", "severity": "warning"}, 0, now + 2.0))
    with serve(app) as url, serve_alertmanager(am) as am_url:
        target = AlertingTarget(app=app, app_url=url, am=am, alertmanager_url=am_url)
        exp = _run(tmp_path, target, "postgres-leader-kill")
    assert _promise(exp, "ALERT-FIRES")["verdict"] == "PASS", _promise(exp, "ALERT-FIRES")
    settle = _settle(tmp_path, "postgres-leader-kill")
    assert 1.0 <= settle["value"] < 4.5, settle  # the judged alert's 2 s, not the 5 s bound
    assert "alerts still active: PostgresMemberDown" in settle["detail"], settle
    assert "not waited on (judged by no promise here): PostgresLeaderChanged" in settle["detail"]
