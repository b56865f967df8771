"""The run folder, ``reports/<run-id>/``: this package owns its format, writes and reads it.

:mod:`.write` writes it from typed records (the session's :class:`ExperimentRecord`), :mod:`.read`
reads it back into typed records (:class:`RunData`) for the report, redacting every string on the
way (:mod:`.redact`); :mod:`.records` holds both. The format:

Run folder (``reports/<run-id>/``, ``reports/latest`` points at the newest)::

    summary.json                 see SUMMARY SCHEMA below
    <experiment>/journal.json    the Chaos Toolkit journal
    <experiment>/samples.jsonl   one Sample per line ({"at", "wall", "probe", "ok", "latency_s",
                                 "error", "backend", "key"})
    <experiment>/roles.jsonl     one RoleObservation per line
    <experiment>/events.json     [{"at", "wall", "kind", "component", "detail"}], sorted by
                                 "at": fault / recovered / alert-firing / alert-resolved (the
                                 alert ones as in alerts.jsonl)
    <experiment>/ledger.json     every acknowledged write, each with its source (probe/load),
                                 {"acknowledged", "by_source": {kind: {source: {"acknowledged",
                                 "missing"}}}, "orders_present", "orders_confirmed",
                                 "orders_error", "task_counts"}
    <experiment>/measurements.json  [{"name", "value", "unit", "detail", "at_least"}]
    <experiment>/result.json     {"name", "status", "reason", "promises": [...], ...}
    <experiment>/load-records.jsonl  the load's requests, written by loadtests/locustfile.py
                                 (format in its docstring): {"event": "request", "wall", "mono",
                                 "method", "name", "status", "ok", "latency_s", "error",
                                 "detail", "order_id"} plus "start"/"stop" marker lines; on the
                                 timeline each request is Sample(probe="http", at=mono)
    <experiment>/locust.log      Locust's own output
    <experiment>/load.json       the load (only with `load:`): {"profile": {...}, "ran": bool,
                                 "asked_rps", "achieved_rps", "achieved_ratio", "adequate":
                                 bool | null, "adequacy": text, "window_s", "cpu_s",
                                 "cpu_percent" (of one core), "exit_code", "stopped_by",
                                 "requests", "bad_record_lines",
                                 "phases": [{"phase", "start", "end", "requests", "failures",
                                   "failure_rate", "rate_rps", "p50_s", "p95_s", "p99_s",
                                   "max_success_gap_s", "gap_at_least",
                                   "failures_by_kind": [[kind, count], ...]}],
                                 "orders": {"acknowledged", "present", "missing": [ids],
                                   "confirmed", "unconfirmed": [ids], "error"}}
    <experiment>/alerts.jsonl    (when alerts are recorded) one JSON object per line:
                                 {"source": "alertmanager", "at", "wall", "kind":
                                   "alert-firing" | "alert-resolved", "component", "detail":
                                   {"alertname", "severity", "fingerprint", "labels",
                                    "starts_at", "state", "already_firing"?}}
                                 (polled from Alertmanager API v2 at ~1 Hz; "at" monotonic =
                                 the poll that saw the change), then
                                 {"source": "receiver", "received": wall, "payload": <the
                                   Alertmanager webhook JSON>} for each notification the
                                 lab's receiver got during the experiment, or
                                 {"source": "receiver", "error": text}

Load measurements (measurements.json): ``load_{requests,failures,failure_ratio,p50_s,p95_s,
p99_s,max_success_gap_s}_{before,during,recovery,after}``, ``load_achieved_ratio``,
alert ones: ``alert_fire_s``,
``alert_resolve_s``, ``false_alarms``.

SUMMARY SCHEMA (``summary.json``)::

    {"schema_version": 1, "run_id": str, "target": str, "started": ISO-8601,
     "finished": ISO-8601 | null,
     "status": "PASS" | "FAIL" | "ERROR" | "SKIPPED" | "INTERRUPTED",
     "experiments": [{"name": str, "status": verdict, "reason": str, "dir": str,
                      "promises": [{"id", "verdict", "measured", "threshold", "unit", "reason",
                                    "checks": [...]}]}]}

``status`` of an experiment is the worst verdict of its promises (INTERRUPTED > ERROR > FAIL >
PASS > SKIPPED); the run's status is the worst over experiments.
"""

from hasuite.runfolder.read import (
    SUPPORTED_SCHEMA_VERSION,
    RunFolderError,
    load_run,
    summary_schema,
    validate_summary,
)
from hasuite.runfolder.records import (
    AlertLine,
    CheckRecord,
    ExperimentData,
    ExperimentRecord,
    LoadFacts,
    LoadFile,
    LoadOrders,
    LoadPhase,
    LoadRecord,
    PromiseRecord,
    ResultFile,
    RunData,
    RunSummary,
    SourceCount,
    SummaryEntry,
)
from hasuite.runfolder.redact import Redactor, lab_secret_values
from hasuite.runfolder.write import (
    SUMMARY_SCHEMA_VERSION,
    dump,
    iso,
    new_run_id,
    point_latest,
    write_experiment,
    write_summary,
)

__all__ = [
    "SUMMARY_SCHEMA_VERSION",
    "SUPPORTED_SCHEMA_VERSION",
    "AlertLine",
    "CheckRecord",
    "ExperimentData",
    "ExperimentRecord",
    "LoadFacts",
    "LoadFile",
    "LoadOrders",
    "LoadPhase",
    "LoadRecord",
    "PromiseRecord",
    "Redactor",
    "ResultFile",
    "RunData",
    "RunFolderError",
    "RunSummary",
    "SourceCount",
    "SummaryEntry",
    "dump",
    "iso",
    "lab_secret_values",
    "load_run",
    "new_run_id",
    "point_latest",
    "summary_schema",
    "validate_summary",
    "write_experiment",
    "write_summary",
]
