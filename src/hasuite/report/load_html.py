"""The load section of ``report.html``, in words and numbers: the profile, asked against achieved
request rate, requests and failures by kind, the load's orders (acknowledged, present, missing,
confirmed), the load generator's cost, then one row per phase. An experiment whose load did not
run gets one line saying why."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from hasuite.report.cells import esc, num, table, td
from hasuite.runfolder import ExperimentData, LoadFile, LoadOrders, LoadPhase

__all__ = ["render_load"]

STOPPED_BY = {
    "self": "its run time was over",
    "request": "hasuite stopped it (SIGTERM)",
    "killed": "killed (SIGKILL) after it did not stop",
}
#: missing or unconfirmed order ids shown before "and N more"
SHOWN_IDS = 5


def _pct(share: float) -> str:
    """0.75578 -> ``75.6 %``."""
    return f"{share * 100:.1f}".rstrip("0").rstrip(".") + " %"


def _orders_n(n: int) -> str:
    return f"{num(n)} order{'' if n == 1 else 's'}"


def _kinds(pairs: Iterable[tuple[str, int]]) -> str:
    counted = [(k, n) for k, n in pairs if n]
    if not counted:
        return "none"
    return ", ".join(f"{esc(k)} {n}" for k, n in counted)


def _ids(ids: tuple[str, ...] | None) -> str:
    if not ids:
        return ""
    more = len(ids) - SHOWN_IDS
    shown = ", ".join(f"<code>{esc(i)}</code>" for i in ids[:SHOWN_IDS])
    return f" ({shown}{f' and {more} more' if more > 0 else ''})"


def _profile(profile: Mapping[str, Any] | None) -> str:
    """``steady: 20 users (spawned 5 per s), 1-3 s between requests, for 120 s``."""
    if not profile:
        return ""
    p = dict(profile)
    parts = []
    if p.get("fixed_rate"):
        parts.append(f"a fixed {num(p['fixed_rate'])} req/s")
    if p.get("users") is not None:
        spawn = f" (spawned {num(p['spawn_rate'])} per s)" if p.get("spawn_rate") else ""
        parts.append(f"{num(p['users'])} users{spawn}")
    if not p.get("fixed_rate") and p.get("think_max_s") is not None:
        parts.append(
            f"{num(p.get('think_min_s'))}&ndash;{num(p['think_max_s'])} s between requests"
        )
    if p.get("duration_s") is not None:
        parts.append(f"for {num(p['duration_s'])} s")
    text = f"<b>{esc(p.get('name') or 'unnamed')}</b>: " + ", ".join(parts)
    if p.get("description"):
        text += f' <span class="note">({esc(p["description"])})</span>'
    return text


def _rate(load: LoadFile) -> str:
    asked = f"asked {num(load.asked_rps, 'req/s')}" if load.asked_rps else "no rate asked"
    if load.achieved_rps is None:
        return f"{asked}; achieved rate not measured"
    ratio = f" ({_pct(load.achieved_ratio)} of asked)" if load.achieved_ratio is not None else ""
    window = f" over {num(load.window_s, 's')}" if load.window_s else ""
    return f"{asked}; achieved {num(load.achieved_rps, 'req/s')}{ratio}{window}"


def _requests(exp: ExperimentData, load: LoadFile) -> tuple[str, str]:
    """(requests and failures, failures by kind): from the load records when they were kept,
    else from the phases."""
    if exp.load_records is not None:
        requests = [r for r in exp.load_records if r.event == "request"]
        failed = [r for r in requests if not r.ok]
        kinds = Counter(str(r.error or "unknown") for r in failed).most_common()
        total, failures = len(requests), len(failed)
    else:
        counter: Counter[str] = Counter()
        for phase in load.phases:
            counter.update(dict(phase.failures_by_kind))
        kinds = counter.most_common()
        total, failures = load.requests, sum(p.failures for p in load.phases)
    share = f" ({_pct(failures / total)})" if total else ""
    return f"{num(total)} requests, {num(failures)} failed{share}", _kinds(kinds)


def _orders(orders: LoadOrders) -> list[list[str]]:
    rows = [[td("orders acknowledged (201)"), td(_orders_n(orders.acknowledged))]]
    if orders.present is None:
        why = f": {esc(orders.error)}" if orders.error else ""
        return [*rows, [td("orders read back"), td(f"not read back{why}")]]
    missing = len(orders.missing or ())
    rows.append([td("orders present after recovery"), td(_orders_n(orders.present))])
    rows.append([td("orders missing (lost)"), td(_orders_n(missing) + _ids(orders.missing))])
    if orders.confirmed is not None:
        unconfirmed = len(orders.unconfirmed or ())
        rows.append(
            [
                td("orders confirmed"),
                td(
                    f"{_orders_n(orders.confirmed)} of the {num(orders.present)} present; "
                    f"{num(unconfirmed)} unconfirmed{_ids(orders.unconfirmed)}"
                ),
            ]
        )
    return rows


def _generator(load: LoadFile) -> str:
    parts = []
    if load.cpu_percent is not None:
        cpu_s = f" ({num(load.cpu_s, 's')} of CPU)" if load.cpu_s is not None else ""
        parts.append(f"used {num(load.cpu_percent)} % of a core{cpu_s}")
    if load.stopped_by:
        parts.append(f"stopped: {esc(STOPPED_BY.get(load.stopped_by, load.stopped_by))}")
    if load.exit_code is not None:
        parts.append(f"exit code {num(load.exit_code)}")
    if load.bad_record_lines:
        parts.append(f"{num(load.bad_record_lines)} unreadable record lines skipped")
    return "; ".join(parts)


def _facts(exp: ExperimentData, load: LoadFile) -> str:
    requests, kinds = _requests(exp, load)
    rows = [
        [td("profile"), td(_profile(load.profile) or "not recorded")],
        [td("request rate"), td(_rate(load))],
    ]
    if load.adequacy:
        rows.append([td("adequacy"), td(esc(load.adequacy))])
    rows += [[td("requests"), td(requests)], [td("failures by kind"), td(kinds)]]
    rows += _orders(load.orders)
    if generator := _generator(load):
        rows.append([td("load generator"), td(generator)])
    return table(("load", "what happened"), rows, "load")


def _window(phase: LoadPhase, fault_at: float | None) -> str:
    if phase.start is None or phase.end is None:
        return ""
    if fault_at is None:
        return num(phase.end - phase.start, "s")
    return f"{phase.start - fault_at:+.1f} s to {phase.end - fault_at:+.1f} s"


def _phases(exp: ExperimentData, load: LoadFile) -> str:
    if not load.phases:
        return ""
    rows = []
    for p in load.phases:
        latency = " / ".join(num(v, "s") if v is not None else "-" for v in (p.p50_s, p.p95_s))
        rows.append(
            [
                td(esc(p.phase)),
                td(_window(p, exp.fault_at), True),
                td(num(p.requests), True),
                td(num(p.failures), True),
                td(_pct(p.failure_rate) if p.failure_rate is not None else "-", True),
                td(num(p.rate_rps, "req/s") if p.rate_rps is not None else "-", True),
                td(latency, True),
                td(num(p.p99_s, "s") if p.p99_s is not None else "-", True),
                td(num(p.max_success_gap_s, "s", p.gap_at_least), True),
                td(_kinds(p.failures_by_kind)),
            ]
        )
    head = (
        *("phase", "from the fault", "requests", "failed", "failure rate", "rate"),
        *("latency p50 / p95", "p99", "longest gap without a success", "failures by kind"),
    )
    return "<h4>Load by phase</h4>" + table(head, rows, "load-phases")


def _not_run(exp: ExperimentData) -> str:
    if exp.status == "SKIPPED":
        why = exp.reason or next((p.reason for p in exp.promises if p.reason), "")
        text = f"the experiment was skipped: {why}" if why else "the experiment was skipped"
    else:  # the errors, if any, are named at the top of the section
        text = "the load generator did not start" + (f" ({exp.reason})" if exp.reason else "")
    return f'<h3>Load</h3><p class="note load-not-run">No load ran: {esc(text)}.</p>'


def render_load(exp: ExperimentData) -> str:
    load = exp.load
    if load is not None and not load.ran:
        return _not_run(exp)
    if load is not None:
        return "<h3>Load</h3>" + _facts(exp, load) + _phases(exp, load)
    if exp.load_records is not None:  # an older run: the records without load.json
        requests = [r for r in exp.load_records if r.event == "request"]
        failed = [r for r in requests if not r.ok]
        kinds = Counter(str(r.error or "unknown") for r in failed).most_common(5)
        return (
            f'<h3>Load</h3><p class="meta">Load records: {num(len(requests))} requests, '
            f"{num(len(failed))} failed (by kind: {_kinds(kinds)}).</p>"
        )
    return '<p class="note">No load was recorded for this experiment.</p>'
