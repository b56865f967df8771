"""Progress lines, the phase read from a running session, and the verdicts: one a line in a
log, a table at the width of a terminal."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from _pytest.capture import CaptureFixture
from rich.cells import cell_len
from rich.console import Console

from hasuite.cli import main
from hasuite.model import Event
from hasuite.report.terminal import RunProgress, print_verdicts, session_phase, verdict_lines
from hasuite.report.words import VerdictRow
from hasuite.runfolder import RunData, load_run

from .conftest import RECOMMENDATION, SKIP_REASON, add_newer_run


def _session(**kw: object) -> SimpleNamespace:
    base = {"result": None, "probes": object(), "events": [], "measurements": None}
    return SimpleNamespace(options=SimpleNamespace(name="pooler-kill"), **{**base, **kw})


def test_session_phase_follows_the_experiment() -> None:
    fault = Event(at=1.0, wall=100.0, kind="fault", component="pooler")
    back = Event(at=5.0, wall=104.0, kind="recovered", component="pooler")
    assert session_phase(None, 0) == "preparing"
    assert session_phase(_session(probes=None), 0) == "checking the stack is healthy"
    assert session_phase(_session(), 0).startswith("baseline")
    assert session_phase(_session(events=[fault]), 112.0) == (
        "fault injected (pooler); waiting for recovery, 12 s after the fault"
    )
    assert session_phase(_session(events=[fault, back]), 112.0).startswith("recovered; settling")
    assert session_phase(_session(result=object()), 0) == "writing results"


def test_progress_numbers_experiments_and_prints_phase_changes() -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=False, width=200)
    now = [0.0]
    session = _session()
    with RunProgress(
        console, 2, active_session=lambda: session, clock=lambda: now[0], interval_s=0.01
    ) as progress:
        progress.line("pooler-kill: running")
        now[0] = 65.0
        deadline = time.monotonic() + 5
        while "baseline" not in buf.getvalue() and time.monotonic() < deadline:
            time.sleep(0.02)
        progress.line("pooler-kill: PASS in 65 s")
    text = buf.getvalue()
    assert "[1/2] pooler-kill: running" in text
    assert "01:05 pooler-kill: PASS in 65 s" in text
    assert "pooler-kill: baseline" in text


def _run(real_run: Path) -> RunData:
    add_newer_run(real_run)
    summary = json.loads((real_run / "summary.json").read_text())
    redis = next(e for e in summary["experiments"] if e["name"] == "redis-master-kill")
    redis["promises"][0]["reason"] += "; sentinel auth password=[redacted]"
    (real_run / "summary.json").write_text(json.dumps(summary))
    return load_run(real_run)


def test_without_a_terminal_one_verdict_a_line_however_long(real_run: Path) -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=False, width=80)
    run = _run(real_run)
    print_verdicts(console, run)
    lines = buf.getvalue().splitlines()
    assert lines == verdict_lines(run)
    assert lines[0] == "run 20261128T002349Z on local: FAIL (1 FAIL, 2 PASS, 1 SKIPPED)"
    assert lines[1] == (
        f"django-rollout ROLLOUT FAIL | failed requests 68 != 0 | fix: {RECOMMENDATION}"
    )
    assert lines[2] == (
        "postgres-leader-kill PG-FAILOVER PASS | time to new leader 28.0 s <= 30 s; "
        "write outage 29.9 s <= 30 s; lost orders 0 == 0"
    )
    assert lines[3].startswith("redis-master-kill REDIS-FAILOVER PASS | time to new master")
    assert lines[3].endswith("sentinel auth password=[redacted]") and len(lines[3]) > 200
    assert lines[4] == f"postgres-partition PG-PARTITION SKIPPED | {SKIP_REASON}"
    assert "recommended:" not in buf.getvalue() and "┃" not in buf.getvalue()


def test_a_verdict_without_a_reason_shows_measured_against_threshold() -> None:
    row = VerdictRow("pooler-kill", "POOLER", "FAIL", "3.5 s", "2 s", "", "")
    assert row.line == "pooler-kill POOLER FAIL | measured 3.5 s against 2 s"


@pytest.mark.parametrize("width", [80, 140])
def test_on_a_terminal_a_table_at_its_width(real_run: Path, width: int) -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=width, color_system=None)
    print_verdicts(console, _run(real_run))
    text = buf.getvalue()
    table = [line for line in text.splitlines() if line[:1] in "┏┃┡│└"]
    assert table and {cell_len(line) for line in table} == {width}
    assert "┃ experiment / promise ┃ verdict ┃" in text and "fix" in table[1] + table[2]
    flat = " ".join(text.split())
    for words in ("django-rollout", "ROLLOUT", "failed requests 68 != 0", "password=[redacted]"):
        assert words in flat
    assert "recommended:" not in text


def test_cli_report_prints_one_verdict_a_line_into_a_log(
    real_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: CaptureFixture[str]
) -> None:
    _run(real_run)
    monkeypatch.setenv("HASUITE_LAB_DIR", str(tmp_path / "no-lab"))
    assert main(["report", str(real_run), "--history", str(tmp_path / "h.jsonl")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert f"django-rollout ROLLOUT FAIL | failed requests 68 != 0 | fix: {RECOMMENDATION}" in out
    assert any(line.startswith("report: ") and line.endswith("report.html") for line in out)
