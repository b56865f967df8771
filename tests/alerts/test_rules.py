"""The alert rules in env/alerts: promtool accepts them, their unit tests pass, every alert is
labelled and annotated for a person being paged, every alert is tested firing and silent, every
`for:` fits the ALERT-FIRES window, and the Alertmanager template is a valid config.

promtool/amtool come from Debian's prometheus / prometheus-alertmanager packages; without them
the tests that need them skip with a reason saying what to install (CI installs them).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "env" / "alerts"
RULE_FILES = sorted((ALERTS / "rules").glob("*.yml"))
TEST_FILES = sorted((ALERTS / "tests").glob("*.yml"))
AM_TEMPLATE = ALERTS / "alertmanager.yml.tmpl"
README = ALERTS / "README.md"

SEVERITIES = {"critical", "warning"}
COMPONENTS = {
    "postgres",
    "pooler",
    "redis",
    "sentinel",
    "django",
    "celery-worker",
    "celery-beat",
    "nginx",
}
# The scrape job names the rules rely on (the contract in env/alerts/README.md).
JOBS = {"patroni", "pgbouncer", "redis", "sentinel", "django", "celery-worker", "nginx"}

# ALERT-FIRES: the fault's alert reaches Alertmanager within 60 s of the fault, with 5 s scrape
# and 5 s evaluation intervals. Budget per alert: detection (one scrape) + for + one evaluation
# + Alertmanager's group_wait must stay inside it.
ALERT_FIRES_WINDOW_S = 60.0
SCRAPE_INTERVAL_S = 5.0
EVALUATION_INTERVAL_S = 5.0

PROMTOOL_TIMEOUT_S = 120

_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration such as '30s', '1m30s' or '0s'."""
    text = str(text).strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(n) * _UNIT_S[u] for n, u in parts)


def load_yaml(path: Path) -> dict:
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def alerting_rules() -> list[tuple[Path, dict]]:
    return [
        (path, rule)
        for path in RULE_FILES
        for group in load_yaml(path)["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def require(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} not on PATH: `apt-get install {package}` (CI installs it)")
    return path


def run_tool(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=PROMTOOL_TIMEOUT_S,
        check=False,
    )


def tool_output(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"


def test_there_are_rule_and_test_files() -> None:
    assert RULE_FILES, f"no rule files in {ALERTS / 'rules'}"
    assert TEST_FILES, f"no promtool test files in {ALERTS / 'tests'}"


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: p.name)
def test_promtool_check_rules(rule_file: Path) -> None:
    promtool = require("promtool", "prometheus")
    proc = run_tool([promtool, "check", "rules", str(rule_file)], cwd=rule_file.parent)
    assert proc.returncode == 0, f"promtool check rules {rule_file.name} failed:\n" + tool_output(
        proc
    )


@pytest.mark.parametrize("test_file", TEST_FILES, ids=lambda p: p.name)
def test_promtool_test_rules(test_file: Path) -> None:
    promtool = require("promtool", "prometheus")
    proc = run_tool([promtool, "test", "rules", test_file.name], cwd=test_file.parent)
    assert proc.returncode == 0, f"promtool test rules {test_file.name} failed:\n" + tool_output(
        proc
    )


def test_alert_names_are_unique() -> None:
    names = [rule["alert"] for _, rule in alerting_rules()]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    assert not duplicates, f"alert names defined more than once: {duplicates}"


@pytest.mark.parametrize(
    ("rule_file", "rule"),
    alerting_rules(),
    ids=[rule["alert"] for _, rule in alerting_rules()],
)
def test_alert_is_labelled_and_annotated(rule_file: Path, rule: dict) -> None:
    name = rule["alert"]
    labels = rule.get("labels") or {}
    annotations = rule.get("annotations") or {}
    where = f"{name} in {rule_file.name}"
    assert labels.get("severity") in SEVERITIES, (
        f"{where}: severity {labels.get('severity')!r}, expected one of {sorted(SEVERITIES)}"
    )
    assert labels.get("component") in COMPONENTS, (
        f"{where}: component {labels.get('component')!r}, expected one of {sorted(COMPONENTS)}"
    )
    for key in ("summary", "description"):
        text = str(annotations.get(key, "")).strip()
        assert text, f"{where}: annotation {key!r} is missing or empty"
    assert len(str(annotations["description"])) > len(str(annotations["summary"])), (
        f"{where}: the description should say more than the summary (what to check first)"
    )


@pytest.mark.parametrize(
    ("rule_file", "rule"),
    alerting_rules(),
    ids=[rule["alert"] for _, rule in alerting_rules()],
)
def test_alert_fires_within_the_alert_fires_window(rule_file: Path, rule: dict) -> None:
    group_wait = parse_duration(load_yaml_template()["route"]["group_wait"])
    hold = parse_duration(rule.get("for", "0s"))
    worst_case = SCRAPE_INTERVAL_S + hold + EVALUATION_INTERVAL_S + group_wait
    assert worst_case <= ALERT_FIRES_WINDOW_S, (
        f"{rule['alert']} in {rule_file.name}: for: {rule.get('for')} gives a worst case of "
        f"{worst_case:g} s from fault to notification (scrape {SCRAPE_INTERVAL_S:g} + for "
        f"{hold:g} + evaluation {EVALUATION_INTERVAL_S:g} + group_wait {group_wait:g}), "
        f"over the ALERT-FIRES window of {ALERT_FIRES_WINDOW_S:g} s"
    )


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: p.name)
def test_rule_groups_evaluate_every_5s_and_use_contract_jobs(rule_file: Path) -> None:
    for group in load_yaml(rule_file)["groups"]:
        assert parse_duration(group.get("interval", "0s")) == EVALUATION_INTERVAL_S, (
            f"{rule_file.name} group {group['name']}: interval {group.get('interval')!r}, "
            f"expected 5s (the timing in the rule comments assumes it)"
        )
        for rule in group["rules"]:
            jobs = set(re.findall(r'\bjob\s*=~?\s*"([^"]*)"', rule["expr"]))
            unknown = jobs - JOBS
            assert not unknown, (
                f"{rule.get('alert', rule.get('record'))} in {rule_file.name} uses job "
                f"{sorted(unknown)}, not in the scrape contract {sorted(JOBS)}"
            )


def _alert_test_cases() -> dict[str, dict[str, list[str]]]:
    """alertname -> {"firing": [where...], "silent": [where...]} over all promtool test files."""
    cases: dict[str, dict[str, list[str]]] = {}
    for path in TEST_FILES:
        for test in load_yaml(path).get("tests") or []:
            for case in test.get("alert_rule_test") or []:
                kind = "firing" if case.get("exp_alerts") else "silent"
                where = f"{path.name}: {test.get('name', '?')} @ {case.get('eval_time')}"
                entry = cases.setdefault(case["alertname"], {"firing": [], "silent": []})
                entry[kind].append(where)
    return cases


def test_every_alert_has_firing_and_silent_test_cases() -> None:
    cases = _alert_test_cases()
    names = {rule["alert"] for _, rule in alerting_rules()}
    never_firing = sorted(n for n in names if not cases.get(n, {}).get("firing"))
    never_silent = sorted(n for n in names if not cases.get(n, {}).get("silent"))
    unknown = sorted(set(cases) - names)
    assert not never_firing, f"alerts without a promtool case where they fire: {never_firing}"
    assert not never_silent, f"alerts without a promtool case where they are silent: {never_silent}"
    assert not unknown, f"promtool cases for alerts that no rule file defines: {unknown}"


def test_every_rule_file_is_loaded_by_a_test_file() -> None:
    loaded = {
        (path.parent / rule_file).resolve()
        for path in TEST_FILES
        for rule_file in load_yaml(path).get("rule_files") or []
    }
    missing = sorted(p.name for p in RULE_FILES if p.resolve() not in loaded)
    assert not missing, f"rule files no promtool test file loads: {missing}"


def test_readme_lists_every_alert_and_job() -> None:
    text = README.read_text(encoding="utf-8")
    missing_alerts = sorted(r["alert"] for _, r in alerting_rules() if r["alert"] not in text)
    missing_jobs = sorted(j for j in JOBS if f"`{j}`" not in text)
    assert not missing_alerts, f"{README.name} does not list alerts {missing_alerts}"
    assert not missing_jobs, f"{README.name} does not state the job names {missing_jobs}"


def render_template(url: str) -> str:
    text = AM_TEMPLATE.read_text(encoding="utf-8")
    assert "{{WEBHOOK_URL}}" in text, f"{AM_TEMPLATE.name} lost its {{{{WEBHOOK_URL}}}} placeholder"
    return text.replace("{{WEBHOOK_URL}}", url)


def load_yaml_template() -> dict:
    return yaml.safe_load(render_template("http://127.0.0.1:9/alerts"))


def test_alertmanager_template_routes_everything_to_the_webhook() -> None:
    config = load_yaml_template()
    route = config["route"]
    receivers = {r["name"]: r for r in config["receivers"]}
    assert not route.get("routes"), "sub-routes could send an alert elsewhere"
    assert not config.get("inhibit_rules"), "inhibited alerts would look missing to the suite"
    webhooks = receivers[route["receiver"]]["webhook_configs"]
    assert [w["url"] for w in webhooks] == ["http://127.0.0.1:9/alerts"]
    assert all(w.get("send_resolved") is True for w in webhooks)
    assert route["group_by"] == ["..."], "each alert must be its own group"
    assert parse_duration(route["group_wait"]) <= 5
    assert parse_duration(route["group_interval"]) <= EVALUATION_INTERVAL_S


def test_amtool_accepts_the_rendered_alertmanager_config(tmp_path: Path) -> None:
    amtool = require("amtool", "prometheus-alertmanager")
    rendered = tmp_path / "alertmanager.yml"
    rendered.write_text(render_template("http://127.0.0.1:9/alerts"), encoding="utf-8")
    proc = run_tool([amtool, "check-config", str(rendered)], cwd=tmp_path)
    assert proc.returncode == 0, "amtool check-config failed:\n" + tool_output(proc)


def test_amtool_rejects_the_unrendered_template() -> None:
    # Proves the check above can fail: an unsubstituted placeholder is not a URL.
    amtool = require("amtool", "prometheus-alertmanager")
    proc = run_tool([amtool, "check-config", str(AM_TEMPLATE)], cwd=ALERTS)
    assert proc.returncode != 0, "amtool accepted a config whose webhook URL is a placeholder"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0s", 0), ("10s", 10), ("1m30s", 90), ("3m", 180), ("500ms", 0.5)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "1x", "s10"])
def test_parse_duration_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)
