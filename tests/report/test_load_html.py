"""The load section of report.html in words and numbers; a skipped experiment in one line."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path

from hasuite.report import render_run
from hasuite.runfolder import LoadFile, LoadOrders, LoadPhase

from .conftest import (
    SKIP_REASON,
    SKIPPED,
    add_newer_run,
    cells_with_json,
    load_json,
    table_cells,
)


def _section(html: str, experiment: str) -> str:
    start = html.index(f'<section class="experiment" data-experiment="{experiment}"')
    return html[start : html.index("</section>", start)]


def _load_part(section: str) -> str:
    start = section.index("<h3>Load</h3>")
    end = section.find("<h3>", start + 1)
    return section[start : end if end > 0 else len(section)]


def test_the_load_fixture_has_every_field_the_reader_knows() -> None:
    data = load_json()
    assert set(data) == {f.name for f in fields(LoadFile)}
    assert set(data["orders"]) == {f.name for f in fields(LoadOrders)}
    assert set(data["phases"][0]) == {f.name for f in fields(LoadPhase)}
    assert set(load_json(ran=False)) == set(data)


def test_load_section_is_words_and_numbers_with_units(real_run: Path) -> None:
    add_newer_run(real_run)
    html = render_run(real_run).html.read_text()
    load = _load_part(_section(html, "postgres-leader-kill"))
    text = re.sub(r"<[^>]+>", "", load).replace("&ndash;", "-")
    assert "steady: 20 users (spawned 5 per s), 1-3 s between requests, for 120 s" in text
    assert "asked 10 req/s; achieved 9.6 req/s (96 % of asked) over 3.5 s" in text
    # the load records (one per order-write sample) decide requests and failures
    records = (real_run / "postgres-leader-kill" / "load-records.jsonl").read_text().splitlines()
    failed = sum(1 for r in records if not json.loads(r)["ok"])
    assert f"{len(records)} requests, {failed} failed" in text
    assert f"http-503 {failed}" in text
    assert "orders acknowledged (201)41 orders" in text
    assert "orders present after recovery40 orders" in text
    assert "orders missing (lost)1 order (o-1017)" in text
    assert "38 orders of the 40 present; 2 unconfirmed (o-1020, o-1033)" in text
    assert "used 12.5 % of a core (3.2 s of CPU); stopped: hasuite stopped it (SIGTERM)" in text
    # phases: one row each, with units, failures by kind in words
    phases = table_cells(load[load.index("Load by phase") :])
    assert phases[:3] == ["baseline", "-3.0 s to +0.0 s", "30"]
    assert "96.7 %" in phases and "29.4 s" in phases and "http-503 288, timeout 2" in phases
    for raw in ("achieved_rps", "asked_rps", "failures_by_kind", "'profile'", "[["):
        assert raw not in load, raw
    assert cells_with_json(html) == []


def test_an_experiment_skipped_before_it_started_is_one_line(real_run: Path) -> None:
    add_newer_run(real_run)
    html = render_run(real_run).html.read_text()
    section = _section(html, SKIPPED)
    assert section.count("<p") == 1 and f"Skipped: {SKIP_REASON}." in section
    assert "<table" not in section and "<svg" not in section and "Load" not in section


def test_load_that_did_not_run_is_one_line_without_a_table(real_run: Path) -> None:
    add_newer_run(real_run)
    folder = real_run / "postgres-leader-kill"
    (folder / "load-records.jsonl").unlink()
    (folder / "load.json").write_text(json.dumps(load_json(ran=False)))
    load = _load_part(_section(render_run(real_run).html.read_text(), "postgres-leader-kill"))
    assert "<table" not in load and load.count("<p") == 1
    assert "No load ran: the load generator did not start." in load


def test_the_json_cell_check_finds_a_json_cell() -> None:
    page = "<table><tr><td>ok</td><td><code>{&quot;users&quot;: 20}</code></td></tr></table>"
    assert cells_with_json(page) == ['{"users": 20}']
    assert table_cells(page) == ["ok", '{"users": 20}']
