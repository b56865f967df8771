"""One experiment's session: recorders around the fault, read-backs, verdicts (a stage of the run).

:class:`ExperimentSession` is driven by the Chaos Toolkit control (:mod:`hasuite.chaos.control`):
``start_recorders()`` -> (``note_injection``, ``note_recovered``) -> ``stop_and_measure()`` ->
``finish(journal_status)``. The measurements are computed by the pure
:mod:`hasuite.analysis.experiment`; the folder is written by :mod:`hasuite.runfolder`.

This module is over 400 lines: the session is one lifecycle, and its recording, read-back and
judgement share its state; splitting them further would pass that state around by hand.
"""

# size: the session is one lifecycle object (record, wait, read back, judge, write); the
# pure steps are in analysis, the read-back in session/readback.py, the result in session/result.py.
from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from hasuite.analysis import aggregate_status, blind_errors, confirm_deadline
from hasuite.analysis.experiment import (
    ALERT_MEASUREMENTS,
    REQUEST_PROBES,
    measure_experiment,
    measure_load_and_alerts,
)
from hasuite.analysis.judgement import downgrade, judge_experiment
from hasuite.analysis.load import LoadAdequacy, PhaseLoadStats, build_timeline_load_stats
from hasuite.analysis.recommend import with_recommendation
from hasuite.drivers.alerting import AlertRecorder
from hasuite.drivers.load import LoadResult, LoadRun, check_reachable, start_load
from hasuite.drivers.recorders import (
    ObserverSet,
    ProbeConfig,
    ProbeSet,
)
from hasuite.errors import HasuiteError
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
from hasuite.runfolder import ExperimentRecord, LoadFacts, write_experiment
from hasuite.session import signals
from hasuite.session.options import ExperimentOptions
from hasuite.session.readback import ReadBack, read_back
from hasuite.session.result import ExperimentResult
from hasuite.session.waits import Recovery
from hasuite.settings import (
    StackSettings,
    flat_settings,
    suite_settings_from_env,
)
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
    #: the one wait scale (HASUITE_TIMEOUT_MULTIPLIER, read like every other suite setting)
    timeout_multiplier: float = field(
        default_factory=lambda: suite_settings_from_env(os.environ).timeout_multiplier
    )
    alert_poll_s: float = 1.0
    #: longest wait for orders to be confirmed at the read-back, past the deadline the
    #: ORDER-CONFIRMED promise sets (scaled by timeout_multiplier)
    order_confirm_wait_s: float = 90.0
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    probes: ProbeSet | None = None
    observers: ObserverSet | None = None
    load_run: LoadRun | None = None
    load_result: LoadResult | None = None
    alert_recorder: AlertRecorder | None = None
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
    _alert_started: float | None = None

    @property
    def name(self) -> str:
        return self.options.name

    @property
    def records_alerts(self) -> bool:
        """True when a judged promise needs an alert measurement (the experiment's alerts are
        then recorded; a run that judges only other promises does not wait for alerts)."""
        needed = {m for p in self.promises for m in p.measurement_names()}
        return bool(needed & set(ALERT_MEASUREMENTS))

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

    def _preflight(self, app_url: str, alertmanager_url: str) -> AlertRecorder | None:
        """Refuse the fault unless the load's host and Alertmanager answer (HasuiteError)."""
        if self.options.load is not None:
            check_reachable(app_url, timeout_s=3.0 * self.timeout_multiplier)
        if not self.records_alerts:
            return None
        recorder = AlertRecorder(
            alertmanager_url,
            poll_s=self.alert_poll_s,
            timeout_s=2.0 * self.timeout_multiplier,
            clock=self.clock,
            wall=self.wall,
        )
        recorder.check()
        return recorder

    def start_recorders(self) -> None:
        """Preflight, then load, probes, observers and the alert recorder; then the baseline.

        An unreachable app or Alertmanager, or a load that does not start, refuses the fault
        (see :meth:`refuse`): nothing is recorded and the experiment is ERROR.
        """
        if self.probes is not None or self.refused is not None:
            return
        endpoints = self.target.endpoints()
        try:
            recorder = self._preflight(endpoints.app_url, endpoints.alertmanager_url)
            if self.options.load is not None:
                self.load_run = start_load(
                    endpoints.app_url,
                    self.options.load,
                    run_dir=self.out_dir,
                    check_host=False,
                    timeout_multiplier=self.timeout_multiplier,
                )
        except HasuiteError as exc:
            self.refuse(f"fault not injected: {exc}")
            return
        if recorder is not None:
            self.alert_recorder = recorder
            self._alert_started = self.clock()
            recorder.start()
        self.probes = ProbeSet(
            ProbeConfig(
                app_url=endpoints.app_url,
                token=endpoints.probe_token,
                rate_hz=self.probe_hz,
                timeout_s=self.probe_timeout_s,
                probes=self.options.probes,
                task_hold_s=self.options.task_hold_s,
            ),
            clock=self.clock,
            wall=self.wall,
        )
        self.observers = ObserverSet(
            self.target,
            self.observed_components(),
            rate_hz=self.observe_hz,
            clock=self.clock,
            wall=self.wall,
        )
        self.probes.start()
        self.observers.start()
        log.info(
            "%s: recorders started (%s at %.0f Hz; observing %s)",
            self.name,
            ", ".join(self.options.probes),
            self.probe_hz,
            ", ".join(self.observed_components()) or "nothing",
        )
        ramp = self.options.load.ramp_s if self.options.load is not None else 0.0
        recording_from = self.clock()
        self.sleep(ramp + self.options.baseline_s)
        self._await_steady(recording_from)

    def _await_steady(self, recording_from: float) -> None:
        """The steady-state gate: the fault goes in only after ``baseline_s`` without a failed
        request probe.

        A probe that failed while the stack warmed up (a first slow answer, a neighbour's burst
        on a shared machine) would otherwise make the whole verdict ERROR ("not healthy before
        the fault"). The gate keeps recording until a clean window of ``baseline_s`` and, when
        it had to skip failures, puts a ``"baseline"`` event at the window's start: the
        ``before`` phase begins there, and the skipped samples form the ``warmup`` phase,
        reported but not judged. A stack that never gets ``baseline_s`` clean within
        ``baseline_timeout_s`` (scaled by the timeout multiplier) gets no fault: the
        experiment is refused, ERROR, and nothing was broken on top of the trouble.
        """
        if self.probes is None:
            return
        window = self.options.baseline_s
        limit = self.options.baseline_timeout_s * self.timeout_multiplier
        deadline = self.clock() + limit
        while True:
            now = self.clock()
            failed = [s.at for s in self.probes.samples() if s.probe in REQUEST_PROBES and not s.ok]
            clean_from = max([recording_from, *failed])
            if now - clean_from >= window:
                break
            if now >= deadline:
                self.refuse(
                    f"fault not injected: the stack was not steady: {len(failed)} request "
                    f"probe(s) failed while recording, the last {now - clean_from:.1f} s ago; "
                    f"no {window:g} s without a failure within {limit:g} s "
                    "(extensions.hasuite.baseline_timeout_s)"
                )
                return
            self.sleep(min(0.2, window - (now - clean_from)))
        if failed:
            start = math.nextafter(clean_from, math.inf)  # the last failure stays in the warm-up
            self.events.append(
                Event(
                    at=start,
                    wall=self.wall() - (self.clock() - start),
                    kind="baseline",
                    detail=(
                        f"{len(failed)} failed request probe(s) before it (warm-up, not judged); "
                        f"{window:g} s clean before the fault"
                    ),
                )
            )
            log.info(
                "%s: steady after %.1f s (%d failed probe(s) in the warm-up)",
                self.name,
                start - recording_from,
                len(failed),
            )

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
        """Keep recording until every request probe succeeded after its last failure."""
        if self.probes is None:
            return
        self.sleep(self.options.settle_s)
        deadline = self.clock() + self.options.settle_timeout_s
        while self.clock() < deadline:
            samples = self.probes.samples()
            pending = []
            for probe in REQUEST_PROBES:
                mine = [s for s in samples if s.probe == probe]
                if mine and not max(mine, key=lambda s: s.at).ok:
                    pending.append(probe)
            if not pending:
                return
            self.sleep(0.2)
        log.warning(
            "%s: probes still failing %.0f s after recovery",
            self.name,
            self.options.settle_timeout_s,
        )

    def _await_tasks(self) -> None:
        """Wait (bounded) until the tasks acknowledged so far ran, so lost_tasks can be judged.

        The wait ends at the earliest of: all ran, ``task_wait_s`` (scaled), the last one's
        deadline (``task_deadline_s`` after its acknowledgement). Tasks not run and not yet due
        stay "not due yet" in lost_tasks (a lower bound: ERROR, never PASS).
        """
        if self.probes is None or self.options.task_wait_s <= 0 or self.task_deadline_s is None:
            return
        acked = {e.key: e.acknowledged_at for e in self.probes.ledger() if e.kind == "task"}
        if not acked:
            return
        start = self.clock()
        limit = start + self.options.task_wait_s * self.timeout_multiplier
        while True:
            seen = self.probes.task_first_seen()
            missing = [k for k in acked if k not in seen]
            # no point waiting past the deadline of the last task still missing
            if not missing or self.clock() >= min(
                limit, max(acked[k] for k in missing) + self.task_deadline_s
            ):
                break
            self.sleep(1.0)
        log.info(
            "%s: %d of %d acknowledged tasks ran after %.0f s of waiting",
            self.name,
            len(acked) - len(missing),
            len(acked),
            self.clock() - start,
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
        self.probes.stop()
        self.observers.stop()
        self._stop_alerts()
        if self.load_run is not None:
            # interrupted: Locust gets 1 s to flush its records, then SIGKILL
            self.load_result = self.load_run.stop(grace_s=1.0 if interrupted else None)
        end = self.clock()
        self._samples = self.probes.samples()
        self._roles = self.observers.roles()
        # one ledger: the probes' acknowledged writes and the load's orders
        self._ledger = self.probes.ledger() + (
            self.load_result.ledger if self.load_result is not None else ()
        )
        if interrupted:
            # a signal: what was recorded is kept, nothing more is asked of the stack
            self.note_error(f"interrupted ({signals.signal_name()}): nothing was read back")
            rb = ReadBack()
        else:
            rb = self._read_back()
        self.read = rb
        for error in rb.errors:
            self.note_error(error)
        for error in blind_errors(
            self.observers.blind_spans(),
            fault_at=self.injections[0].at if self.injections else None,
            period_s=1.0 / self.observers.rate_hz,
        ):
            self.note_error(error)
        load_samples = self.load_result.samples if self.load_result is not None else ()
        timeline = Timeline(
            samples=self._samples + load_samples, roles=self._roles, events=tuple(self.events)
        )
        if self.load_result is not None:
            self._load_stats = build_timeline_load_stats(timeline)
            fault_at = self.injections[0].at if self.injections else None
            recovered = [e.at for e in self.events if e.kind == "recovered"]
            self._adequacy = self.load_result.adequacy(
                exclude=(fault_at, max(recovered) if recovered else end)
                if fault_at is not None
                else None
            )
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
                alert_start=self._alert_started,
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
        """Keep recording until the expected alerts fired and resolved, bounded by the promises.

        Waits for a first firing up to the ALERT-FIRES bound after the fault, then for every
        fired expected alert to be resolved up to the ALERT-RESOLVES bound after recovery (+ two
        polls of margin each). Without those promises it does not wait.
        """
        rec = self.alert_recorder
        fault = next((e.at for e in self.events if e.kind == "fault"), None)
        if rec is None or not self.options.alerts or fault is None:
            return
        names = self.options.alerts
        fire_bound = self.threshold("alert_fire_s")
        resolve_bound = self.threshold("alert_resolve_s")
        margin = 2 * self.alert_poll_s + 1.0
        while True:
            now = self.clock()
            recovered = next((e.at for e in self.events if e.kind == "recovered"), None)
            fired = {
                str(e.detail.get("alertname"))
                for e in rec.events()
                if e.kind == "alert-firing"
                and e.at >= fault
                and isinstance(e.detail, Mapping)
                and e.detail.get("alertname") in names
            }
            if not fired:
                if fire_bound is None or now >= fault + fire_bound + margin:
                    return
            else:
                if resolve_bound is None or recovered is None or not (rec.firing(names) & fired):
                    return
                if now >= recovered + resolve_bound + margin:
                    return
            self.sleep(min(self.alert_poll_s, 1.0))

    def _stop_alerts(self) -> None:
        rec = self.alert_recorder
        if rec is None:
            return
        rec.stop()
        alert_events = rec.events()
        self.events.extend(alert_events)
        self.events.sort(key=lambda e: e.at)
        if rec.polls <= 1 or rec.unreachable_s > max(5.0, 5 * rec.poll_s):
            self._alert_error = (
                f"Alertmanager unreachable for {rec.unreachable_s:.0f} s during the recording "
                f"({rec.failed_polls} failed polls of {rec.polls + rec.failed_polls}; last: "
                f"{rec.last_error})"
            )
            self.note_error(self._alert_error)

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
        recovered = next((e.at for e in self.events if e.kind == "recovered"), None)
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
