"""The alerts-violated lab profile: rule copies with a longer ``for:``, still valid for promtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from hasuite.drivers.local.render import render_alert_rules
from hasuite.settings import load_stack

RULES = Path(__file__).resolve().parents[2] / "env" / "alerts" / "rules"


def test_profile_sets_a_for_longer_than_the_fire_bound() -> None:
    assert load_stack(profile="alerts-violated").monitoring.alert_for_override_s == 90
    assert load_stack().monitoring.alert_for_override_s == 0  # production: files as they are


def test_every_alerting_rule_gets_the_override(tmp_path: Path) -> None:
    sources = sorted(RULES.glob("*.yml"))
    out = render_alert_rules(sources, tmp_path, 90)
    assert [p.name for p in out] == [p.name for p in sources]
    alerts = 0
    for src, copy in zip(sources, out, strict=True):
        original, rendered = yaml.safe_load(src.read_text()), yaml.safe_load(copy.read_text())
        for g_src, g_out in zip(original["groups"], rendered["groups"], strict=True):
            for r_src, r_out in zip(g_src["rules"], g_out["rules"], strict=True):
                if "alert" in r_src:
                    alerts += 1
                    assert r_out["for"] == "90s"
                    assert r_out["expr"] == r_src["expr"]  # only the duration changes
    assert alerts == 18
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool missing: apt-get install prometheus")
    done = subprocess.run(
        [promtool, "check", "rules", *map(str, out)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
