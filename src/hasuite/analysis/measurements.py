"""The catalogue of measurement names: what each means and its unit.

``suites/promises.yaml`` may only name measurements listed here (the loader checks it), so a typo
in a promise is a load-time error instead of an ERROR verdict at the end of a long run. A driver or
experiment that produces a new measurement adds it here with one line of meaning.
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = ["MEASUREMENTS", "PHASES", "UNITS"]

#: Units a measurement (and a promise check) may use.
UNITS: tuple[str, ...] = ("s", "count", "ratio", "intervals")

#: Phase names of an experiment, in order (see ``hasuite.analysis.phases``).
PHASES: tuple[str, ...] = ("warmup", "before", "during", "recovery", "after")

_MEASUREMENTS: dict[str, tuple[str, str]] = {
    # outages seen through the app (probes at ~10 Hz)
    "write_outage_s": (
        "s",
        "longest order-write outage overlapping or after the fault: last success before the "
        "first failure to the first success after it",
    ),
    "cache_write_outage_s": ("s", "longest cache-write outage overlapping or after the fault"),
    "task_enqueue_outage_s": ("s", "longest task-enqueue outage overlapping or after the fault"),
    "task_resume_s": (
        "s",
        "fault instant to the first successful task-run sample (Celery consumes tasks again)",
    ),
    "write_first_success_s": ("s", "fault instant to the first successful order-write"),
    # before the fault
    "settle_s": (
        "s",
        "wait before the fault until every instance was ready, replicas caught up and no alert "
        "of an earlier fault was active (at least: it did not settle)",
    ),
    # control plane
    "time_to_new_leader_s": (
        "s",
        "fault instant to the first observation of a different postgres leader",
    ),
    "time_to_new_master_s": (
        "s",
        "fault instant to the first observation of a different redis master",
    ),
    "postgres_failovers": (
        "count",
        "1 when a different postgres leader was seen after the fault (a failover), 0 when none "
        "was (the old leader restarted in place and kept the lock, or nobody led)",
    ),
    "redis_failovers": (
        "count",
        "1 when a different redis master was seen after the fault (a failover), 0 when none was",
    ),
    "instance_ready_s": (
        "s",
        "fault instant to the hit instance(s) being observed ready again (max over instances)",
    ),
    # users under load
    "failed_requests": ("count", "failed requests (load or probe) in the judged window"),
    "failed_request_ratio": ("ratio", "failed / all requests in the judged window (0..1)"),
    "max_success_gap_s": (
        "s",
        "longest time without a successful request in the judged window (silence counts)",
    ),
    # ledgers
    "lost_orders": (
        "count",
        "acknowledged orders (every source: probes and load) absent from the read-back",
    ),
    "unconfirmed_orders": (
        "count",
        "acknowledged orders present but not confirmed by Celery within the promise's deadline "
        "after the recovery (still pending at the read-back counts)",
    ),
    "lost_keys": ("count", "acknowledged cache keys absent from the read-back"),
    "lost_tasks": (
        "count",
        "acknowledged tasks that never ran, or ran later than the promise's deadline",
    ),
    "duplicate_orders": ("count", "acknowledged orders stored more than once"),
    "duplicate_tasks": ("count", "acknowledged tasks that ran more than once"),
    # partitions (a member cut off from its peers; hasuite.analysis.splitbrain)
    "partition_s": ("s", "cut to heal of the partition"),
    "dual_primary_s": (
        "s",
        "time two members were each seen (in their own view) holding the primary role at once",
    ),
    "old_primary_demoted_s": (
        "s",
        "cut to the cut-off primary itself answering with another role (demoted)",
    ),
    "split_brain_window_s": (
        "s",
        "cut to the last write the cut-off primary acknowledged (0: none after the cut)",
    ),
    "split_brain_orders": ("count", "orders acknowledged by the cut-off primary after the cut"),
    "split_brain_lost_orders": ("count", "split-brain orders absent from the read-back"),
    "split_brain_keys": ("count", "cache keys acknowledged by the cut-off master after the cut"),
    "split_brain_lost_keys": ("count", "split-brain cache keys absent from the read-back"),
    # celery beat
    "beat_resume_intervals": (
        "intervals",
        "beat intervals from the beat's restart to its first tick",
    ),
    "missed_slots": ("count", "beat slots without a tick in the judged window"),
    "doubled_slots": ("count", "beat slots that ran more than once in the judged window"),
    # autoscaling (Kubernetes targets)
    "hpa_scale_up_s": ("s", "load start to desiredReplicas above the minimum"),
    "hpa_pods_ready_s": ("s", "load start to every desired replica ready"),
    "hpa_scale_down_excess_s": (
        "s",
        "time beyond the scale-down stabilization window until replicas are back at the minimum",
    ),
    # alerts
    "alert_fire_s": ("s", "fault instant to the expected alert firing in Alertmanager"),
    "alert_resolve_s": ("s", "recovery instant to the expected alert resolved in Alertmanager"),
    "false_alarms": ("count", "alerts of the watched severities firing in a healthy window"),
}
for _phase in PHASES:
    _MEASUREMENTS[f"errors_{_phase}"] = ("count", f"failed samples in the {_phase} phase")
    _MEASUREMENTS[f"error_ratio_{_phase}"] = ("ratio", f"failed / all samples, {_phase} phase")

#: name -> (unit, meaning)
MEASUREMENTS = MappingProxyType(_MEASUREMENTS)
