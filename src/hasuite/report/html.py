"""``report.html``: one self-contained page (inline CSS and SVG, no script, no network).

The verdicts first (a table of every promise: verdict, measured vs threshold, reason), then one
section per experiment: its timeline plot, the checks, the measurements, the load and the alerts
when they were recorded. Every value is HTML-escaped; every string was redacted on load.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from hasuite import __version__
from hasuite.report.cells import esc, num, table, td, verdict
from hasuite.report.load_html import render_load
from hasuite.report.timeline import render_timeline
from hasuite.runfolder import AlertLine, ExperimentData, RunData

__all__ = ["render_html"]

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1040px;
padding:16px;color:#1b1b1b;background:#fff}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
h3{font-size:1em}
table{border-collapse:collapse;width:100%;margin:.5em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.v{font-weight:bold;padding:1px 6px;border-radius:3px;color:#fff;white-space:nowrap}
.v-PASS{background:#2e9d4f}.v-FAIL{background:#d62f2f}.v-ERROR{background:#c77700}
.v-SKIPPED{background:#888}.v-INTERRUPTED{background:#6a3d9a}.v-PENDING{background:#aaa}
.note{color:#555}.meta{color:#444;font-size:.9em}
.legend span{display:inline-block;margin-right:14px;font-size:.85em}
.legend i{display:inline-block;width:12px;height:10px;margin-right:4px;vertical-align:middle}
svg.timeline{max-width:100%;height:auto;border:1px solid #eee;background:#fcfcfc}
details{margin:.4em 0}summary{cursor:pointer}
code{font-size:.9em}
"""

LEGEND = (
    ("#2e9d4f", "probe success"),
    ("#d62f2f", "probe / request failure"),
    ("#1f6fd1", "load requests/s"),
    ("#1f4e9c", "leader / master"),
    ("#9bbbe8", "other role, ready"),
    ("#b8b8b8", "not ready"),
    ("rgba(214,47,47,.25)", "measured outage"),
    ("#e08a00", "alert firing / resolved"),
)


def _summary_table(run: RunData) -> str:
    rows = []
    for exp in run.experiments:
        if not exp.promises:
            rows.append(
                [
                    td(f'<a href="#exp-{esc(exp.name)}">{esc(exp.name)}</a>'),
                    td("-"),
                    td(verdict(exp.status)),
                    td("", True),
                    td("", True),
                    td(""),
                    td(esc(exp.reason)),
                ]
            )
        for p in exp.promises:
            rows.append(
                [
                    td(f'<a href="#exp-{esc(exp.name)}">{esc(exp.name)}</a>'),
                    td(esc(p.id)),
                    td(verdict(p.verdict)),
                    td(num(p.measured), True),
                    td(num(p.threshold), True),
                    td(esc(p.unit)),
                    td(esc(p.reason)),
                ]
            )
    return table(
        ("experiment", "promise", "verdict", "measured", "threshold", "unit", "reason"),
        rows,
        "summary",
    )


def _checks(exp: ExperimentData) -> str:
    rows = []
    for p in exp.promises:
        for c in p.checks:
            m = exp.measurement(c.measurement)
            at_least = bool(m and m.at_least)
            holds = {True: "holds", False: "violated", None: "undecided"}[c.holds]
            rows.append(
                [
                    td(esc(p.id)),
                    td(f"<code>{esc(c.measurement)}</code>"),
                    td(num(c.measured, c.unit, at_least), True),
                    td(f"{esc(c.comparison)} {num(c.threshold, c.unit)}", True),
                    td(esc(holds) + ("" if c.enforce else " (reported, not enforced)")),
                ]
            )
    if not rows:
        return ""
    return "<h3>Checks</h3>" + table(
        ("promise", "measurement", "measured", "threshold", "result"), rows
    )


def _measurements(exp: ExperimentData) -> str:
    if not exp.measurements:
        return ""
    rows = [
        [
            td(f"<code>{esc(m.name)}</code>"),
            td(num(m.value, m.unit, m.at_least), True),
            td(esc(m.detail)),
        ]
        for m in exp.measurements
    ]
    shown = table(("measurement", "value", "detail"), rows)
    return f"<details><summary>All measurements ({len(rows)})</summary>{shown}</details>"


def _alerts(exp: ExperimentData) -> str:
    events = [e for e in exp.events if e.kind in ("alert-firing", "alert-resolved")]
    fault = exp.fault_at
    rows = []
    for e in sorted(events, key=lambda e: e.at):
        detail = e.detail if isinstance(e.detail, Mapping) else {}
        rel = f"{e.at - fault:+.1f} s" if fault is not None else ""
        rows.append(
            [
                td(esc(detail.get("alertname", "?"))),
                td(esc(e.kind.removeprefix("alert-"))),
                td(esc(rel), True),
                td(esc(detail.get("severity", ""))),
            ]
        )
    parts = []
    if rows:
        parts.append(table(("alert", "state", "from the fault", "severity"), rows))
    if exp.alerts:
        parts.append(
            f"<details><summary>Alert notifications ({len(exp.alerts)})</summary>"
            + "".join(
                f"<pre>{esc(json.dumps(_alert_json(a), indent=1, default=str)[:2000])}</pre>"
                for a in exp.alerts[:50]
            )
            + "</details>"
        )
    if not parts:
        if exp.alerts is None:
            return '<p class="note">Alerts were not recorded for this experiment.</p>'
        return '<p class="note">No alert fired or resolved during this experiment.</p>'
    return "<h3>Alerts</h3>" + "".join(parts)


def _alert_json(a: AlertLine) -> dict[str, Any]:
    """An alerts.jsonl line as it was written (the fields it had)."""
    return {k: v for k, v in asdict(a).items() if v not in (None, "")}


def _injections(exp: ExperimentData) -> str:
    inj = exp.result.injections if exp.result else ()
    errors = exp.result.errors if exp.result else ()
    parts = []
    for i in inj:
        hit = ", ".join(i.instances)
        role = f" {i.role}" if i.role else ""
        parts.append(f"{esc(i.action)} {esc(i.component)}{esc(role)} ({esc(hit)})")
    text = (
        f'<p class="meta">Fault: {"; ".join(parts)}'
        if parts
        else '<p class="meta">No fault injected'
    )
    duration = exp.duration_s
    text += f"; experiment took {duration:.0f} s.</p>" if duration is not None else ".</p>"
    if errors:
        items = "".join(f"<li>{esc(x)}</li>" for x in errors)
        text += f"<p><b>Errors:</b></p><ul>{items}</ul>"
    return text


def _ledger(exp: ExperimentData) -> str:
    """Acknowledged writes per kind and source, and how many the read-back did not find."""
    rows = [
        "<tr>"
        + td(esc(kind))
        + td(esc(source))
        + td(esc(str(n.acknowledged)))
        + td(esc("not read back" if n.missing is None else str(n.missing)))
        + "</tr>"
        for kind, sources in (exp.ledger_by_source or {}).items()
        for source, n in sources.items()
    ]
    if not rows:
        return ""
    head = "".join(f"<th>{h}</th>" for h in ("kind", "source", "acknowledged", "missing"))
    return (
        "<h3>Ledger: every acknowledged write, by source</h3>"
        f"<table><tr>{head}</tr>{''.join(rows)}</table>"
    )


def _legend() -> str:
    items = "".join(f'<span><i style="background:{c}"></i>{esc(t)}</span>' for c, t in LEGEND)
    return f'<p class="legend">{items}</p>'


def _skipped_before_start(exp: ExperimentData) -> bool:
    """SKIPPED before any probe ran or fault was made: a timeline and tables would be empty."""
    injected = bool(exp.result and exp.result.injections)
    return exp.status == "SKIPPED" and not exp.samples and not injected


def _experiment(exp: ExperimentData) -> str:
    head = f'<h2 id="exp-{esc(exp.name)}">{esc(exp.name)} {verdict(exp.status)}</h2>'
    if not exp.ran:
        return head + f'<p class="note">Not run: {esc(exp.reason or "no data")}.</p>'
    if _skipped_before_start(exp):
        why = exp.reason or next((p.reason for p in exp.promises if p.reason), "no reason given")
        return (
            f'<section class="experiment" data-experiment="{esc(exp.name)}">{head}'
            f'<p class="note skipped">Skipped: {esc(why)}.</p>'
            "</section>"
        )
    reason = f"<p>{esc(exp.reason)}</p>" if exp.reason else ""
    return (
        f'<section class="experiment" data-experiment="{esc(exp.name)}">'
        + head
        + reason
        + _injections(exp)
        + render_timeline(exp)
        + _legend()
        + _checks(exp)
        + _ledger(exp)
        + render_load(exp)
        + _alerts(exp)
        + _measurements(exp)
        + "</section>"
    )


def render_html(run: RunData, *, generated: datetime | None = None) -> str:
    """The whole page as a string."""
    s = run.summary
    generated = generated or datetime.now(UTC)
    counts: dict[str, int] = {}
    for exp in run.experiments:
        for p in exp.promises:
            counts[p.verdict] = counts.get(p.verdict, 0) + 1
    tally = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>hasuite run {esc(run.run_id)}: {esc(run.status)}</title>"
        f"<style>{CSS}</style></head><body>"
        f"<h1>hasuite run {esc(run.run_id)} {verdict(run.status)}</h1>"
        f'<p class="meta">target <b>{esc(s.target)}</b>; started {esc(s.started)}; '
        f"finished {esc(s.finished or 'not finished')}; promises: {esc(tally or 'none')}; "
        f"summary schema version {esc(s.schema_version)}; rendered "
        f"{esc(generated.isoformat(timespec='seconds'))} by hasuite {esc(__version__)}.</p>"
        "<h2>Promises</h2>"
        + _summary_table(run)
        + "".join(_experiment(e) for e in run.experiments)
        + "</body></html>\n"
    )
