"""The Markdown summary (``--summary-md FILE`` or ``$GITHUB_STEP_SUMMARY``), read back through a
Markdown parser (markdown-it-py, rich's own) as GitHub would show it."""

from __future__ import annotations

import json
import shlex
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from markdown_it import MarkdownIt

from hasuite.cli import build_parser, main
from hasuite.report.markdown import render_markdown
from hasuite.runfolder import load_run

from .conftest import RECOMMENDATION, SKIP_REASON, SKIPPED, add_newer_run


class _Page(HTMLParser):
    """The rendered summary: its table rows (cell texts), list items, headings and any tag."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.items: list[str] = []
        self.tags: set[str] = set()
        self._cell: list[str] | None = None
        self._item = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.rows[-1].append("")
            self._cell = self.rows[-1]
        elif tag == "li":
            self.items.append("")
            self._item += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._cell = None
        elif tag == "li":
            self._item -= 1

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell[-1] += data
        if self._item:
            self.items[-1] += data


def _page(markdown: str) -> _Page:
    page = _Page()
    page.feed(MarkdownIt("commonmark").enable("table").render(markdown))
    return page


def test_summary_has_the_verdict_table_the_fails_with_fixes_and_the_report(
    real_run: Path,
) -> None:
    add_newer_run(real_run)
    text = render_markdown(load_run(real_run), report_html="reports/x/report.html")
    assert text.startswith("## hasuite run 20261128T002349Z on local: **FAIL** (1 FAIL, 2 PASS")
    page = _page(text)
    head, *rows = page.rows
    assert head == [
        "experiment",
        "promise",
        "verdict",
        "measured",
        "threshold",
        "measured against the promise",
    ]
    assert rows[0] == [
        "django-rollout",
        "ROLLOUT",
        "FAIL",
        "68 count",
        "0 count",
        "failed requests 68 != 0",
    ]
    assert rows[1][:5] == ["postgres-leader-kill", "PG-FAILOVER", "PASS", "27.98 s", "30 s"]
    assert rows[1][5].startswith("time to new leader 28.0 s <= 30 s; write outage 29.9 s <= 30 s")
    assert rows[3] == [SKIPPED, "PG-PARTITION", "SKIPPED", "-", "30 s", SKIP_REASON]
    assert len(rows) == 4
    assert "### 1 FAIL and its fix" in text
    assert page.items[0].startswith("ROLLOUT in django-rollout: failed requests 68 != 0")
    assert page.items[1].strip() == f"fix: {RECOMMENDATION}"  # nested under its FAIL
    assert "Report: `reports/x/report.html`" in text


def test_reasons_cannot_break_the_table_or_inject_markup(real_run: Path) -> None:
    summary = json.loads((real_run / "summary.json").read_text())
    summary["experiments"][0]["promises"][0]["reason"] = "a | b <script>x</script> *y* `z`\nnext"
    (real_run / "summary.json").write_text(json.dumps(summary))
    page = _page(render_markdown(load_run(real_run), report_html="report.html"))
    assert all(len(row) == 6 for row in page.rows)
    assert page.rows[1][5] == "a | b <script>x</script> *y* `z` next"
    assert not page.tags & {"script", "em"}  # the backticks stayed text (the cell above)


def _report(real_run: Path, tmp_path: Path, *extra: str) -> int:
    return main(["report", str(real_run), "--history", str(tmp_path / "h.jsonl"), *extra])


def test_cli_writes_summary_md_or_appends_to_the_step_summary(
    real_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HASUITE_LAB_DIR", str(tmp_path / "no-lab"))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    chosen = tmp_path / "summary.md"
    chosen.write_text("old content\n")
    assert _report(real_run, tmp_path, "--summary-md", str(chosen)) == 0
    text = chosen.read_text()
    assert text.startswith("## hasuite run 20261128T002349Z") and "old content" not in text
    assert f"`{real_run.resolve() / 'report.html'}`" in text  # outside the cwd: absolute
    step = tmp_path / "step-summary.md"
    step.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    monkeypatch.chdir(real_run.parent)
    assert _report(real_run, tmp_path) == 0
    appended = step.read_text()
    assert appended.startswith("earlier step\n## hasuite run 20261128T002349Z")
    assert "`20261128T002349Z/report.html`" in appended  # under the cwd: relative
    # --summary-md wins over the environment
    assert _report(real_run, tmp_path, "--summary-md", str(chosen)) == 0
    assert step.read_text() == appended


def test_an_unwritable_summary_is_reported_and_the_exit_code_stays(
    real_run: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HASUITE_LAB_DIR", str(tmp_path / "no-lab"))
    missing = tmp_path / "no-such-dir" / "summary.md"
    assert _report(real_run, tmp_path, "--summary-md", str(missing)) == 0
    assert "summary not written to" in capsys.readouterr().err.replace("\n", " ")


def test_cli_run_writes_the_summary_after_the_report(
    real_run: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``hasuite run`` on the local target, its run replaced by the saved run folder."""
    monkeypatch.setenv("HASUITE_LAB_DIR", str(tmp_path / "lab"))
    monkeypatch.setenv("HASUITE_REPORTS_DIR", str(real_run.parent))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "step.md"))
    ran = SimpleNamespace(run_dir=real_run, status=SimpleNamespace(value="FAIL"))
    monkeypatch.setattr("hasuite.local_run.run_local", lambda config, lab, progress: ran)
    assert main(["run", "postgres-leader-kill"]) == 1
    assert (tmp_path / "step.md").read_text().startswith("## hasuite run 20261128T002349Z")
    out = capsys.readouterr().out.splitlines()
    assert "django-rollout ROLLOUT FAIL | failed requests 68 != 0" in out
    assert f"summary: {tmp_path / 'step.md'}" in out


def test_the_nightly_workflow_puts_the_summary_on_the_job_page() -> None:
    workflow = Path(__file__).resolve().parents[2] / ".github/workflows/nightly-chaos.yml"
    steps = yaml.safe_load(workflow.read_text())["jobs"]["chaos"]["steps"]
    (run,) = [s["run"] for s in steps if "hasuite run" in s.get("run", "")]
    argv = shlex.split(run.replace("$GITHUB_STEP_SUMMARY", "/tmp/step-summary"))
    assert argv[0] == ".venv/bin/hasuite"
    args = build_parser().parse_args(argv[1:])
    assert args.func.__name__ == "cmd_run" and args.target == "kind"
    assert args.summary_md == Path("/tmp/step-summary")
