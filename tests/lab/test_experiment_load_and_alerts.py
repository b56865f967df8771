"""Load and alerts inside a real experiment on the lab tests' lab (known-good; ~1 min).

redis-master-kill is the shortest experiment whose fault outlasts an alert rule's ``for:``
(the Redis master comes back only after 20 s): RedisInstanceDown must fire. The seeded
violation (``alerts-violated`` profile: every rule with ``for: 90s``) is in tests/violations.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hasuite.drivers.local.target import LocalTarget
from hasuite.session.config import build_run_config
from hasuite.session.runner import RunResult, run_experiments

ROOT = Path(__file__).resolve().parents[2]
NAME = "redis-master-kill"

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def _run(target: LocalTarget, tmp_path: Path) -> tuple[RunResult, dict[str, Any]]:
    config = build_run_config(
        "local", replace(target.lab.suite, reports_dir=tmp_path), experiments=[NAME]
    )
    result = run_experiments(config, target)
    summary = json.loads((result.run_dir / "summary.json").read_text())
    (exp,) = summary["experiments"]
    return result, {p["id"]: p for p in exp["promises"]}


def test_experiment_runs_under_load_and_measures_its_alert(
    target: LocalTarget, tmp_path: Path
) -> None:
    result, promises = _run(target, tmp_path)
    folder = result.run_dir / NAME
    # the load ran through the recording and its records are on the timeline
    records = (folder / "load-records.jsonl").read_text().splitlines()
    requests = [r for r in map(json.loads, records) if r["event"] == "request"]
    assert len(requests) > 100, f"only {len(requests)} load requests recorded"
    load = json.loads((folder / "load.json").read_text())
    assert load["ran"] and load["requests"] == len(requests)
    assert load["asked_rps"] > 0 and load["achieved_rps"] > 0
    assert load["cpu_percent"] is not None and load["cpu_percent"] > 0
    phases = {p["phase"]: p for p in load["phases"]}
    assert {"before", "during"} <= set(phases)
    assert phases["during"]["requests"] > 0 and phases["during"]["p95_s"] is not None
    assert load["orders"]["acknowledged"] > 0
    assert load["orders"]["present"] == load["orders"]["acknowledged"], load["orders"]
    measured = {m["name"]: m for m in json.loads((folder / "measurements.json").read_text())}
    assert measured["load_requests_during"]["value"] == phases["during"]["requests"]
    # one ledger: the load's orders are counted by lost_orders, with their source
    assert measured["lost_orders"]["value"] == 0, measured["lost_orders"]
    assert "load 0 of" in measured["lost_orders"]["detail"], measured["lost_orders"]
    ledger = json.loads((folder / "ledger.json").read_text())
    assert ledger["by_source"]["order"]["load"]["acknowledged"] == load["orders"]["acknowledged"]
    # the expected alert fired, with a number
    fires = promises["ALERT-FIRES"]
    assert fires["measured"] is not None, fires["reason"]
    assert "at least" not in fires["reason"], fires["reason"]
    assert 0 < fires["measured"] <= 60, fires["reason"]
    assert fires["verdict"] == "PASS", fires["reason"]
    assert promises["ALERT-RESOLVES"]["measured"] is not None, promises["ALERT-RESOLVES"]
    alerts = [json.loads(x) for x in (folder / "alerts.jsonl").read_text().splitlines()]
    fired = {a["detail"]["alertname"] for a in alerts if a.get("kind") == "alert-firing"}
    assert "RedisInstanceDown" in fired
    assert any(a["source"] == "receiver" for a in alerts), "the receiver got no notification"
    assert promises["REDIS-FAILOVER"]["verdict"] in ("PASS", "FAIL")
