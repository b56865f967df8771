"""A run's Markdown summary, for a CI job's summary page (GitHub's ``$GITHUB_STEP_SUMMARY``) or
any file: the verdict table, every FAIL with its fix, and where report.html is."""

from __future__ import annotations

from pathlib import Path

from hasuite.report.files import write_atomic
from hasuite.report.words import VerdictRow, tally, verdict_rows
from hasuite.runfolder import RunData

__all__ = ["render_markdown", "write_markdown"]

#: escaped with a backslash in table cells and list items (GitHub-flavoured Markdown)
_SPECIAL = "\\`*_[]<>|#"


def _md(text: str) -> str:
    """``text`` on one line, with no Markdown or HTML meaning."""
    flat = " ".join(text.split())
    return "".join(f"\\{c}" if c in _SPECIAL else c for c in flat)


def _verdict(v: str) -> str:
    return f"**{_md(v)}**" if v in ("FAIL", "ERROR", "INTERRUPTED") else _md(v)


def _table(rows: list[VerdictRow]) -> list[str]:
    out = [
        "| experiment | promise | verdict | measured | threshold | measured against the promise |",
        "|---|---|---|--:|--:|---|",
    ]
    for r in rows:
        cells = [_md(r.experiment), _md(r.promise), _verdict(r.verdict)]
        cells += [_md(r.measured), _md(r.threshold), _md(r.reason)]
        out.append("| " + " | ".join(cells) + " |")
    return out


def _fails(rows: list[VerdictRow]) -> list[str]:
    fails = [r for r in rows if r.verdict == "FAIL"]
    if not fails:
        return []
    many = len(fails) > 1
    out = ["", f"### {len(fails)} FAIL{'s and their fixes' if many else ' and its fix'}", ""]
    for r in fails:
        out.append(f"- **{_md(r.promise)}** in {_md(r.experiment)}: {_md(r.reason)}")
        out.append(f"  - fix: {_md(r.fix) if r.fix else 'none recorded; see the report'}")
    return out


def render_markdown(run: RunData, *, report_html: str) -> str:
    """The summary; ``report_html`` is the report's path as the reader should see it."""
    rows = list(verdict_rows(run))
    lines = [
        f"## hasuite run {_md(run.run_id)} on {_md(run.summary.target)}: "
        f"{_verdict(run.status)} ({tally(run)})",
        "",
        *_table(rows),
        *_fails(rows),
        "",
        f"Report: `{report_html}` (junit.xml and summary.json beside it).",
        "",
    ]
    return "\n".join(lines)


def write_markdown(path: Path, text: str, *, append: bool) -> None:
    """Write the summary to ``path`` whole; or append it (a CI summary file other steps share)."""
    if append:
        with path.open("a", encoding="utf-8") as fh:
            fh.write(text)
        return
    write_atomic(path, text)
