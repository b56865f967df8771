"""Alerts: time from fault to firing, from recovery to resolution, false alarms (pure).

Alert state changes are events on the timeline: ``kind`` ``"alert-firing"`` or
``"alert-resolved"`` with ``detail`` a mapping holding at least ``alertname`` (and ``severity``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from hasuite.analysis._util import fmt
from hasuite.model import Event, Measurement

__all__ = [
    "FALSE_ALARM_SEVERITIES",
    "measure_alert_fire",
    "measure_alert_resolve",
    "measure_false_alarms",
]

FIRING = "alert-firing"
#: The severities that count as a false alarm in a healthy window (NO-FALSE-ALARM).
FALSE_ALARM_SEVERITIES = ("critical",)
RESOLVED = "alert-resolved"


def _label(event: Event, key: str) -> str:
    return str(event.detail.get(key, "")) if isinstance(event.detail, Mapping) else ""


def _alerts(events: Iterable[Event], kind: str, names: Collection[str]) -> list[Event]:
    return sorted(
        (e for e in events if e.kind == kind and _label(e, "alertname") in names),
        key=lambda e: e.at,
    )


def measure_alert_fire(
    events: Iterable[Event], *, alertnames: Collection[str], fault_at: float | None, until: float
) -> Measurement:
    """``alert_fire_s``: fault to the first firing of any expected alert (lower bound if none)."""
    name = "alert_fire_s"
    if fault_at is None:
        return Measurement(
            name=name, value=None, unit="s", detail="no fault instant on the timeline"
        )
    if not alertnames:
        return Measurement(name=name, value=None, unit="s", detail="no expected alert named")
    fired = [e for e in _alerts(events, FIRING, alertnames) if e.at >= fault_at]
    if not fired:
        return Measurement(
            name=name,
            value=max(until - fault_at, 0.0),
            unit="s",
            detail=f"none of {sorted(alertnames)} fired within {fmt(until - fault_at)} s",
            at_least=True,
        )
    first = fired[0]
    took = first.at - fault_at
    return Measurement(
        name=name,
        value=took,
        unit="s",
        detail=f"{_label(first, 'alertname')} firing {fmt(took)} s after the fault",
    )


def measure_alert_resolve(
    events: Iterable[Event],
    *,
    alertnames: Collection[str],
    recovered_at: float | None,
    until: float,
) -> Measurement:
    """``alert_resolve_s``: recovery to the last expected alert that fired being resolved.

    An alert resolved before the control plane's recovery instant (Prometheus saw the instance
    back before the recovery wait's stable period ended) counts as 0 s. None when there is no
    recovery instant or no expected alert fired (nothing to resolve).
    """
    name = "alert_resolve_s"
    if recovered_at is None:
        return Measurement(name=name, value=None, unit="s", detail="no recovery instant")
    evs = list(events)
    fired = {_label(e, "alertname") for e in _alerts(evs, FIRING, alertnames)}
    if not fired:
        return Measurement(
            name=name, value=None, unit="s", detail="no expected alert fired: nothing to resolve"
        )
    worst = 0.0
    notes = []
    for alert in sorted(fired):
        last_fire = _alerts(evs, FIRING, {alert})[-1].at
        resolved = [e for e in _alerts(evs, RESOLVED, {alert}) if e.at >= last_fire]
        if not resolved:
            return Measurement(
                name=name,
                value=max(until - recovered_at, 0.0),
                unit="s",
                detail=f"{alert} still firing {fmt(until - recovered_at)} s after recovery",
                at_least=True,
            )
        took = resolved[0].at - recovered_at
        if took < 0:
            notes.append(f"{alert} resolved {fmt(-took)} s before the recovery instant")
        else:
            notes.append(f"{alert} resolved {fmt(took)} s after recovery")
        worst = max(worst, took)
    return Measurement(name=name, value=worst, unit="s", detail="; ".join(notes))


def measure_false_alarms(
    events: Iterable[Event],
    *,
    start: float,
    end: float,
    severities: Collection[str] = FALSE_ALARM_SEVERITIES,
) -> Measurement:
    """``false_alarms``: alerts of ``severities`` that fired in the healthy window [start, end]."""
    fired = [
        e
        for e in events
        if e.kind == FIRING and start <= e.at <= end and _label(e, "severity") in severities
    ]
    names = sorted({_label(e, "alertname") for e in fired})
    detail = f"{len(fired)} {'/'.join(sorted(severities))} alert(s) fired in a healthy " + (
        f"{fmt(end - start)} s window" + (f": {', '.join(names)}" if names else "")
    )
    return Measurement(name="false_alarms", value=float(len(fired)), unit="count", detail=detail)
