"""Reports people and CI read, rendered from a saved run folder.

- ``report.html``: self-contained (inline CSS and SVG, no script): verdicts, per-experiment
  timelines (:mod:`hasuite.report.timeline`);
- ``junit.xml``: one testcase per promise (:mod:`hasuite.report.junit`);
- ``reports/history.jsonl``: one line per promise check of every rendered run
  (:mod:`hasuite.report.history`), compared by :func:`compare_runs`;
- the verdicts on a terminal or in a log (:mod:`hasuite.report.terminal`) and as a Markdown
  summary for a CI job's page (:mod:`hasuite.report.markdown`), in the same words
  (:mod:`hasuite.report.words`).

Everything is rendered from files, read by :mod:`hasuite.runfolder` (which owns the folder's
format and ``summary.schema.json``), so ``hasuite report RUN`` re-renders any saved run; secrets
are redacted on load (:mod:`hasuite.runfolder.redact`).
"""

from hasuite.report.compare import CompareRow, Comparison, Tolerance, compare_runs, parse_tolerances
from hasuite.report.errors import ReportError
from hasuite.report.render import HISTORY_FILE, Rendered, render_run, resolve_run

__all__ = [
    "HISTORY_FILE",
    "CompareRow",
    "Comparison",
    "Rendered",
    "ReportError",
    "Tolerance",
    "compare_runs",
    "parse_tolerances",
    "render_run",
    "resolve_run",
]
