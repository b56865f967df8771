"""``report.html``: one self-contained page (inline CSS and SVG, no script, no network).

The verdicts first (a table of every promise: verdict, measured vs threshold, reason), then one
section per experiment: its timeline plot, the checks, the measurements, the load and the alerts
when they were recorded. Every value is HTML-escaped; every string was redacted on load.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from html import escape
from typing import Any

from hasuite import __version__
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


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _num(value: Any, unit: str = "", at_least: bool = False) -> str:
    if value is None:
        return "not measured"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _e(value)
    text = f"{value:.3f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.0f}"
    if unit == "s" and abs(value) >= 1:
        text = f"{value:.1f}"
    return f"{'&ge; ' if at_least else ''}{_e(text)}{' ' + _e(unit) if unit else ''}"


def _verdict(v: str) -> str:
    return f'<span class="v v-{_e(v)}">{_e(v)}</span>'


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(cells) + "</tr>" for cells in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _td(html: str, num: bool = False) -> str:
    return f'<td class="num">{html}</td>' if num else f"<td>{html}</td>"


def _summary_table(run: RunData) -> str:
    rows = []
    for exp in run.experiments:
        if not exp.promises:
            rows.append(
                [
                    _td(f'<a href="#exp-{_e(exp.name)}">{_e(exp.name)}</a>'),
                    _td("-"),
                    _td(_verdict(exp.status)),
                    _td("", True),
                    _td("", True),
                    _td(""),
                    _td(_e(exp.reason)),
                ]
            )
        for p in exp.promises:
            rows.append(
                [
                    _td(f'<a href="#exp-{_e(exp.name)}">{_e(exp.name)}</a>'),
                    _td(_e(p.id)),
                    _td(_verdict(p.verdict)),
                    _td(_num(p.measured), True),
                    _td(_num(p.threshold), True),
                    _td(_e(p.unit)),
                    _td(_e(p.reason)),
                ]
            )
    return _table(
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
                    _td(_e(p.id)),
                    _td(f"<code>{_e(c.measurement)}</code>"),
                    _td(_num(c.measured, c.unit, at_least), True),
                    _td(f"{_e(c.comparison)} {_num(c.threshold, c.unit)}", True),
                    _td(_e(holds) + ("" if c.enforce else " (reported, not enforced)")),
                ]
            )
    if not rows:
        return ""
    return "<h3>Checks</h3>" + _table(
        ("promise", "measurement", "measured", "threshold", "result"), rows
    )


def _measurements(exp: ExperimentData) -> str:
    if not exp.measurements:
        return ""
    rows = [
        [
            _td(f"<code>{_e(m.name)}</code>"),
            _td(_num(m.value, m.unit, m.at_least), True),
            _td(_e(m.detail)),
        ]
        for m in exp.measurements
    ]
    table = _table(("measurement", "value", "detail"), rows)
    return f"<details><summary>All measurements ({len(rows)})</summary>{table}</details>"


def _scalar(value: Any) -> str:
    if isinstance(value, float):
        return _num(value)
    if isinstance(value, dict | list):
        return f"<code>{_e(json.dumps(value, default=str)[:300])}</code>"
    return _e(value)


def _load(exp: ExperimentData) -> str:
    parts = []
    if exp.load is not None:
        load = asdict(exp.load)
        scalars = [(k, v) for k, v in load.items() if not isinstance(v, list | tuple)]
        if scalars:
            parts.append(
                _table(("load", "value"), ([_td(_e(k)), _td(_scalar(v))] for k, v in scalars))
            )
        if exp.load.phases:
            rows = [asdict(st) for st in exp.load.phases]
            cols = list(rows[0])
            parts.append("<h4>phases</h4>")
            parts.append(_table(cols, ([_td(_scalar(r.get(c))) for c in cols] for r in rows)))
    if exp.load_records is not None:
        requests = [r for r in exp.load_records if r.event == "request"]
        failed = [r for r in requests if not r.ok]
        kinds = Counter(str(r.error or "?") for r in failed)
        top = ", ".join(f"{k} {n}" for k, n in kinds.most_common(5))
        parts.append(
            f'<p class="meta">Load records: {len(requests)} requests, {len(failed)} failed'
            f"{f' ({_e(top)})' if top else ''}.</p>"
        )
    if not parts:
        return '<p class="note">No load was recorded for this experiment.</p>'
    return "<h3>Load</h3>" + "".join(parts)


def _alerts(exp: ExperimentData) -> str:
    events = [e for e in exp.events if e.kind in ("alert-firing", "alert-resolved")]
    fault = exp.fault_at
    rows = []
    for e in sorted(events, key=lambda e: e.at):
        detail = e.detail if isinstance(e.detail, Mapping) else {}
        rel = f"{e.at - fault:+.1f} s" if fault is not None else ""
        rows.append(
            [
                _td(_e(detail.get("alertname", "?"))),
                _td(_e(e.kind.removeprefix("alert-"))),
                _td(_e(rel), True),
                _td(_e(detail.get("severity", ""))),
            ]
        )
    parts = []
    if rows:
        parts.append(_table(("alert", "state", "from the fault", "severity"), rows))
    if exp.alerts:
        parts.append(
            f"<details><summary>Alert notifications ({len(exp.alerts)})</summary>"
            + "".join(
                f"<pre>{_e(json.dumps(_alert_json(a), indent=1, default=str)[:2000])}</pre>"
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
        parts.append(f"{_e(i.action)} {_e(i.component)}{_e(role)} ({_e(hit)})")
    text = (
        f'<p class="meta">Fault: {"; ".join(parts)}'
        if parts
        else '<p class="meta">No fault injected'
    )
    duration = exp.duration_s
    text += f"; experiment took {duration:.0f} s.</p>" if duration is not None else ".</p>"
    if errors:
        text += "<p><b>Errors:</b></p><ul>" + "".join(f"<li>{_e(x)}</li>" for x in errors) + "</ul>"
    return text


def _ledger(exp: ExperimentData) -> str:
    """Acknowledged writes per kind and source, and how many the read-back did not find."""
    rows = [
        "<tr>"
        + _td(_e(kind))
        + _td(_e(source))
        + _td(_e(str(n.acknowledged)))
        + _td(_e("not read back" if n.missing is None else str(n.missing)))
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
    items = "".join(f'<span><i style="background:{c}"></i>{_e(t)}</span>' for c, t in LEGEND)
    return f'<p class="legend">{items}</p>'


def _experiment(exp: ExperimentData) -> str:
    head = f'<h2 id="exp-{_e(exp.name)}">{_e(exp.name)} {_verdict(exp.status)}</h2>'
    if not exp.ran:
        return head + f'<p class="note">Not run: {_e(exp.reason or "no data")}.</p>'
    reason = f"<p>{_e(exp.reason)}</p>" if exp.reason else ""
    return (
        f'<section class="experiment" data-experiment="{_e(exp.name)}">'
        + head
        + reason
        + _injections(exp)
        + render_timeline(exp)
        + _legend()
        + _checks(exp)
        + _ledger(exp)
        + _load(exp)
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
        f"<title>hasuite run {_e(run.run_id)}: {_e(run.status)}</title>"
        f"<style>{CSS}</style></head><body>"
        f"<h1>hasuite run {_e(run.run_id)} {_verdict(run.status)}</h1>"
        f'<p class="meta">target <b>{_e(s.target)}</b>; started {_e(s.started)}; '
        f"finished {_e(s.finished or 'not finished')}; promises: {_e(tally or 'none')}; "
        f"summary schema version {_e(s.schema_version)}; rendered "
        f"{_e(generated.isoformat(timespec='seconds'))} by hasuite {_e(__version__)}.</p>"
        "<h2>Promises</h2>"
        + _summary_table(run)
        + "".join(_experiment(e) for e in run.experiments)
        + "</body></html>\n"
    )
