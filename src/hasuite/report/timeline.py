"""One experiment's timeline as an inline SVG (no JavaScript, nothing loaded from anywhere).

Hand-written SVG rather than a JS plotting library: the plot is a handful of rectangles and lines,
it must open offline from a single file, and SVG built with ElementTree is escaped and
well-formed by construction, small (runs of equal samples become one rectangle) and testable by
parsing. Native ``<title>`` children give hover tooltips without scripts.

Lanes, top to bottom: one per probe (green = success, red = failure), load request rate and
failures per second (when load was recorded), one per observed instance (dark = leader/master,
light = other role ready, grey = not ready), the time axis (seconds from the fault). Across every
lane: the measured outage windows shaded, a partition's window (cut to heal) and, within it, the
spans in which two members were primary at once (both named, each holder's lane outlined), the
fault, the heal, the recovery, primary changes, alert firing and resolution as vertical lines.
"""

# size: one SVG plot: the lanes (probes, load, roles, events) and their shared scales.
from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hasuite.analysis import build_outages
from hasuite.analysis.splitbrain import dual_primary_spans, partition_window
from hasuite.model import PRIMARY_ROLES as PRIMARY_ROLE_OF
from hasuite.model import Outage, RoleObservation, Sample
from hasuite.runfolder import ExperimentData, LoadRecord

__all__ = ["OUTAGE_MEASUREMENTS", "PRIMARY_ROLES", "primary_changes", "render_timeline"]

#: Request probes and the measurement that reports their longest outage after the fault.
OUTAGE_MEASUREMENTS = {
    "order-write": "write_outage_s",
    "cache-write": "cache_write_outage_s",
    "task-enqueue": "task_enqueue_outage_s",
}
#: The primaries' role names (model.PRIMARY_ROLES), for the role lanes.
PRIMARY_ROLES = tuple(PRIMARY_ROLE_OF.values())

WIDTH = 980
LEFT = 170
RIGHT = 24
TOP = 46
ROW = 13
GAP = 5
LOAD_H = 80
COLOURS = {
    "ok": "#2e9d4f",
    "fail": "#d62f2f",
    "primary": "#1f4e9c",
    "other": "#9bbbe8",
    "down": "#b8b8b8",
    "fault": "#d62f2f",
    "recovered": "#2e9d4f",
    "alert": "#e08a00",
    "change": "#1f4e9c",
    "rate": "#1f6fd1",
    "partition": "#7a3fb0",
}


def _partition(
    svg: ET.Element,
    exp: ExperimentData,
    plot: _Plot,
    lanes: Mapping[tuple[str, str], float],
    bottom: float,
) -> None:
    """The partition's window (cut to heal, or to the end) and its dual-primary spans."""
    found = partition_window(exp.events)
    if found is None:
        return
    window, detail = found
    end = window.healed_at if window.healed_at is not None else plot.end
    member = str(detail.get("member") or window.member)
    cut_from = ", ".join(str(s) for s in detail.get("cut_from") or ())
    kept = ", ".join(str(s) for s in detail.get("keep") or ())
    x0 = plot.x(window.cut_at)
    _el(
        svg,
        "rect",
        f"partition: {member} cut off from {cut_from}"
        + (f" (kept: {kept})" if kept else "")
        + f", {plot.rel(window.cut_at)} to {plot.rel(end)}"
        + ("" if window.healed_at is not None else " (not healed while recorded)"),
        x=x0,
        y=TOP - 6,
        width=max(plot.x(end) - x0, 1),
        height=bottom - TOP + 6,
        fill=COLOURS["partition"],
        fill_opacity=0.08,
        class_="partition",
    )
    component = str(detail.get("component") or "")
    role = PRIMARY_ROLE_OF.get(component)
    if role is None:
        return
    for start, stop, holders in dual_primary_spans(exp.roles, component=component, role=role):
        text = (
            f"two {component} {role}s at once: {' and '.join(holders)}, "
            f"{_fmt(stop - start)} s ({plot.rel(start)} to {plot.rel(stop)})"
        )
        x0, width = plot.x(start), max(plot.x(stop) - plot.x(start), 1)
        _el(
            svg,
            "rect",
            text,
            x=x0,
            y=TOP - 6,
            width=width,
            height=bottom - TOP + 6,
            fill=COLOURS["fail"],
            fill_opacity=0.12,
            class_="dual-primary",
        )
        for h in holders:
            y = lanes.get((component, h))
            if y is not None:
                _el(
                    svg,
                    "rect",
                    f"{h}: {role} (dual primary)",
                    x=x0,
                    y=y - 1,
                    width=width,
                    height=ROW + 2,
                    fill="none",
                    stroke=COLOURS["fail"],
                    stroke_width=2,
                    class_="dual-primary-holder",
                )


@dataclass(frozen=True)
class PrimaryChange:
    at: float
    component: str
    before: str | None
    after: str | None
    role: str


def primary_changes(roles: Sequence[RoleObservation]) -> list[PrimaryChange]:
    """Instants where the ready leader/master of a component changed (observation rounds)."""
    out: list[PrimaryChange] = []
    by_component: dict[str, dict[float, list[RoleObservation]]] = {}
    for r in roles:
        by_component.setdefault(r.component, {}).setdefault(r.at, []).append(r)
    for component, rounds in sorted(by_component.items()):
        holder: str | None = None
        seen = False
        role = ""
        for at in sorted(rounds):
            primaries = [o for o in rounds[at] if o.role in PRIMARY_ROLES and o.ready]
            if not any(o.role in PRIMARY_ROLES for o in rounds[at]) and not seen:
                continue  # a component without a primary role
            now = primaries[0].instance if len(primaries) == 1 else None
            role = primaries[0].role if primaries else role or "leader"
            if seen and now != holder:
                out.append(PrimaryChange(at, component, holder, now, role))
            holder, seen = now, True
    return out


def _runs(samples: Sequence[Sample], max_gap: float) -> list[tuple[float, float, bool, int]]:
    """(start, end, ok, count) runs of consecutive samples with the same outcome."""
    runs: list[tuple[float, float, bool, int]] = []
    for s in samples:
        if runs and runs[-1][2] == s.ok and s.at - runs[-1][1] <= max_gap:
            start, _, ok, n = runs[-1]
            runs[-1] = (start, s.at, ok, n + 1)
        else:
            runs.append((s.at, s.at, s.ok, 1))
    return runs


def _median_step(ats: Sequence[float]) -> float:
    steps = sorted(b - a for a, b in itertools.pairwise(ats) if b > a)
    return steps[len(steps) // 2] if steps else 0.1


def _nice_step(span: float) -> float:
    raw = span / 10
    for step in (0.5, 1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600):
        if step >= raw:
            return step
    return float(10 ** math.ceil(math.log10(raw)))


def _fmt(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".") if abs(v) < 1000 else f"{v:.0f}"


class _Plot:
    def __init__(self, t0: float, start: float, end: float) -> None:
        self.t0 = t0
        self.start = start
        self.end = end if end > start else start + 1.0

    def x(self, at: float) -> float:
        frac = min(max((at - self.start) / (self.end - self.start), 0.0), 1.0)
        return round(LEFT + frac * (WIDTH - LEFT - RIGHT), 2)

    def rel(self, at: float) -> str:
        d = at - self.t0
        return f"t{'+' if d >= 0 else '-'}{_fmt(abs(d))} s"


def _el(parent: ET.Element, tag: str, title: str | None = None, **attrs: object) -> ET.Element:
    el = ET.SubElement(
        parent, tag, {k.rstrip("_").replace("_", "-"): str(v) for k, v in attrs.items()}
    )
    if title:
        ET.SubElement(el, "title").text = title
    return el


def _label(parent: ET.Element, x: float, y: float, text: str, **attrs: object) -> None:
    el = _el(parent, "text", None, **{"x": x, "y": y, "font_size": 11, **attrs})
    el.text = text


def _outages(exp: ExperimentData, fault: float | None) -> list[tuple[str, Outage, bool]]:
    """(probe, outage, measured) for request-probe outages going on at or after the fault."""
    out: list[tuple[str, Outage, bool]] = []
    for probe in OUTAGE_MEASUREMENTS:
        samples = [s for s in exp.samples if s.probe == probe]
        if not samples or fault is None:
            continue
        step = _median_step([s.at for s in sorted(samples, key=lambda s: s.at)])
        relevant = [
            o
            for o in build_outages(samples, resolution_s=max(step, 0.01))
            if o.end > fault or (o.open and o.end >= fault)
        ]
        if relevant:
            worst = max(relevant, key=lambda o: o.duration_s)
            out += [(probe, o, o is worst) for o in relevant]
    return out


def _load_bins(records: Sequence[LoadRecord]) -> list[tuple[int, int, int]]:
    """(second, requests, failures) per whole second of the monotonic clock."""
    total: Counter[int] = Counter()
    failed: Counter[int] = Counter()
    for r in records:
        mono = r.mono
        if r.event != "request" or not isinstance(mono, int | float):
            continue
        sec = math.floor(mono)
        total[sec] += 1
        if not r.ok:
            failed[sec] += 1
    if not total:
        return []
    lo, hi = min(total), max(total)
    return [(s, total[s], failed[s]) for s in range(lo, hi + 1)]


# size: one SVG drawn top to bottom, lane by lane: splitting it would pass the scales and the
# lane positions to every helper; it is covered by tests/report (render, browser).
def render_timeline(exp: ExperimentData) -> str:  # noqa: C901, PLR0915
    """The experiment's timeline as an ``<svg>`` element (a string), or a note when empty."""
    samples = sorted(exp.samples, key=lambda s: s.at)
    roles = sorted(exp.roles, key=lambda r: r.at)
    records = [r for r in exp.load_records or () if isinstance(r.mono, int | float)]
    ats = [s.at for s in samples] + [r.at for r in roles] + [e.at for e in exp.events]
    ats += [float(r.mono) for r in records if r.mono is not None]
    if not ats:
        return '<p class="note">Nothing was recorded for this experiment: no timeline.</p>'
    fault = exp.fault_at
    plot = _Plot(fault if fault is not None else min(ats), min(ats), max(ats))
    probes = sorted({s.probe for s in samples})
    instances = sorted({(r.component, r.instance) for r in roles})
    bins = _load_bins(records)
    height = TOP + (ROW + GAP) * len(probes)
    load_top = height + (GAP * 2 if bins else 0)
    height = load_top + (LOAD_H + 3 * GAP if bins else 0)
    roles_top = height
    outages = _outages(exp, fault)
    measured_rows = sum(1 for *_, measured in outages if measured)
    height += (ROW + GAP) * len(instances) + 34 + 14 * measured_rows
    svg = ET.Element(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "class": "timeline",
            "data-experiment": exp.name,
            "viewBox": f"0 0 {WIDTH} {height}",
            "width": str(WIDTH),
            "height": str(height),
            "role": "img",
            "font-family": "sans-serif",
        },
    )
    ET.SubElement(svg, "title").text = f"{exp.name}: timeline"
    bottom = height - 30 - 14 * measured_rows

    # outage windows first (behind everything)
    measured_names = {m.name: m for m in exp.measurements}
    label_row = 0
    for probe, outage, measured in outages:
        m = measured_names.get(OUTAGE_MEASUREMENTS[probe])
        what = f"{probe} outage {_fmt(outage.duration_s)} s ({outage.failures} failed samples)"
        if measured and m is not None and m.value is not None:
            what += f"; measured {OUTAGE_MEASUREMENTS[probe]} = {_fmt(m.value)} s"
        x0, x1 = plot.x(outage.start), plot.x(outage.end)
        _el(
            svg,
            "rect",
            what + f", {plot.rel(outage.start)} to {plot.rel(outage.end)}",
            x=x0,
            y=TOP - 6,
            width=max(x1 - x0, 1),
            height=bottom - TOP + 6,
            fill=COLOURS["fail"],
            fill_opacity=0.16 if measured else 0.07,
            class_="outage measured" if measured else "outage",
        )
        if measured:  # under the time axis, one row per probe so labels never overlap
            label_row += 1
            _label(
                svg,
                x0,
                bottom + 16 + 14 * label_row,
                f"{probe} outage {_fmt(outage.duration_s)} s"
                + (
                    f" (measured {_fmt(m.value)} s)"
                    if m is not None and m.value is not None
                    else ""
                ),
                fill="#8a1c1c",
                text_anchor="end" if x0 > WIDTH - 260 else "start",
                class_="outage-label",
            )

    # probe lanes
    for i, probe in enumerate(probes):
        y = TOP + i * (ROW + GAP)
        _label(svg, 6, y + ROW - 2, f"probe {probe}")
        of = [s for s in samples if s.probe == probe]
        step = _median_step([s.at for s in of])
        for start, end, ok, n in _runs(of, max_gap=max(step * 3, 0.5)):
            x0 = plot.x(start)
            _el(
                svg,
                "rect",
                f"{probe}: {n} {'successes' if ok else 'failures'} {plot.rel(start)} to "
                f"{plot.rel(end)}",
                x=x0,
                y=y,
                width=max(plot.x(end + step) - x0, 1),
                height=ROW,
                fill=COLOURS["ok" if ok else "fail"],
                class_="probe-ok" if ok else "probe-fail",
            )

    # load: requests and failures per second
    if bins:
        peak = max(n for _, n, _ in bins) or 1
        base = load_top + LOAD_H

        def y_of(n: int) -> float:
            return round(base - n / peak * LOAD_H, 2)

        _label(svg, 6, load_top + 12, "load req/s")
        _label(svg, 6, load_top + 26, f"(peak {peak})", fill="#555")
        _el(
            svg,
            "line",
            x1=LEFT,
            x2=WIDTH - RIGHT,
            y1=base,
            y2=base,
            stroke="#999",
            stroke_width=0.5,
        )
        for sec, n, failed in bins:
            if failed:
                x0 = plot.x(sec)
                _el(
                    svg,
                    "rect",
                    f"{failed} failed of {n} requests in {plot.rel(sec)}..+1 s",
                    x=x0,
                    y=y_of(failed),
                    width=max(plot.x(sec + 1) - x0 - 0.5, 1),
                    height=round(base - y_of(failed), 2),
                    fill=COLOURS["fail"],
                    class_="load-fail",
                )
        points = " ".join(f"{plot.x(sec + 0.5)},{y_of(n)}" for sec, n, _ in bins)
        _el(
            svg,
            "polyline",
            f"requests per second (peak {peak})",
            points=points,
            fill="none",
            stroke=COLOURS["rate"],
            stroke_width=1.5,
            class_="load-rate",
        )

    # instance lanes (roles and readiness)
    by_instance: dict[tuple[str, str], list[RoleObservation]] = {}
    for r in roles:
        by_instance.setdefault((r.component, r.instance), []).append(r)
    for i, key in enumerate(instances):
        y = roles_top + i * (ROW + GAP)
        _label(svg, 6, y + ROW - 2, f"{key[1]}")
        obs = by_instance[key]
        step = _median_step([o.at for o in obs])
        segs: list[tuple[float, float, str, str]] = []
        for o in obs:
            state = "primary" if o.ready and o.role in PRIMARY_ROLES else "other"
            state = state if o.ready else "down"
            label = f"{o.role or '-'} {'ready' if o.ready else 'NOT ready'}"
            if segs and segs[-1][2] == state and segs[-1][3] == label:
                segs[-1] = (segs[-1][0], o.at, state, label)
            else:
                segs.append((o.at, o.at, state, label))
        for n, (start, end, state, label) in enumerate(segs):
            stop = segs[n + 1][0] if n + 1 < len(segs) else end + step
            x0 = plot.x(start)
            _el(
                svg,
                "rect",
                f"{key[1]}: {label} {plot.rel(start)} to {plot.rel(stop)}",
                x=x0,
                y=y,
                width=max(plot.x(stop) - x0, 1),
                height=ROW,
                fill=COLOURS[state],
                class_=f"role-{state}",
            )

    lanes = {key: roles_top + i * (ROW + GAP) for i, key in enumerate(instances)}
    _partition(svg, exp, plot, lanes, bottom)

    # vertical markers across every lane
    def marker(at: float, colour: str, cls: str, text: str, dash: str = "", row: int = 0) -> None:
        x = plot.x(at)
        _el(
            svg,
            "line",
            f"{text} ({plot.rel(at)})",
            x1=x,
            x2=x,
            y1=TOP - 8 - 10 * row,
            y2=bottom,
            stroke=colour,
            stroke_width=1.5,
            stroke_dasharray=dash or "none",
            class_=cls,
        )
        right = x > WIDTH - 240
        _label(
            svg,
            x - 2 if right else x + 2,
            TOP - 10 - 10 * row,
            text,
            fill=colour,
            font_size=10,
            text_anchor="end" if right else "start",
        )

    for e in sorted(exp.events, key=lambda e: e.at):
        detail = e.detail if isinstance(e.detail, Mapping) else {}
        if e.kind == "fault":
            what = " ".join(
                str(v) for v in (detail.get("action"), e.component, detail.get("role")) if v
            )
            hit = ", ".join(str(i) for i in detail.get("instances", ()) or ())
            marker(e.at, COLOURS["fault"], "fault", f"fault: {what}{f' ({hit})' if hit else ''}")
        elif e.kind == "recovered":
            marker(e.at, COLOURS["recovered"], "recovered", f"{e.component} recovered", "6 3", 1)
        elif e.kind == "healed":
            who = detail.get("member") or e.component
            marker(e.at, COLOURS["partition"], "healed", f"healed: {who}", "4 2", 2)
        elif e.kind in ("alert-firing", "alert-resolved"):
            name = str(detail.get("alertname", "alert"))
            firing = e.kind == "alert-firing"
            marker(
                e.at,
                COLOURS["alert"],
                "alert-firing" if firing else "alert-resolved",
                f"{name} {'firing' if firing else 'resolved'}",
                "" if firing else "2 2",
                2 if firing else 1,
            )
    for c in primary_changes(roles):
        x = plot.x(c.at)
        y = roles_top - 4
        _el(
            svg,
            "path",
            f"{c.component} {c.role}: {c.before or 'none'} -> {c.after or 'none'} "
            f"({plot.rel(c.at)})",
            d=f"M{x},{y - 5} l4,5 l-4,5 l-4,-5 z",
            fill=COLOURS["change"],
            class_="primary-change",
        )
        _el(
            svg,
            "line",
            x1=x,
            x2=x,
            y1=roles_top,
            y2=bottom,
            stroke=COLOURS["change"],
            stroke_width=1,
            stroke_dasharray="3 2",
        )

    # time axis
    _el(svg, "line", x1=LEFT, x2=WIDTH - RIGHT, y1=bottom, y2=bottom, stroke="#333")
    step = _nice_step(plot.end - plot.start)
    tick = math.ceil((plot.start - plot.t0) / step) * step
    while plot.t0 + tick <= plot.end:
        x = plot.x(plot.t0 + tick)
        _el(svg, "line", x1=x, x2=x, y1=bottom, y2=bottom + 4, stroke="#333")
        _label(svg, x, bottom + 16, f"{_fmt(tick)}", text_anchor="middle", fill="#333")
        tick += step
    _label(
        svg,
        6,
        bottom + 16,
        "s from the fault" if fault is not None else "s from the start",
        fill="#333",
    )
    return ET.tostring(svg, encoding="unicode")
