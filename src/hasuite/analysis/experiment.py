"""One experiment's measurements from its timeline and ledger read-backs (pure).

:func:`measure_experiment` gives every measurement an experiment can give (outages, failover
times, lost and unconfirmed writes, beat slots, failed requests); :func:`measure_load_and_alerts`
the load's and the alerts'. None values say why a number could not be had. Everything comes in
as values: no I/O, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from hasuite.analysis.alerts import measure_alert_fire, measure_alert_resolve, measure_false_alarms
from hasuite.analysis.beat import measure_beat_resume, measure_beat_slots
from hasuite.analysis.ledger import measure_duplicates, measure_lost, measure_unconfirmed
from hasuite.analysis.load import (
    LoadAdequacy,
    PhaseLoadStats,
    measure_load_adequacy,
    measure_phase_load,
)
from hasuite.analysis.outages import (
    measure_failed_requests,
    measure_max_success_gap,
    measure_outage,
    measure_time_to_first_success,
)
from hasuite.analysis.phases import build_phases, measure_phase_errors
from hasuite.analysis.roles import (
    measure_failovers,
    measure_instance_ready,
    measure_time_to_new_role,
)
from hasuite.analysis.splitbrain import measure_partition_experiment
from hasuite.model import (
    PRIMARY_ROLES,
    Injection,
    LedgerCheck,
    LedgerEntry,
    Measurement,
    OrderReadBack,
    RoleObservation,
    Sample,
    Timeline,
)

__all__ = [
    "ALERT_MEASUREMENTS",
    "REQUEST_PROBES",
    "beat_restart_slot",
    "measure_experiment",
    "measure_load_and_alerts",
    "unmeasured",
]

#: The probes whose samples are users' requests (outages, failed requests).
REQUEST_PROBES = ("order-write", "cache-write", "task-enqueue")
#: Measurements that need Alertmanager recorded (a session judging them polls its API).
ALERT_MEASUREMENTS = ("alert_fire_s", "alert_resolve_s", "false_alarms")


def unmeasured(name: str, unit: str, why: str) -> Measurement:
    """A measurement that could not be had, and why."""
    return Measurement(name=name, value=None, unit=unit, detail=why)


def _measure_orders(
    ledger: Sequence[LedgerEntry],
    orders: OrderReadBack | None,
    *,
    error: str | None,
    recovered_at: float | None,
    confirm_within_s: float | None,
) -> list[Measurement]:
    """lost, duplicate and unconfirmed orders over every source's acknowledged orders."""
    names = ("lost_orders", "duplicate_orders", "unconfirmed_orders")
    if not any(e.kind == "order" for e in ledger):
        why = "no acknowledged order in the ledger (no probe or user order was answered)"
        return [unmeasured(n, "count", why) for n in names]
    if orders is None:
        why = f"orders not read back: {error or 'no read-back'}"
        return [unmeasured(n, "count", why) for n in names]
    out = [
        measure_lost(ledger, orders.check, kind="order"),
        measure_duplicates(ledger, orders.check, kind="order"),
    ]
    if confirm_within_s is None:
        out.append(
            unmeasured("unconfirmed_orders", "count", "no judged promise sets a confirm deadline")
        )
    else:
        out.append(
            measure_unconfirmed(
                ledger, orders, recovered_at=recovered_at, within_s=confirm_within_s
            )
        )
    return out


def beat_restart_slot(
    roles: Sequence[RoleObservation], *, fault_at: float | None, interval_s: float
) -> int | None:
    """The slot in which celery-beat was first seen ready again after the fault (pure)."""
    if fault_at is None or interval_s <= 0:
        return None
    obs = sorted(
        (r for r in roles if r.component == "celery-beat" and r.at >= fault_at), key=lambda r: r.at
    )
    down = next((i for i, r in enumerate(obs) if not r.ready), None)
    candidates = obs[down:] if down is not None else obs
    back = next((r for r in candidates if r.ready), None)
    return int(back.wall // interval_s) if back else None


Probes = Mapping[str, Sequence[Sample]]


def _measure_outages(
    by_probe: Probes, fault: float | None, resolution_s: float
) -> list[Measurement]:
    """Outages seen through each request probe, and the first successful write."""

    def outage(probe: str, name: str) -> Measurement:
        if probe not in by_probe:
            return unmeasured(name, "s", f"the {probe} probe did not run")
        return measure_outage(by_probe[probe], fault_at=fault, name=name, resolution_s=resolution_s)

    out = [
        outage("order-write", "write_outage_s"),
        outage("cache-write", "cache_write_outage_s"),
        outage("task-enqueue", "task_enqueue_outage_s"),
    ]
    if "order-write" in by_probe:
        out.append(measure_time_to_first_success(by_probe["order-write"], after=fault))
    else:
        out.append(unmeasured("write_first_success_s", "s", "the order-write probe did not run"))
    return out


def _measure_task_resume(
    by_probe: Probes, ledger: Sequence[LedgerEntry], fault: float | None, end: float
) -> Measurement:
    """Celery consumes NEW tasks again: tasks acknowledged after the fault, first seen run."""
    acked = {e.key: e.acknowledged_at for e in ledger if e.kind == "task"}
    runs = [
        s
        for s in by_probe.get("task-run", ())
        if fault is not None and s.key is not None and acked.get(s.key, -math.inf) >= fault
    ]
    if fault is None:
        return unmeasured("task_resume_s", "s", "no fault instant on the timeline")
    if "task-enqueue" not in by_probe:
        return unmeasured("task_resume_s", "s", "the task-enqueue probe did not run")
    if not runs:
        waited = max(end - fault, 0.0)
        return Measurement(
            name="task_resume_s",
            value=waited,
            unit="s",
            at_least=True,
            detail=f"no task acknowledged after the fault was seen executed within {waited:.1f} s",
        )
    return measure_time_to_first_success(runs, after=fault, name="task_resume_s")


def _measure_control_plane(
    timeline: Timeline, injection: Injection | None, fault: float | None
) -> list[Measurement]:
    """New leader, new master (and so whether each failed over), the hit instances ready
    again."""
    out = []
    for component, role in PRIMARY_ROLES.items():
        new = measure_time_to_new_role(
            timeline.roles,
            component=component,
            role=role,
            fault_at=fault,
            name=f"time_to_new_{role}_s",
        )
        out += [new, measure_failovers(new, f"{component}_failovers")]
    if injection is None:
        out.append(unmeasured("instance_ready_s", "s", "no injection recorded"))
    else:
        out.append(
            measure_instance_ready(
                timeline.roles,
                component=injection.component,
                instances=injection.instances,
                fault_at=fault,
            )
        )
    return out


def _measure_requests(
    timeline: Timeline, by_probe: Probes, fault: float | None, end: float
) -> list[Measurement]:
    """What users saw: the request probes and the load's requests (probe ``http``)."""
    requests_ = [s for p in (*REQUEST_PROBES, "http") for s in by_probe.get(p, ())]
    out: list[Measurement] = []
    if fault is None:
        why = "no fault instant on the timeline"
        out += [
            unmeasured("failed_requests", "count", why),
            unmeasured("failed_request_ratio", "ratio", why),
            unmeasured("max_success_gap_s", "s", why),
        ]
    else:
        out += list(measure_failed_requests(requests_, start=fault, end=end))
        if requests_:
            out.append(measure_max_success_gap(requests_, start=fault, end=end))
        else:
            out.append(unmeasured("max_success_gap_s", "s", "no request samples"))
    span = timeline.span()
    if span is not None:
        phases = build_phases(timeline.events, start=span[0], end=max(span[1], end))
        out += list(measure_phase_errors(requests_, phases))
    return out


def _measure_tasks(
    ledger: Sequence[LedgerEntry],
    tasks: LedgerCheck | None,
    *,
    deadline_s: float | None,
    error: str | None,
) -> list[Measurement]:
    """Lost and duplicated probe tasks."""
    if tasks is None:
        why = f"ledger not read back: {error or 'no read-back'}"
        return [unmeasured("lost_tasks", "count", why), unmeasured("duplicate_tasks", "count", why)]
    return [
        measure_lost(ledger, tasks, kind="task", deadline_s=deadline_s),
        measure_duplicates(ledger, tasks, kind="task"),
    ]


def _measure_keys(
    ledger: Sequence[LedgerEntry], keys: LedgerCheck | None, *, error: str | None
) -> Measurement:
    """Acknowledged cache keys the cache no longer holds after recovery."""
    if not any(e.kind == "key" for e in ledger):
        return unmeasured("lost_keys", "count", "no cache write was acknowledged")
    if keys is None:
        return unmeasured("lost_keys", "count", f"keys not read back: {error or 'no read-back'}")
    return measure_lost(ledger, keys, kind="key")


def _measure_beat(
    timeline: Timeline, beat: Mapping[str, Any] | None, fault: float | None
) -> list[Measurement]:
    """Beat's resume, missed and doubled slots."""
    out: list[Measurement] = []
    if beat is None:
        why = "beat slots not recorded for this experiment"
        out += [
            unmeasured("beat_resume_intervals", "intervals", why),
            unmeasured("missed_slots", "count", why),
            unmeasured("doubled_slots", "count", why),
        ]
    else:
        interval = float(beat["interval"])
        slots = [(int(s["slot"]), int(s["ticks"])) for s in beat["slots"]]
        first, last = int(beat["first_slot"]), int(beat["last_slot"])
        restart = beat_restart_slot(timeline.roles, fault_at=fault, interval_s=interval)
        out.append(measure_beat_resume(slots, restart_slot=restart, last_slot=last))
        missed_from = restart + 1 if restart is not None else last + 1
        missed, _ = measure_beat_slots(slots, first_slot=missed_from, last_slot=last)
        _, doubled = measure_beat_slots(slots, first_slot=first, last_slot=last)
        out += [missed, doubled]
    return out


def measure_experiment(
    timeline: Timeline,
    *,
    ledger: Sequence[LedgerEntry],
    orders: OrderReadBack | None,
    tasks: LedgerCheck | None,
    injection: Injection | None,
    end: float,
    resolution_s: float = 0.1,
    task_deadline_s: float | None = None,
    confirm_within_s: float | None = None,
    beat: Mapping[str, Any] | None = None,
    ledger_error: str | None = None,
    orders_error: str | None = None,
    keys: LedgerCheck | None = None,
    keys_error: str | None = None,
) -> list[Measurement]:
    """Every measurement this experiment can give (pure; None values say why not).

    ``ledger`` holds every acknowledged write of every source (probes and load); ``orders`` is
    the read-back of all its orders, ``tasks`` of the probe tasks.
    """
    fault = timeline.fault_at()
    by_probe = {p: timeline.for_probe(p) for p in timeline.probes()}
    return [
        *_measure_outages(by_probe, fault, resolution_s),
        _measure_task_resume(by_probe, ledger, fault, end),
        *_measure_control_plane(timeline, injection, fault),
        *_measure_requests(timeline, by_probe, fault, end),
        # ledgers: every source's orders, the probe tasks
        *_measure_orders(
            ledger,
            orders,
            error=orders_error,
            recovered_at=timeline.recovered_at(),
            confirm_within_s=confirm_within_s,
        ),
        *_measure_tasks(ledger, tasks, deadline_s=task_deadline_s, error=ledger_error),
        _measure_keys(ledger, keys, error=keys_error),
        *_measure_beat(timeline, beat, fault),
        # a partition (a cut on the timeline): split-brain writes, dual primaries, demotion
        *measure_partition_experiment(
            timeline.events,
            timeline.roles,
            ledger,
            {"order": orders.check if orders is not None else None, "key": keys},
        ),
    ]


def measure_load_and_alerts(
    timeline: Timeline,
    *,
    load_ran: bool,
    stats: Sequence[PhaseLoadStats],
    adequacy: LoadAdequacy | None,
    alerts: Sequence[str] | None,
    alert_error: str | None,
    alert_start: float | None,
    end: float,
) -> list[Measurement]:
    """Load (per phase, adequacy) and alert measurements (pure). The load's orders are in the
    one ledger (:func:`measure_experiment`).

    ``alerts`` None: Alertmanager was not recorded (no alert measurement at all).
    """
    out: list[Measurement] = []
    if load_ran:
        out += list(measure_phase_load(stats))
        if adequacy is not None:
            out.append(measure_load_adequacy(adequacy))
    if alerts is None:
        return out
    names = set(alerts)
    if alert_error is not None:
        return out + [
            unmeasured(m, "count" if m == "false_alarms" else "s", alert_error)
            for m in ALERT_MEASUREMENTS
        ]
    fault = timeline.fault_at()
    events = timeline.events
    out.append(measure_alert_fire(events, alertnames=names, fault_at=fault, until=end))
    out.append(
        measure_alert_resolve(
            events, alertnames=names, recovered_at=timeline.recovered_at(), until=end
        )
    )
    start = alert_start if alert_start is not None else (timeline.span() or (end, end))[0]
    out.append(measure_false_alarms(events, start=start, end=fault if fault is not None else end))
    return out
