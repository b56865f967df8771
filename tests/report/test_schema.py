"""summary.json against its JSON Schema; junit.xml structure."""

from __future__ import annotations

import copy
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from chaos import fakes  # tests/chaos (pytest puts tests/ on sys.path)

from hasuite.report import render_run
from hasuite.runfolder import SUMMARY_SCHEMA_VERSION, summary_schema
from hasuite.session.config import RunConfig
from hasuite.session.runner import run_experiments

from .conftest import DATA, REAL_RUN

ROOT = Path(__file__).resolve().parents[2]


def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(summary_schema())


def test_schema_is_a_valid_draft_2020_12_schema_of_the_current_version() -> None:
    jsonschema.Draft202012Validator.check_schema(summary_schema())
    assert summary_schema()["properties"]["schema_version"] == {"const": SUMMARY_SCHEMA_VERSION}


def _real_summaries() -> list[Path]:
    saved = sorted((ROOT / "reports").glob("2*/summary.json"))  # local runs, when there are any
    return [DATA / REAL_RUN / "summary.json", *saved]


@pytest.mark.parametrize("path", _real_summaries(), ids=lambda p: p.parent.name)
def test_real_summaries_validate(path: Path) -> None:
    data = json.loads(path.read_text())
    data.setdefault("schema_version", 1)  # written before the field existed: same shape
    errors = [e.message for e in _validator().iter_errors(data)]
    assert errors == []


def _fake_run(tmp_path: Path) -> dict[str, Any]:
    experiment = yaml.safe_load((ROOT / "experiments" / "postgres-leader-kill.yaml").read_text())
    ext = next(e for e in experiment["extensions"] if e.get("name") == "hasuite")
    ext.pop("load", None)
    ext.pop("alerts", None)
    ext["promises"] = [p for p in ext["promises"] if not p.startswith("ALERT-")]
    ext.update(baseline_s=0.3, settle_s=0.2, settle_timeout_s=5)
    experiment["method"][1]["provider"]["arguments"].update(timeout_s=10, stable_s=0.2)
    folder = tmp_path / "experiments"
    folder.mkdir()
    (folder / "postgres-leader-kill.yaml").write_text(yaml.safe_dump(experiment))
    app = fakes.FakeApp()
    with fakes.serve(app) as url:
        result = run_experiments(
            RunConfig(
                target="local",
                experiments=("postgres-leader-kill",),
                reports_dir=tmp_path / "reports",
                experiments_dir=folder,
                promises_path=ROOT / "suites" / "promises.yaml",
                probe_hz=20,
                run_id="schema-run",
            ),
            fakes.FakeTarget(app=app, app_url=url, outage_s=0.5),
        )
    render_run(result.run_dir)
    data: dict[str, Any] = json.loads((result.run_dir / "summary.json").read_text())
    return data


def test_generated_summary_validates_and_renders(tmp_path: Path) -> None:
    data = _fake_run(tmp_path)
    assert data["schema_version"] == SUMMARY_SCHEMA_VERSION
    assert [e.message for e in _validator().iter_errors(data)] == []
    junit = ET.parse(tmp_path / "reports" / "schema-run" / "junit.xml").getroot()
    assert [c.get("name") for c in junit.iter("testcase")] == ["PG-FAILOVER", "ORDER-CONFIRMED"]
    assert all("recommendation" in p for p in data["experiments"][0]["promises"])
    html = (tmp_path / "reports" / "schema-run" / "report.html").read_text()
    # the one ledger, by source, in the report
    assert "Ledger: every acknowledged write, by source" in html
    assert "<td>order</td><td>probe</td>" in html


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("schema_version",), 2),
        (("status",), "GREEN"),
        (("experiments", 0, "promises", 0, "verdict"), "OK"),
        (("experiments", 0, "promises", 0, "checks", 0, "comparison"), "=<"),
        (("experiments", 0, "promises", 0, "measured"), "29.9"),
        (("started",), "yesterday"),
    ],
)
def test_schema_rejects_bad_values(path: tuple[Any, ...], value: Any) -> None:
    data = json.loads((DATA / REAL_RUN / "summary.json").read_text())
    data["schema_version"] = 1
    bad = copy.deepcopy(data)
    node = bad
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert list(_validator().iter_errors(data)) == []
    assert list(_validator().iter_errors(bad)), f"{path} = {value!r} was accepted"


def test_junit_counts_match_testcases(tmp_path: Path) -> None:
    run = tmp_path / "reports" / REAL_RUN
    shutil.copytree(DATA / REAL_RUN, run)
    root = ET.parse(render_run(run).junit).getroot()
    for suite in root.iter("testsuite"):
        cases = list(suite.iter("testcase"))
        assert int(suite.get("tests", "-1")) == len(cases)
        for kind, attr in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
            assert int(suite.get(attr, "-1")) == sum(1 for c in cases if c.find(kind) is not None)
        assert all(c.get("classname") == suite.get("name") for c in cases)
    assert int(root.get("tests", "-1")) == sum(1 for _ in root.iter("testcase"))
