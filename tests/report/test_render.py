"""Rendering saved run folders: html, junit, history; bad input; compare."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hasuite.cli import main
from hasuite.report import ReportError, compare_runs, parse_tolerances, render_run
from hasuite.report.timeline import primary_changes
from hasuite.runfolder import Redactor, RunFolderError, load_run

from .conftest import EXPERIMENTS, REAL_RUN, add_load_and_alerts


def _svgs(html: str) -> dict[str, ET.Element]:
    out = {}
    start = 0
    while (i := html.find("<svg", start)) >= 0:
        end = html.index("</svg>", i) + len("</svg>")
        el = ET.fromstring(html[i:end])  # well-formed XML
        out[el.get("data-experiment", "")] = el
        start = end
    return out


def _ns(tag: str) -> str:
    return "{http://www.w3.org/2000/svg}" + tag


def test_real_run_renders_summary_and_one_timeline_per_experiment(real_run: Path) -> None:
    rendered = render_run(real_run)
    html = rendered.html.read_text()
    assert rendered.html == real_run.resolve() / "report.html"
    svgs = _svgs(html)
    assert sorted(svgs) == sorted(EXPERIMENTS)
    # summary table: every promise with verdict, measured, threshold
    assert '<span class="v v-FAIL">FAIL</span>' in html and "ROLLOUT" in html
    assert "PG-FAILOVER" in html and "27.981" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<script" not in html and "<link" not in html  # self-contained
    pg = svgs["postgres-leader-kill"]
    classes = [el.get("class", "") for el in pg.iter()]
    assert classes.count("fault") == 1 and classes.count("recovered") == 1
    assert "probe-ok" in classes and "probe-fail" in classes
    assert "role-primary" in classes and "role-down" in classes
    measured = [el for el in pg.iter(_ns("rect")) if el.get("class") == "outage measured"]
    assert len(measured) == 1
    title = measured[0].find(_ns("title"))
    assert title is not None and "write_outage_s = 29.9 s" in (title.text or "")
    changes = [el for el in pg.iter(_ns("path")) if el.get("class") == "primary-change"]
    assert changes, "the leader change postgres-3 -> postgres-1 must be marked"
    # the new-leader instant in the plot agrees with the measured time to new leader (28.0 s)
    run = load_run(real_run)
    exp = next(e for e in run.experiments if e.name == "postgres-leader-kill")
    (change,) = [c for c in primary_changes(exp.roles) if c.after == "postgres-1"]
    assert exp.fault_at is not None
    assert change.before == "postgres-3"
    assert abs((change.at - exp.fault_at) - 27.98) < 1.0


def test_older_run_has_no_load_section_newer_run_shows_load_and_alerts(real_run: Path) -> None:
    html = render_run(real_run).html.read_text()
    assert "No load was recorded" in html and "Alerts were not recorded" in html
    add_load_and_alerts(real_run)
    html = render_run(real_run).html.read_text()
    pg = _svgs(html)["postgres-leader-kill"]
    classes = [el.get("class", "") for el in pg.iter()]
    assert "load-rate" in classes and "load-fail" in classes
    assert classes.count("alert-firing") == 1 and classes.count("alert-resolved") == 1
    assert "PostgresLeaderMissing" in html and "achieved 9.6 req/s" in html
    # the other experiments still have no load lane
    rollout = [el.get("class", "") for el in _svgs(html)["django-rollout"].iter()]
    assert "load-rate" not in rollout


def test_junit_one_testcase_per_promise_with_numbers(real_run: Path) -> None:
    root = ET.parse(render_run(real_run).junit).getroot()
    assert root.tag == "testsuites"
    cases = list(root.iter("testcase"))
    summary = json.loads((real_run / "summary.json").read_text())
    promises = [
        (e["name"], p["id"], p["verdict"]) for e in summary["experiments"] for p in e["promises"]
    ]
    assert sorted((c.get("classname"), c.get("name")) for c in cases) == sorted(
        (e, p) for e, p, _ in promises
    )
    fails = sum(1 for *_, v in promises if v == "FAIL")
    assert int(root.get("tests", "")) == len(promises)
    assert int(root.get("failures", "")) == fails == 1
    (failed,) = [c for c in cases if c.find("failure") is not None]
    failure = failed.find("failure")
    assert failed.get("classname") == "django-rollout" and failure is not None
    assert "failed_requests: measured 68 count, required == 0 count" in (failure.text or "")
    assert all(float(c.get("time", "x")) >= 0 for c in cases)


def test_junit_error_and_skipped(real_run: Path) -> None:
    summary = json.loads((real_run / "summary.json").read_text())
    summary["experiments"][0]["promises"][0]["verdict"] = "ERROR"
    summary["experiments"][1]["promises"][0]["verdict"] = "SKIPPED"
    summary["experiments"].append(
        {
            "name": "pooler-kill",
            "status": "INTERRUPTED",
            "reason": "not run: interrupted",
            "dir": "",
            "promises": [],
        }
    )
    (real_run / "summary.json").write_text(json.dumps(summary))
    root = ET.parse(render_run(real_run).junit).getroot()
    assert (root.get("errors"), root.get("skipped"), root.get("tests")) == ("2", "1", "4")
    errors = [c for c in root.iter("testcase") if c.find("error") is not None]
    assert {c.get("classname") for c in errors} == {
        summary["experiments"][0]["name"],
        "pooler-kill",
    }


def test_history_is_idempotent(real_run: Path, reports: Path) -> None:
    render_run(real_run)
    history = reports / "history.jsonl"
    first = history.read_text()
    lines = [json.loads(x) for x in first.splitlines()]
    checks = sum(
        len(p["checks"])
        for e in json.loads((real_run / "summary.json").read_text())["experiments"]
        for p in e["promises"]
    )
    assert len(lines) == checks
    assert {x["run_id"] for x in lines} == {REAL_RUN}
    render_run(real_run)
    assert history.read_text() == first
    # a second run appends its own lines, the first run's stay
    other = reports / "20261129T000000Z"
    shutil.copytree(real_run, other)
    summary = json.loads((other / "summary.json").read_text())
    summary["run_id"] = other.name
    summary["started"] = "2026-11-29T00:00:00+00:00"
    (other / "summary.json").write_text(json.dumps(summary))
    render_run(other)
    assert len(history.read_text().splitlines()) == 2 * checks
    assert not list(reports.glob(".history.jsonl.*.tmp")), "no temp file left behind"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda r: (r / "summary.json").unlink(), "summary.json is missing"),
        (lambda r: (r / "summary.json").write_text('{"run_id": '), "not valid JSON"),
        (
            lambda r: (r / "summary.json").write_text(json.dumps({"run_id": "x"})),
            "does not match the summary schema",
        ),
        (
            lambda r: shutil.rmtree(r / "redis-master-kill"),
            "experiment redis-master-kill: folder",
        ),
        (
            lambda r: (r / "postgres-leader-kill" / "roles.jsonl").unlink(),
            "postgres-leader-kill/roles.jsonl is missing",
        ),
        (
            lambda r: (r / "django-rollout" / "samples.jsonl").write_text('{"at": 1}\n{broken\n'),
            "samples.jsonl line 2 is not valid JSON",
        ),
    ],
)
def test_missing_or_corrupt_run_is_an_error_and_nothing_is_written(
    real_run: Path, reports: Path, damage: object, message: str
) -> None:
    damage(real_run)  # type: ignore[operator]
    with pytest.raises(RunFolderError, match=re.escape(message)):
        render_run(real_run)
    assert not (real_run / "report.html").exists() and not (real_run / "junit.xml").exists()
    assert not (reports / "history.jsonl").exists()


def test_rerender_failure_keeps_the_previous_report(real_run: Path) -> None:
    render_run(real_run)
    before = (real_run / "report.html").read_text()
    (real_run / "postgres-leader-kill" / "events.json").write_text("[")
    with pytest.raises(RunFolderError, match=r"events\.json is not valid JSON"):
        render_run(real_run)
    assert (real_run / "report.html").read_text() == before


def test_missing_run_folder_names_it(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match=r"run folder .*nope does not exist"):
        render_run(tmp_path / "nope")


def test_newer_schema_version_is_refused(real_run: Path) -> None:
    summary = json.loads((real_run / "summary.json").read_text())
    summary["schema_version"] = 2
    (real_run / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(RunFolderError, match="schema_version 2 is newer"):
        load_run(real_run)


def _variant(reports: Path, real_run: Path, name: str, **values: float) -> Path:
    """A copy of the real run with some check values of PG-FAILOVER replaced."""
    other = reports / name
    shutil.copytree(real_run, other)
    summary = json.loads((other / "summary.json").read_text())
    summary["run_id"] = name
    for e in summary["experiments"]:
        for p in e["promises"]:
            for c in p["checks"]:
                if c["measurement"] in values and p["id"] == "PG-FAILOVER":
                    c["measured"] = values[c["measurement"]]
    (other / "summary.json").write_text(json.dumps(summary))
    return other


def test_compare_flags_worsening_beyond_tolerance(real_run: Path, reports: Path) -> None:
    a = load_run(real_run)
    # write outage 29.9 -> 31.5 s: +1.6 s is within 1 s + 10 % of 29.9 (= 3.99 s)
    within = load_run(_variant(reports, real_run, "b1", write_outage_s=31.5))
    cmp = compare_runs(a, within)
    assert not cmp.regressions
    row = next(r for r in cmp.rows if r.measurement == "write_outage_s")
    assert row.status == "worse" and row.a == 29.9 and row.b == 31.5
    # +5 s is beyond it; a lost order (0 -> 1) too; better numbers are not regressions
    worse = load_run(
        _variant(
            reports, real_run, "b2", write_outage_s=34.9, lost_orders=1, time_to_new_leader_s=9
        )
    )
    cmp = compare_runs(a, worse)
    assert {r.measurement for r in cmp.regressions} == {"write_outage_s", "lost_orders"}
    assert next(r for r in cmp.rows if r.measurement == "time_to_new_leader_s").status == "better"
    # a stricter tolerance turns the first variant into a regression
    strict = compare_runs(a, within, parse_tolerances(0.0, ["s=0.5"]))
    assert [r.measurement for r in strict.regressions] == ["write_outage_s"]


def test_compare_bad_tolerance_says_what_to_write() -> None:
    with pytest.raises(ReportError, match="expected UNIT=VALUE"):
        parse_tolerances(None, ["seconds"])
    with pytest.raises(ReportError, match="--rel-tol must be a number >= 0"):
        parse_tolerances(-1, None)


def test_cli_report_and_compare(
    real_run: Path,
    reports: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HASUITE_REPORTS_DIR", str(reports))
    monkeypatch.setenv("HASUITE_LAB_DIR", str(reports / "no-lab"))
    (reports / "latest").symlink_to(REAL_RUN)
    assert main(["report"]) == 0
    assert (real_run / "report.html").is_file() and (reports / "history.jsonl").is_file()
    assert "report.html" in capsys.readouterr().out
    _variant(reports, real_run, "worse", write_outage_s=40.0)
    assert main(["report", "--compare", REAL_RUN, "worse"]) == 1
    assert "regression" in capsys.readouterr().out
    assert main(["report", "--compare", REAL_RUN, REAL_RUN]) == 0
    assert main(["report", "missing-run"]) == 2
    assert "no run folder 'missing-run'" in capsys.readouterr().err.replace("\n", " ")


def test_redactor_masks_known_values_and_credential_shapes() -> None:
    r = Redactor(["s3cr3t-value-123"])
    assert "s3cr3t" not in r.text("auth failed with s3cr3t-value-123 in it")
    assert r.text("postgresql://shop:hunter2xyz@127.0.0.1:5432/shop") == (
        "postgresql://shop:[redacted]@127.0.0.1:5432/shop"
    )
    assert (
        r.text("dsn host=x password=abc123 user=shop") == "dsn host=x password=[redacted] user=shop"
    )
    assert r.text("X-Probe-Token: tok_987") == "X-Probe-Token: [redacted]"
    assert r.text("write outage 29.9 s <= 30 s") == "write outage 29.9 s <= 30 s"
    assert r.data({"k": ["password=zz"]}) == {"k": ["password=[redacted]"]}
