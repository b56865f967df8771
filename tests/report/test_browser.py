"""report.html in a real headless browser (Debian's chromium).

The page is rendered from a real run folder (with what newer runs carry added: load, alerts, a
recommendation, a skipped experiment), opened from disk with the network disabled, and checked:
the browser's DOM holds the summary table and one timeline SVG per experiment, no table cell
shows a JSON object (``{"``), the skipped experiment is one line, the browser logs no console
error, nothing was fetched, and a screenshot is drawn.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hasuite.report import render_run

from .conftest import EXPERIMENTS, SKIPPED, add_newer_run, cells_with_json, table_cells

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium not installed: `apt-get install -y chromium` (env/local/install does it; "
    "CI installs it)",
)


def _chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            # any network request (a CDN script, a font) would fail and be logged
            "--proxy-server=127.0.0.1:9",
            "--virtual-time-budget=3000",
            *extra,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def _console_errors(stderr: str) -> list[str]:
    return [
        line
        for line in stderr.splitlines()
        if "CONSOLE" in line
        or "Uncaught" in line
        or "ERR_" in line
        or re.search(r"Failed to load resource", line)
    ]


def test_report_renders_in_chromium_with_plots_words_and_no_console_errors(
    real_run: Path, tmp_path: Path
) -> None:
    add_newer_run(real_run)
    page = render_run(real_run).html
    result = _chromium(page, tmp_path / "profile", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    assert "<table" in dom and "PG-FAILOVER" in dom and "v-FAIL" in dom
    for name in EXPERIMENTS:
        assert re.search(rf'<svg[^>]*data-experiment="{name}"', dom), f"no timeline for {name}"
    assert dom.count('class="fault"') == len(EXPERIMENTS)
    assert 'class="load-rate"' in dom and 'class="alert-firing"' in dom
    assert _console_errors(result.stderr) == []
    # the browser's table cells hold words and numbers, never a JSON object
    cells = table_cells(dom)
    assert "asked 10 req/s; achieved 9.6 req/s (96 % of asked) over 3.5 s" in cells
    assert "41 orders" in cells and "http-503 288, timeout 2" in cells
    assert cells_with_json(dom) == []
    skipped = dom[dom.index(f'data-experiment="{SKIPPED}"') :]
    skipped = skipped[: skipped.index("</section>")]
    assert "<table" not in skipped and skipped.count("<p") == 1


def test_console_error_detection_works(tmp_path: Path) -> None:
    """The check above can fail: a page with a script error and a network fetch is caught."""
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><body><script>undefinedFunction();</script>"
        '<img src="http://example.invalid/x.png"></body></html>'
    )
    result = _chromium(page, tmp_path / "profile", "--dump-dom")
    errors = _console_errors(result.stderr)
    assert any("undefinedFunction" in e or "Uncaught" in e for e in errors), result.stderr[-2000:]


def test_plots_are_drawn_with_size(real_run: Path, tmp_path: Path) -> None:
    """A screenshot of the rendered page is not blank (the SVGs have size and colour)."""
    add_newer_run(real_run)
    page = render_run(real_run).html
    shot = tmp_path / "shot.png"
    result = _chromium(
        page, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1100,1400"
    )
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    assert shot.stat().st_size > 20_000  # a blank 1100x1400 PNG is a few KiB
