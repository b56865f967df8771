"""The typed records of a run folder, both ways.

Written: :class:`ExperimentRecord` (everything one experiment's folder holds, as the session
recorded it) and :class:`LoadFacts` (how the load run ended). Read: :class:`RunData` with its
:class:`RunSummary` and one :class:`ExperimentData` per experiment, every part a frozen record
(promises, checks, result.json, load.json, the load's request lines, alerts.jsonl, the ledger's
counts per source). Readers never see a raw dict, except for the three payloads that are free-form
by nature: a load profile's settings, an event's or alert's ``detail``, and an Alertmanager
webhook payload.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from hasuite.analysis.load import LoadAdequacy, PhaseLoadStats
from hasuite.model import (
    Event,
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
    "ResultFile",
    "RunData",
    "RunSummary",
    "SourceCount",
    "SummaryEntry",
]


# -- written ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LoadFacts:
    """How a load run ended and what it cost (from the load driver's result)."""

    ledger: Sequence[LedgerEntry]
    requests: int
    bad_record_lines: int
    cpu_s: float
    cpu_percent: float
    exit_code: int | None
    stopped_by: str


@dataclass(frozen=True, kw_only=True)
class ExperimentRecord:
    """Everything one experiment's folder holds, as values (what the session recorded)."""

    out: Path
    samples: Sequence[Sample]
    roles: Sequence[RoleObservation]
    events: Sequence[Event]
    ledger: Sequence[LedgerEntry]
    orders: OrderReadBack | None
    tasks: LedgerCheck | None
    keys: LedgerCheck | None
    orders_error: str | None
    measurements: Sequence[Measurement]
    #: the load profile's settings (asdict) and its asked rate: None when the experiment asked
    #: for no load (no load.json)
    load_profile: Mapping[str, Any] | None
    load_asked_rps: float | None
    #: None when no load ran (asked, but it did not start)
    load: LoadFacts | None
    adequacy: LoadAdequacy | None
    load_stats: Sequence[PhaseLoadStats]
    #: alerts.jsonl is written when alerts were recorded
    alerts_recorded: bool
    notifications: Sequence[Mapping[str, Any]]
    notifications_error: str | None
    result: Mapping[str, Any]
    target: str
    started_wall: float
    finished_wall: float
    injections: Sequence[Injection]
    errors: Sequence[str]


# -- read -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CheckRecord:
    """One check of a promise as summary.json holds it."""

    measurement: str
    comparison: str
    threshold: float
    unit: str
    measured: float | None
    holds: bool | None
    enforce: bool
    text: str


@dataclass(frozen=True, kw_only=True)
class PromiseRecord:
    """One promise's verdict as summary.json (and result.json) hold it."""

    id: str
    verdict: str
    measured: float | None
    threshold: float | None
    unit: str
    reason: str
    checks: tuple[CheckRecord, ...] = ()
    recommendation: str | None = None


@dataclass(frozen=True, kw_only=True)
class SummaryEntry:
    """One experiment's line in summary.json (``dir`` empty: not run)."""

    name: str
    status: str
    reason: str
    dir: str
    promises: tuple[PromiseRecord, ...] = ()


@dataclass(frozen=True, kw_only=True)
class RunSummary:
    """summary.json."""

    schema_version: int
    run_id: str
    target: str
    started: str
    finished: str | None
    status: str
    experiments: tuple[SummaryEntry, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ResultFile:
    """An experiment's result.json (the summary's line plus what the session added; the
    summary's copy of name, status and reason is the one readers use)."""

    name: str = ""
    status: str = ""
    reason: str = ""
    promises: tuple[PromiseRecord, ...] = ()
    target: str | None = None
    started: str | None = None
    finished: str | None = None
    injections: tuple[Injection, ...] = ()
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class LoadOrders:
    """load.json's ``orders``: the load's acknowledged orders and what the read-back found."""

    acknowledged: int = 0
    present: int | None = None
    missing: tuple[str, ...] | None = None
    confirmed: int | None = None
    unconfirmed: tuple[str, ...] | None = None
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class LoadPhase:
    """load.json's ``phases`` entry (the load's requests in one phase; written from
    :class:`~hasuite.analysis.load.PhaseLoadStats`). Every number may be missing: older runs
    wrote fewer of them."""

    phase: str
    start: float | None = None
    end: float | None = None
    requests: int = 0
    failures: int = 0
    failure_rate: float | None = None
    rate_rps: float | None = None
    p50_s: float | None = None
    p95_s: float | None = None
    p99_s: float | None = None
    max_success_gap_s: float | None = None
    gap_at_least: bool = False
    failures_by_kind: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, kw_only=True)
class LoadFile:
    """An experiment's load.json."""

    profile: Mapping[str, Any] | None = None
    ran: bool = False
    asked_rps: float | None = None
    achieved_rps: float | None = None
    achieved_ratio: float | None = None
    adequate: bool | None = None
    adequacy: str | None = None
    window_s: float | None = None
    cpu_s: float | None = None
    cpu_percent: float | None = None
    exit_code: int | None = None
    stopped_by: str | None = None
    requests: int = 0
    bad_record_lines: int = 0
    phases: tuple[LoadPhase, ...] = ()
    orders: LoadOrders = field(default_factory=LoadOrders)


@dataclass(frozen=True, kw_only=True)
class LoadRecord:
    """One line of load-records.jsonl (written by loadtests/locustfile.py; format there)."""

    event: str = "request"
    wall: float | None = None
    mono: float | None = None
    method: str | None = None
    name: str | None = None
    status: int | None = None
    ok: bool = False
    latency_s: float | None = None
    error: str | None = None
    detail: str | None = None
    order_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class AlertLine:
    """One line of alerts.jsonl: an Alertmanager state change, a receiver notification, or the
    receiver's read error."""

    source: str
    kind: str | None = None
    at: float | None = None
    wall: float | None = None
    component: str = ""
    detail: Mapping[str, Any] | str = ""
    received: float | None = None
    payload: Mapping[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class SourceCount:
    """ledger.json's ``by_source`` cell: acknowledged writes and those missing (None: not read
    back)."""

    acknowledged: int
    missing: int | None


@dataclass(frozen=True, kw_only=True)
class ExperimentData:
    """One experiment of a run, as read from its folder (all strings redacted)."""

    name: str
    status: str
    reason: str
    promises: tuple[PromiseRecord, ...]
    folder: Path
    ran: bool
    result: ResultFile | None = None
    samples: tuple[Sample, ...] = ()
    roles: tuple[RoleObservation, ...] = ()
    events: tuple[Event, ...] = ()
    measurements: tuple[Measurement, ...] = ()
    load_records: tuple[LoadRecord, ...] | None = None
    load: LoadFile | None = None
    alerts: tuple[AlertLine, ...] | None = None
    #: ledger.json's ``by_source``: {kind: {source: counts}}
    ledger_by_source: Mapping[str, Mapping[str, SourceCount]] | None = None

    def measurement(self, name: str) -> Measurement | None:
        return next((m for m in self.measurements if m.name == name), None)

    @property
    def fault_at(self) -> float | None:
        return Timeline(events=self.events).fault_at()

    @property
    def recovered_at(self) -> float | None:
        return Timeline(events=self.events).recovered_at()

    @property
    def duration_s(self) -> float | None:
        if self.result is None or not self.result.started or not self.result.finished:
            return None
        try:
            start = datetime.fromisoformat(self.result.started)
            end = datetime.fromisoformat(self.result.finished)
        except ValueError:
            return None
        return max((end - start).total_seconds(), 0.0)


@dataclass(frozen=True, kw_only=True)
class RunData:
    """A run folder: the summary and its experiments."""

    folder: Path
    summary: RunSummary
    experiments: tuple[ExperimentData, ...]

    @property
    def run_id(self) -> str:
        return self.summary.run_id

    @property
    def status(self) -> str:
        return self.summary.status
