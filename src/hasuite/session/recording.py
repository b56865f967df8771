"""One experiment's recorders, started together and stopped together (a part of the session).

:class:`Recording` owns the Locust load, the request probes, the control-plane observers and
the alert recorder of one experiment: :meth:`Recording.start` checks the doors first (the app
for the load, Alertmanager for the alerts) and starts them; :meth:`Recording.stop` stops them
all and hands back what they saw as one :class:`Recorded`. The waits between the two are in
:mod:`hasuite.session.gates`; the session (:mod:`hasuite.session.experiment`) drives both.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hasuite.drivers.alerting import AlertRecorder
from hasuite.drivers.load import LoadResult, LoadRun, check_reachable, start_load
from hasuite.drivers.observers import ObserverSet
from hasuite.drivers.recorders import ProbeConfig, ProbeSet
from hasuite.model import Event, LedgerEntry, RoleObservation, Sample
from hasuite.session.options import ExperimentOptions
from hasuite.target import Target

log = logging.getLogger(__name__)

__all__ = ["Recorded", "Recording", "RecordingSettings"]


@dataclass(frozen=True, kw_only=True)
class RecordingSettings:
    """How the recorders of one experiment run (rates, timeouts, the one wait scale)."""

    probe_hz: float
    probe_timeout_s: float
    observe_hz: float
    alert_poll_s: float
    timeout_multiplier: float


@dataclass(frozen=True, kw_only=True)
class Recorded:
    """What the recorders saw, once stopped: samples, roles, the one ledger (the probes'
    acknowledged writes and the load's orders), the alert events and why alerts are unknown."""

    samples: tuple[Sample, ...]
    roles: tuple[RoleObservation, ...]
    ledger: tuple[LedgerEntry, ...]
    alert_events: tuple[Event, ...]
    alert_error: str | None


@dataclass
class Recording:
    """The recorders of one experiment (None until started)."""

    probes: ProbeSet | None = None
    observers: ObserverSet | None = None
    load_run: LoadRun | None = None
    load_result: LoadResult | None = None
    alert_recorder: AlertRecorder | None = None
    #: when the alert recorder started (the session's clock)
    alert_started: float | None = None

    @property
    def started(self) -> bool:
        return self.probes is not None

    def start(
        self,
        target: Target,
        options: ExperimentOptions,
        settings: RecordingSettings,
        *,
        records_alerts: bool,
        out_dir: Path,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> str | None:
        """Preflight, then load, probes, observers and the alert recorder.

        Returns why the fault must not be injected (an unreachable app or Alertmanager, a load
        that does not start: nothing is recorded), or None when every recorder runs.
        """
        from hasuite.errors import HasuiteError

        endpoints = target.endpoints()
        try:
            recorder = _preflight(
                options,
                settings,
                endpoints.app_url,
                endpoints.alertmanager_url if records_alerts else None,
                clock=clock,
                wall=wall,
            )
            if options.load is not None:
                self.load_run = start_load(
                    endpoints.app_url,
                    options.load,
                    run_dir=out_dir,
                    check_host=False,
                    timeout_multiplier=settings.timeout_multiplier,
                )
        except HasuiteError as exc:
            return f"fault not injected: {exc}"
        if recorder is not None:
            self.alert_recorder = recorder
            self.alert_started = clock()
            recorder.start()
        self.probes = ProbeSet(
            ProbeConfig(
                app_url=endpoints.app_url,
                token=endpoints.probe_token,
                rate_hz=settings.probe_hz,
                timeout_s=settings.probe_timeout_s,
                probes=options.probes,
                task_hold_s=options.task_hold_s,
            ),
            clock=clock,
            wall=wall,
        )
        self.observers = ObserverSet(
            target, options.observe, rate_hz=settings.observe_hz, clock=clock, wall=wall
        )
        self.probes.start()
        self.observers.start()
        log.info(
            "%s: recorders started (%s at %.0f Hz; observing %s)",
            options.name,
            ", ".join(options.probes),
            settings.probe_hz,
            ", ".join(options.observe) or "nothing",
        )
        return None

    def stop(self, *, interrupted: bool) -> Recorded:
        """Stop every recorder (interrupted: Locust gets 1 s to flush its records, then
        SIGKILL) and return what they saw. Call once, after :meth:`start` succeeded."""
        assert self.probes is not None and self.observers is not None
        self.probes.stop()
        self.observers.stop()
        alert_events, alert_error = self._stop_alerts()
        if self.load_run is not None:
            self.load_result = self.load_run.stop(grace_s=1.0 if interrupted else None)
        return Recorded(
            samples=self.probes.samples(),
            roles=self.observers.roles(),
            ledger=self.probes.ledger()
            + (self.load_result.ledger if self.load_result is not None else ()),
            alert_events=alert_events,
            alert_error=alert_error,
        )

    def _stop_alerts(self) -> tuple[tuple[Event, ...], str | None]:
        rec = self.alert_recorder
        if rec is None:
            return (), None
        rec.stop()
        error = None
        if rec.polls <= 1 or rec.unreachable_s > max(5.0, 5 * rec.poll_s):
            error = (
                f"Alertmanager unreachable for {rec.unreachable_s:.0f} s during the recording "
                f"({rec.failed_polls} failed polls of {rec.polls + rec.failed_polls}; last: "
                f"{rec.last_error})"
            )
        return tuple(rec.events()), error


def _preflight(
    options: ExperimentOptions,
    settings: RecordingSettings,
    app_url: str,
    alertmanager_url: str | None,
    *,
    clock: Callable[[], float],
    wall: Callable[[], float],
) -> AlertRecorder | None:
    """Refuse the fault unless the load's host and Alertmanager answer (HasuiteError); the
    alert recorder, checked, when alerts are recorded (``alertmanager_url`` given)."""
    if options.load is not None:
        check_reachable(app_url, timeout_s=3.0 * settings.timeout_multiplier)
    if alertmanager_url is None:
        return None
    recorder = AlertRecorder(
        alertmanager_url,
        poll_s=settings.alert_poll_s,
        timeout_s=2.0 * settings.timeout_multiplier,
        clock=clock,
        wall=wall,
    )
    recorder.check()
    return recorder
