"""Render a run folder: ``report.html`` and ``junit.xml`` in it, its lines in the history."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hasuite.report.errors import ReportError
from hasuite.report.files import write_atomic
from hasuite.report.history import update_history
from hasuite.report.html import render_html
from hasuite.report.junit import render_junit
from hasuite.runfolder import Redactor, RunData, load_run

__all__ = ["HISTORY_FILE", "Rendered", "render_run", "resolve_run"]

HISTORY_FILE = "history.jsonl"


@dataclass(frozen=True)
class Rendered:
    run: RunData
    html: Path
    junit: Path
    history: Path | None


def resolve_run(arg: str | None, reports_dir: Path) -> Path:
    """A run folder from a CLI argument: a path, a run id under ``reports_dir``, or latest."""
    if arg is None:
        arg = "latest"
    candidate = Path(arg)
    if candidate.is_dir():
        return candidate
    under = reports_dir / arg
    if under.is_dir():
        return under
    known = (
        sorted(
            (p.name for p in reports_dir.iterdir() if (p / "summary.json").is_file()), reverse=True
        )
        if reports_dir.is_dir()
        else []
    )
    shown = ", ".join(known[:5]) or "none"
    raise ReportError(
        f"no run folder {arg!r} (looked at {candidate} and {under}); runs in {reports_dir}: "
        f"{shown}{' ...' if len(known) > 5 else ''}"
    )


def render_run(
    folder: Path,
    *,
    secrets: Iterable[str] = (),
    history: Path | None = None,
    write_history: bool = True,
) -> Rendered:
    """Load ``folder`` (ReportError naming what is missing), write the report files atomically.

    ``history`` defaults to ``history.jsonl`` next to the run folder (``reports/``).
    """
    run = load_run(folder, redactor=Redactor(secrets))
    html_text = render_html(run)
    junit_text = render_junit(run)
    html_path = run.folder / "report.html"
    junit_path = run.folder / "junit.xml"
    write_atomic(html_path, html_text)
    write_atomic(junit_path, junit_text)
    history_path = None
    if write_history:
        history_path = history or run.folder.parent / HISTORY_FILE
        update_history(history_path, run)
    return Rendered(run=run, html=html_path, junit=junit_path, history=history_path)
