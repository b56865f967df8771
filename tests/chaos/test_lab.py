"""postgres-leader-kill end to end on a real local lab (slow; opt-in).

Enable with HASUITE_TEST_LAB=1 and a running lab (``hasuite lab up``) at HASUITE_LAB_DIR /
HASUITE_PORT_BASE. Asserts that a verdict with numbers exists, not a particular PASS/FAIL: the
verdict depends on the stack's settings under test.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hasuite.session.config import build_run_config
from hasuite.session.runner import run_experiments
from hasuite.session.targets import make_target
from hasuite.settings import suite_settings_from_env

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.lab
@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("HASUITE_TEST_LAB") != "1",
    reason="needs a running local lab: `hasuite lab up`, then HASUITE_TEST_LAB=1 (and "
    "HASUITE_LAB_DIR / HASUITE_PORT_BASE when not the default lab)",
)
def test_postgres_leader_kill_on_the_lab(tmp_path: Path) -> None:
    target = make_target("local", os.environ)
    suite = suite_settings_from_env(os.environ, reports_dir=tmp_path)
    config = build_run_config("local", suite, experiments=["postgres-leader-kill"])
    result = run_experiments(config, target)
    summary = json.loads((result.run_dir / "summary.json").read_text())
    (exp,) = summary["experiments"]
    promise = next(p for p in exp["promises"] if p["id"] == "PG-FAILOVER")
    assert promise["verdict"] in ("PASS", "FAIL", "ERROR"), promise
    checks = {c["measurement"]: c for c in promise["checks"]}
    # the user-side numbers must be measured whatever the verdict
    assert checks["write_outage_s"]["measured"] is not None, promise["reason"]
    assert checks["write_outage_s"]["measured"] > 0, "a leader kill with no write outage?"
    assert checks["lost_orders"]["measured"] is not None, promise["reason"]
    samples = (result.run_dir / "postgres-leader-kill" / "samples.jsonl").read_text()
    assert samples.count("\n") > 50
