"""One experiment's session: recorders around the fault, read-backs, verdicts (a stage of the run).

:class:`ExperimentSession` is driven by the Chaos Toolkit control (:mod:`hasuite.chaos.control`):
``start_recorders()`` -> (``note_injection``, ``note_recovered``) -> ``stop_and_measure()`` ->
``finish(journal_status)``. The measurements are computed by the pure
:mod:`hasuite.analysis.experiment`; the folder is written by :mod:`hasuite.runfolder`.

The session hands its recording to :class:`~hasuite.session.recording.Recording` (load,
probes, observers, alerts: started and stopped together) and its waits to
:class:`~hasuite.session.gates.Gates` (the steady-state gate, settle, tasks, alerts); what is
left here is the lifecycle that orders them, the measurement and the judgement.
"""

# size: the lifecycle (start, note, stop and measure, judge, write) and the state its steps
# share (events, errors, the recorded timeline); recording, waits, read-back and result are
# modules of their own, the computations are pure in analysis.
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from hasuite.analysis import aggregate_status, blind_errors, confirm_deadline
from hasuite.analysis.alerts import FALSE_ALARM_SEVERITIES
from hasuite.analysis.experiment import (
    ALERT_MEASUREMENTS,
    measure_experiment,
    measure_load_and_alerts,
)
from hasuite.analysis.judgement import downgrade, judge_experiment
from hasuite.analysis.load import LoadAdequacy, PhaseLoadStats, build_timeline_load_stats
from hasuite.analysis.recommend import with_recommendation
from hasuite.drivers.alerting import AlertRecorder
from hasuite.drivers.load import LoadResult, LoadRun
from hasuite.drivers.observers import ObserverSet
from hasuite.drivers.recorders import ProbeSet
from hasuite.model import (
    Event,
    Injection,
    LedgerEntry,
    Measurement,
    Promise,
    PromiseResult,
    RoleObservation,
    Sample,
    Timeline,
    Verdict,
)
from hasuite.promises import PromiseCatalog
from hasuite.runfolder import ExperimentRecord, LoadFacts, write_experiment
from hasuite.session import signals
from hasuite.session.config import RunConfig
from hasuite.session.gates import Gates
from hasuite.session.options import ExperimentOptions, select_promises
from hasuite.session.readback import ReadBack, read_back
from hasuite.session.recording import Recording, RecordingSettings
from hasuite.session.result import ExperimentResult
from hasuite.session.targets import known_good_stack
from hasuite.session.waits import Recovery
from hasuite.settings import StackSettings, flat_settings
from hasuite.target import Target

log = logging.getLogger(__name__)


@dataclass
class ExperimentSession:
    """One experiment's recording and judgement. Used by the Chaos Toolkit control.

    Lifecycle: ``start_recorders()`` -> (``note_injection``, ``note_recovered``) ->
    ``stop_and_measure()`` -> ``finish(journal_status)``; ``note_error`` at any point makes the
    verdicts ERROR with that reason. Every step is bounded and safe to call twice.
    """

    options: ExperimentOptions
    promises: tuple[Promise, ...]
    target: Target
    run_dir: Path
    probe_hz: float = 10.0
    #: a probe request slower than this counts as failed (an availability probe: a request a
    #: user gives up on, not a latency target). 4 s: on the 2-core CI machine, under Locust load
    #: during a rollout, healthy order probes measured p99 1.57 s, p99.9 1.95 s, max 2.02 s
    #: (2026-12-01); 2 s failed one healthy request in 3605 and made the known-good ROLLOUT FAIL
    probe_timeout_s: float = 4.0
    observe_hz: float = 4.0
    task_deadline_s: float | None = None
    #: the one wait scale (RunConfig.timeout_multiplier)
    timeout_multiplier: float = 1.0
    alert_poll_s: float = 1.0
    #: longest wait for orders to be confirmed at the read-back, past the deadline the
    #: ORDER-CONFIRMED promise sets (scaled by timeout_multiplier)
    order_confirm_wait_s: float = 90.0
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    #: the recorders (load, probes, observers, alerts), started and stopped together
    recording: Recording = field(default_factory=Recording)
    #: the settings under test and the known-good profile (recommendations of a FAIL)
    stack: StackSettings | None = None
    known_good: StackSettings | None = None
    #: why the fault must not be injected (the actions refuse); None = go ahead
    refused: str | None = None
    #: why the fault cannot be made on this target or machine (every promise SKIPPED with it)
    skipped: str | None = None
    injections: list[Injection] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    last_health: str = ""
    #: how often the steady-state hypothesis ran (the first run is the one before the fault)
    hypothesis_runs: int = 0
    measurements: tuple[Measurement, ...] | None = None
    #: what the read-back after the recording found (empty until then)
    read: ReadBack = field(default_factory=ReadBack)
    result: ExperimentResult | None = None
    started_wall: float = field(default_factory=time.time)
    _samples: tuple[Sample, ...] = ()
    _roles: tuple[RoleObservation, ...] = ()
    _ledger: tuple[LedgerEntry, ...] = ()
    _load_stats: tuple[PhaseLoadStats, ...] = ()
    _adequacy: LoadAdequacy | None = None
    _extra: list[Measurement] = field(default_factory=list)
    _alert_error: str | None = None

    @classmethod
    def for_run(
        cls,
        config: RunConfig,
        options: ExperimentOptions,
        catalog: PromiseCatalog,
        target: Target,
        *,
        run_dir: Path,
        stack: StackSettings | None,
    ) -> ExperimentSession:
        """The session of one experiment of the run ``config`` describes (the one way a session
        is made, by the runner and by the control of a single ``chaos run``): the promises
        the experiment names (narrowed to ``config.only_promises``), its load scaled by
        ``config.load_scale``, the run's probe rate, task deadline and timeout multiplier."""
        if options.load is not None and config.load_scale != 1.0:
            options = replace(options, load=options.load.scaled(config.load_scale))
        return cls(
            options=options,
            promises=tuple(
                p
                for p in select_promises(catalog, options)
                if config.only_promises is None or p.id in config.only_promises
            ),
            target=target,
            run_dir=run_dir,
            probe_hz=config.probe_hz,
            task_deadline_s=config.task_deadline_s,
            timeout_multiplier=config.timeout_multiplier,
            stack=stack,
            known_good=known_good_stack(),
        )

    @property
    def name(self) -> str:
        return self.options.name

    @property
    def probes(self) -> ProbeSet | None:
        return self.recording.probes

    @probes.setter
    def probes(self, probes: ProbeSet | None) -> None:
        self.recording.probes = probes

    @property
    def observers(self) -> ObserverSet | None:
        return self.recording.observers

    @property
    def load_run(self) -> LoadRun | None:
        return self.recording.load_run

    @property
    def load_result(self) -> LoadResult | None:
        return self.recording.load_result

    @property
    def alert_recorder(self) -> AlertRecorder | None:
        return self.recording.alert_recorder

    @property
    def gates(self) -> Gates:
        """The session's waits, on its clock and timeout multiplier."""
        return Gates(
            clock=self.clock,
            wall=self.wall,
            sleep=self.sleep,
            timeout_multiplier=self.timeout_multiplier,
        )

    @property
    def records_alerts(self) -> bool:
        """True when a judged promise needs an alert measurement (the experiment's alerts are
        then recorded; a run that judges only other promises does not wait for alerts)."""
        needed = {m for p in self.promises for m in p.measurement_names()}
        return bool(needed & set(ALERT_MEASUREMENTS))

    def alert_spoils_judgement(self, alertname: str, severity: str) -> bool:
        """Whether an alert still active before the fault would spoil a judged measurement.

        One the experiment expects (ALERT-FIRES/-RESOLVES measure its firing after the fault),
        or, where false alarms are judged, one of their severities. Any other alert left from an
        earlier fault (e.g. the 3-minute window of PostgresLeaderChanged after a failover)
        changes no verdict of this experiment, so the settle does not wait for it.
        """
        needed = {m for p in self.promises for m in p.measurement_names()}
        if "false_alarms" in needed and severity in FALSE_ALARM_SEVERITIES:
            return True
        return bool(needed & {"alert_fire_s", "alert_resolve_s"}) and (
            alertname in self.options.alerts
        )

    def threshold(self, measurement: str) -> float | None:
        """The (first) threshold a judged promise sets on ``measurement``."""
        for p in self.promises:
            for c in p.checks:
                if c.measurement == measurement:
                    return c.threshold
        return None

    def refuse(self, reason: str) -> None:
        """Make the fault actions refuse to inject (the experiment is then ERROR)."""
        if self.refused is None:
            self.refused = reason
        self.note_error(reason)

    @property
    def out_dir(self) -> Path:
        return self.run_dir / self.name

    def observed_components(self) -> tuple[str, ...]:
        return self.options.observe

    # -- recording ---------------------------------------------------------------------------

    def start_recorders(self) -> None:
        """Start the recorders (see :class:`~hasuite.session.recording.Recording`), then the
        baseline and the steady-state gate.

        An unreachable app or Alertmanager, or a load that does not start, refuses the fault
        (see :meth:`refuse`): nothing is recorded and the experiment is ERROR.
        """
        if self.recording.started or self.refused is not None:
            return
        refused = self.recording.start(
            self.target,
            self.options,
            RecordingSettings(
                probe_hz=self.probe_hz,
                probe_timeout_s=self.probe_timeout_s,
                observe_hz=self.observe_hz,
                alert_poll_s=self.alert_poll_s,
                timeout_multiplier=self.timeout_multiplier,
            ),
            records_alerts=self.records_alerts,
            out_dir=self.out_dir,
            clock=self.clock,
            wall=self.wall,
        )
        if refused is not None:
            self.refuse(refused)
            return
        ramp = self.options.load.ramp_s if self.options.load is not None else 0.0
        recording_from = self.clock()
        self.sleep(ramp + self.options.baseline_s)
        self._await_steady(recording_from)

    def _await_steady(self, recording_from: float) -> None:
        """The steady-state gate (:meth:`~hasuite.session.gates.Gates.steady`): refuse the
        fault, or mark where the judged baseline begins."""
        if self.probes is None:
            return
        outcome = self.gates.steady(
            self.probes,
            recording_from=recording_from,
            window_s=self.options.baseline_s,
            timeout_s=self.options.baseline_timeout_s,
            name=self.name,
        )
        if outcome.refused is not None:
            self.refuse(outcome.refused)
        elif outcome.baseline is not None:
            self.events.append(outcome.baseline)

    def _instants(self) -> Timeline:
        """The events so far, as a timeline: the one rule of the fault and recovery instants."""
        return Timeline(events=tuple(self.events))

    def note_injection(self, injection: Injection) -> None:
        self.injections.append(injection)
        self.events.append(injection.to_event())

    def note_event(self, event: Event) -> None:
        """A point an action put on the timeline (a partition's cut and heal)."""
        self.events.append(event)

    def skip(self, reason: str) -> None:
        """The fault cannot be made here (e.g. no packet filter): nothing was injected and
        every promise of the experiment is SKIPPED with ``reason``, never PASS."""
        if self.skipped is None:
            self.skipped = reason
        log.warning("%s: skipped: %s", self.name, reason)

    def note_recovered(self, component: str, recovery: Recovery) -> None:
        self.events.append(
            Event(
                at=recovery.at,
                wall=recovery.wall,
                kind="recovered",
                component=component,
                detail=recovery.detail,
            )
        )

    def add_measurements(self, measurements: Sequence[Measurement]) -> None:
        """Measurements an action took itself (e.g. the HPA cycle); they win over computed ones
        of the same name."""
        self._extra.extend(measurements)

    def note_error(self, reason: str) -> None:
        log.warning("%s: %s", self.name, reason)
        self.errors.append(reason)

    def _settle(self) -> None:
        if self.probes is not None:
            self.gates.settle(
                self.probes,
                settle_s=self.options.settle_s,
                timeout_s=self.options.settle_timeout_s,
                name=self.name,
            )

    def _await_tasks(self) -> None:
        if self.probes is None or self.options.task_wait_s <= 0 or self.task_deadline_s is None:
            return
        self.gates.tasks(
            self.probes,
            wait_s=self.options.task_wait_s,
            deadline_s=self.task_deadline_s,
            name=self.name,
        )

    # size: one ordered sequence (settle, stop, read back, measure); each step is a call.
    def stop_and_measure(self) -> tuple[Measurement, ...]:
        """Settle, stop the recorders, read the ledger back, compute measurements (once)."""
        if self.measurements is not None:
            return self.measurements
        if self.probes is None or self.observers is None:
            self.measurements = ()
            return self.measurements
        interrupted = signals.interrupted()
        if self.injections and not interrupted:
            self._settle()
            self._await_tasks()
            self._await_alerts()
        recorded = self.recording.stop(interrupted=interrupted)
        self.events.extend(recorded.alert_events)
        self.events.sort(key=lambda e: e.at)
        if recorded.alert_error is not None:
            self._alert_error = recorded.alert_error
            self.note_error(recorded.alert_error)
        end = self.clock()
        self._samples, self._roles = recorded.samples, recorded.roles
        self._ledger = recorded.ledger
        if interrupted:
            # a signal: what was recorded is kept, nothing more is asked of the stack
            self.note_error(f"interrupted ({signals.signal_name()}): nothing was read back")
            rb = ReadBack()
        else:
            rb = self._read_back()
        self.read = rb
        for error in rb.errors:
            self.note_error(error)
        load_samples = self.load_result.samples if self.load_result is not None else ()
        timeline = Timeline(
            samples=self._samples + load_samples, roles=self._roles, events=tuple(self.events)
        )
        for error in blind_errors(
            self.observers.blind_spans(),
            fault_at=timeline.fault_at(),
            period_s=1.0 / self.observers.rate_hz,
        ):
            self.note_error(error)
        if self.load_result is not None:
            self._load_stats = build_timeline_load_stats(timeline)
            self._adequacy = self.load_result.adequacy(exclude=timeline.fault_window(end))
        self.measurements = tuple(
            measure_experiment(
                timeline,
                ledger=self._ledger,
                orders=rb.orders,
                tasks=rb.tasks,
                injection=self.injections[0] if self.injections else None,
                end=end,
                resolution_s=1.0 / self.probe_hz,
                task_deadline_s=self.task_deadline_s,
                confirm_within_s=self.confirm_within_s,
                beat=rb.beat,
                ledger_error=rb.ledger_error,
                orders_error=rb.orders_error,
                keys=rb.keys,
                keys_error=rb.keys_error,
            )
        ) + tuple(
            measure_load_and_alerts(
                timeline,
                load_ran=self.load_result is not None,
                stats=self._load_stats,
                adequacy=self._adequacy,
                alerts=self.options.alerts if self.records_alerts else None,
                alert_error=self._alert_error,
                alert_start=self.recording.alert_started,
                end=end,
            )
        )
        if self._extra:
            extra = {m.name for m in self._extra}
            self.measurements = tuple(m for m in self.measurements if m.name not in extra) + tuple(
                self._extra
            )
        return self.measurements

    def _await_alerts(self) -> None:
        """Keep recording until the expected alerts fired and resolved, bounded by the
        ALERT-FIRES and ALERT-RESOLVES thresholds (see :meth:`Gates.alerts`)."""
        rec = self.alert_recorder
        fault = self._instants().fault_at()
        if rec is None or not self.options.alerts or fault is None:
            return
        self.gates.alerts(
            rec,
            self.options.alerts,
            fault=fault,
            recovered=lambda: self._instants().recovered_at(),
            fire_bound=self.threshold("alert_fire_s"),
            resolve_bound=self.threshold("alert_resolve_s"),
            poll_s=self.alert_poll_s,
        )

    @property
    def confirm_within_s(self) -> float | None:
        """ORDER-CONFIRMED's deadline (params.confirm_within_s) when a judged promise checks
        unconfirmed_orders; None: confirmations are not waited for."""
        for p in self.promises:
            if "unconfirmed_orders" in p.measurement_names():
                return float(p.params.get("confirm_within_s", 60.0))
        return None

    def _read_back(self) -> ReadBack:
        """Orders, tasks, keys, beat slots and alerts, read back from the stack (bounded)."""
        assert self.probes is not None
        return read_back(
            self.target.endpoints(),
            self._ledger,
            task_seqs=self.probes.acked_seqs("task"),
            task_first_seen=self.probes.task_first_seen(),
            confirm_until=self._confirm_until(),
            alerts_since_wall=self.started_wall if self.records_alerts else None,
            beat_since_wall=self.started_wall if self.options.beat else None,
            clock=self.clock,
            sleep=self.sleep,
        )

    def _confirm_until(self) -> float | None:
        """With a confirm deadline, the read-back waits (bounded) until every acknowledged order
        is confirmed or its deadline passed; None: no wait."""
        within = self.confirm_within_s
        entries = [e for e in self._ledger if e.kind == "order"]
        if within is None or not entries:
            return None
        recovered = self._instants().recovered_at()
        last = max(confirm_deadline(e, recovered_at=recovered, within_s=within) for e in entries)
        cap = self.clock() + self.order_confirm_wait_s * self.timeout_multiplier
        return min(last + 1.0, cap)

    # -- judgement ---------------------------------------------------------------------------

    def finish(self, journal_status: str | None = None) -> ExperimentResult:
        """Judge and write the experiment folder (once). Stops recorders if still running."""
        if self.result is not None:
            return self.result
        interrupted = journal_status == "interrupted"
        measurements: tuple[Measurement, ...] = ()
        try:
            measurements = self.stop_and_measure()
        except Exception as exc:  # a verdict must still be written
            log.exception("%s: measuring failed", self.name)
            self.note_error(f"measuring failed: {type(exc).__name__}: {exc}")
        reason, results = judge_experiment(
            self.promises,
            measurements,
            target=self.target.name,
            errors=tuple(self.errors),
            injected=bool(self.injections),
            fault_expected=self.options.fault,
            interrupted=interrupted,
            adequacy=self._adequacy,
            skipped=self.skipped,
            fault=self.injections[0] if self.injections else None,
        )
        results = self._recommend(results)
        status = Verdict.INTERRUPTED if interrupted else aggregate_status(results)
        self.result = ExperimentResult(
            name=self.name,
            status=status,
            reason=reason,
            promises=results,
            measurements=measurements,
            dir=str(self.out_dir),
        )
        with signals.deferred():  # a signal waits for the folder's files to be complete
            failed = write_experiment(self._record())
            if failed:
                self._run_folder_incomplete(failed)
        return self.result

    def _run_folder_incomplete(self, failed: list[str]) -> None:
        """A file of the experiment's folder could not be written (a full disk): what was
        written stays; no verdict stands without its evidence, so every one becomes ERROR."""
        assert self.result is not None
        why = (
            f"the run folder {self.out_dir} is incomplete ({'; '.join(failed)}): free disk "
            "space (or fix the folder) and run the experiment again"
        )
        log.error("%s: %s", self.name, why)
        self.note_error(why)
        promises = tuple(
            downgrade(p, why) if p.verdict in (Verdict.PASS, Verdict.FAIL) else p
            for p in self.result.promises
        )
        self.result = replace(
            self.result, status=aggregate_status(promises), reason=why, promises=promises
        )
        write_experiment(self._record())  # the verdicts again, if there is room now

    def _recommend(self, results: tuple[PromiseResult, ...]) -> tuple[PromiseResult, ...]:
        """Give every FAIL its recommendation, also at the end of its reason."""
        if self.stack is None:
            return results
        current = flat_settings(self.stack)
        good = flat_settings(self.known_good) if self.known_good is not None else None
        by_id = {p.id: p for p in self.promises}
        out = []
        for r in results:
            promise = by_id.get(r.id)
            if promise is not None:
                r = with_recommendation(r, promise, current=current, known_good=good)
                if r.recommendation:
                    r = replace(r, reason=f"{r.reason}; recommended: {r.recommendation}")
            out.append(r)
        return tuple(out)

    def _record(self) -> ExperimentRecord:
        assert self.result is not None
        return ExperimentRecord(
            out=self.out_dir,
            samples=self._samples,
            roles=self._roles,
            events=tuple(self.events),
            ledger=self._ledger,
            orders=self.read.orders,
            tasks=self.read.tasks,
            keys=self.read.keys,
            orders_error=self.read.orders_error,
            measurements=self.result.measurements,
            load_profile=asdict(self.options.load) if self.options.load is not None else None,
            load_asked_rps=self.options.load.asked_rps if self.options.load is not None else None,
            load=_load_facts(self.load_result) if self.load_result is not None else None,
            adequacy=self._adequacy,
            load_stats=self._load_stats,
            alerts_recorded=self.alert_recorder is not None or self.records_alerts,
            notifications=tuple(self.read.notifications),
            notifications_error=self.read.notifications_error,
            result=self.result.to_dict(),
            target=self.target.name,
            started_wall=self.started_wall,
            finished_wall=self.wall(),
            injections=tuple(self.injections),
            errors=tuple(self.errors),
        )


def _load_facts(res: LoadResult) -> LoadFacts:
    return LoadFacts(
        ledger=res.ledger,
        requests=len(res.samples),
        bad_record_lines=res.records.bad_lines,
        cpu_s=res.cpu_s,
        cpu_percent=res.cpu_percent,
        exit_code=res.exit_code,
        stopped_by=res.stopped_by,
    )
