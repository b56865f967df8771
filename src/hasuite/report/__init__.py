"""Reports people and CI read, rendered from a saved run folder.

- ``report.html``: self-contained (inline CSS and SVG, no script): verdicts, per-experiment
  timelines (:mod:`hasuite.report.timeline`);
- ``junit.xml``: one testcase per promise (:mod:`hasuite.report.junit`);
- ``reports/history.jsonl``: one line per promise check of every rendered run
  (:mod:`hasuite.report.history`), compared by :func:`compare_runs`;
- ``summary.schema.json``: the JSON Schema of ``summary.json`` (:func:`summary_schema`).

Everything is rendered from files, so ``hasuite report RUN`` re-renders any saved run; secrets
are redacted on load (:mod:`hasuite.report.redact`).
"""

from hasuite.report.compare import CompareRow, Comparison, Tolerance, compare_runs, parse_tolerances
from hasuite.report.redact import Redactor, lab_secret_values
from hasuite.report.render import HISTORY_FILE, Rendered, render_run, resolve_run
from hasuite.report.rundata import (
    ExperimentData,
    ReportError,
    RunData,
    load_run,
    summary_schema,
    validate_summary,
)

__all__ = [
    "HISTORY_FILE",
    "CompareRow",
    "Comparison",
    "ExperimentData",
    "Redactor",
    "Rendered",
    "ReportError",
    "RunData",
    "Tolerance",
    "compare_runs",
    "lab_secret_values",
    "load_run",
    "parse_tolerances",
    "render_run",
    "resolve_run",
    "summary_schema",
    "validate_summary",
]
