"""Calibration: how exactly do the probes measure an outage of known length?

For each duration the app path (nginx: every probe goes through it) is taken out for the
duration, then brought back, by one of two faults:

- ``refuse`` (the default): every TCP packet to nginx's port is answered with a reset (iptables,
  see drivers.local.partition), so every request fails at once and the first one after the heal
  is answered at once. The outage is exactly the refusal: its length is known, which is what a
  calibration needs.
- ``pause``: SIGSTOP, then SIGCONT. Requests hang instead of failing, and after the SIGCONT nginx
  and the app first work off what queued up in the pause: the outage users see is the pause plus
  that catch-up (``end_lag_s``), which is the server's, not the probes'. It shows how a hang is
  measured; its error is not the probes' alone.

The reference is the fault's length measured with ``time.monotonic`` (the probes' clock) between
the moment the fault is in and the moment its undoing is about to be sent; the measurement is
what the suite's own analysis (``measure_outage``) makes of the probe samples.
``error_s = measured - reference`` is reported raw: it is never clamped, rounded away or
corrected.

Where the error of a pause comes from (all of it is reported, none of it subtracted):

- start edge: the outage starts between the LAST SUCCESS before the failures and the sending of
  the first failed request; ``build_outages`` takes the middle. The probes' timeout does not
  move this edge, it delays the *detection*: SIGSTOP keeps nginx's listening socket, so requests
  are accepted by the kernel and hang; the first failure is only recorded when the first hung
  request times out, ``timeout_s`` after it was sent (``detection_s``). A pause shorter than the
  timeout produces no failure at all, only slow answers: the probes measure 0 (so the rounds
  probe with a 0.5 s timeout, shorter than the shortest pause).
- end edge: between the last timeout and the first success. Requests sent less than
  ``timeout_s`` before the resume are still waiting in the queue and are answered right after
  the SIGCONT, so the first success lands at resume + the app's latency (``end_lag_s``).
- a bracket wider than two probe periods (a slow answer, a stalled recorder) keeps its outer
  edge: the outage is then over- rather than under-reported.

With ``load``, a fixed-rate Locust load runs through each round as well and its requests (every
user's, merged) are judged the same way: the load generator's view of the same pause.

A paused or refused nginx is never left behind: the undoing runs in a ``finally`` (and a
refusal is in the lab's fault ledger, so the next command heals one a killed run left).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hasuite.analysis import build_outages, measure_outage
from hasuite.drivers.load import LoadRun, load_profile, start_load
from hasuite.drivers.recorders import ProbeConfig, ProbeSet
from hasuite.errors import ConfigError, HasuiteError
from hasuite.model import Injection, Outage, Sample
from hasuite.target import Refuser, Target

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_DURATIONS_S",
    "FAULTS",
    "TOLERANCE_S",
    "CalibrationResult",
    "build_calibration_result",
    "calibrate",
]

#: The promised accuracy of an outage measurement: within 0.1 s of the truth.
TOLERANCE_S = 0.1
DEFAULT_DURATIONS_S: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0)
#: The component taken out: every probe request goes through it.
APP_PATH_COMPONENT = "nginx"
#: How the app path is taken out (module docstring); the first is the default.
FAULTS: tuple[str, ...] = ("refuse", "pause")

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True, kw_only=True)
class CalibrationResult:
    """One calibration round: a pause of ``duration_s`` and what the probes made of it.

    ``reference_s``: the pause as measured with the monotonic clock (SIGSTOP sent .. SIGCONT about
    to be sent); the true pause lies within ``reference_uncertainty_s`` above it.
    ``measured_s``: ``measure_outage`` of the probe samples (None: could not measure).
    ``error_s``: ``measured_s - reference_s``, raw (None when nothing was measured).
    ``within_tolerance``: ``|error_s| <= tolerance_s`` for a complete outage (not a lower bound)
    that overlaps the pause.
    ``raw_outage_s``: the outage's edges before rounding up to the resolution.
    ``start_lead_s``: how long before the pause the outage starts (last success).
    ``end_lag_s``: how long after the resume the first success arrived.
    ``detection_s``: how long after the pause the first failure was recorded (the timeout's doing).
    """

    duration_s: float
    reference_s: float
    measured_s: float | None
    error_s: float | None
    within_tolerance: bool
    tolerance_s: float = TOLERANCE_S
    resolution_s: float = 0.1
    reference_uncertainty_s: float = 0.0
    at_least: bool = False
    raw_outage_s: float | None = None
    start_lead_s: float | None = None
    end_lag_s: float | None = None
    detection_s: float | None = None
    failures: int = 0
    samples: int = 0
    errors: tuple[str, ...] = ()
    detail: str = ""
    view: str = "probe"  # whose requests: the suite's probe, or the Locust load ("load")
    fault: str = "pause"  # how the app path was taken out (FAULTS)


def _worst_outage(outages: Sequence[Outage], fault_at: float) -> Outage | None:
    """The outage ``measure_outage`` reports (same selection), to look at its edges."""
    relevant = [o for o in outages if o.end > fault_at or (o.open and o.end >= fault_at)]
    return max(relevant, key=lambda o: o.duration_s) if relevant else None


def build_calibration_result(
    samples: Iterable[Sample],
    *,
    duration_s: float,
    paused_at: float,
    resumed_at: float,
    resolution_s: float = 0.1,
    tolerance_s: float = TOLERANCE_S,
    reference_uncertainty_s: float = 0.0,
) -> CalibrationResult:
    """Judge one calibration round from ONE probe's samples (pure: every instant passed in).

    ``paused_at``/``resumed_at`` are monotonic instants on the samples' clock: after the pause
    took effect and before the resume was sent.
    """
    if resumed_at < paused_at:
        raise ValueError(f"resumed_at {resumed_at} before paused_at {paused_at}")
    ordered = sorted(samples, key=lambda s: s.at)
    reference = resumed_at - paused_at
    m = measure_outage(
        ordered, fault_at=paused_at, name="calibration_outage_s", resolution_s=resolution_s
    )
    worst = _worst_outage(build_outages(ordered, resolution_s=resolution_s), paused_at)
    if m.value is None:
        return CalibrationResult(
            duration_s=duration_s,
            reference_s=reference,
            measured_s=None,
            error_s=None,
            within_tolerance=False,
            tolerance_s=tolerance_s,
            resolution_s=resolution_s,
            reference_uncertainty_s=reference_uncertainty_s,
            samples=len(ordered),
            detail=f"not measured: {m.detail}",
        )
    error = m.value - reference
    if worst is None:  # the probe never failed after the pause: it saw no outage at all
        return CalibrationResult(
            duration_s=duration_s,
            reference_s=reference,
            measured_s=m.value,
            error_s=error,
            within_tolerance=abs(error) <= tolerance_s,
            tolerance_s=tolerance_s,
            resolution_s=resolution_s,
            reference_uncertainty_s=reference_uncertainty_s,
            raw_outage_s=0.0,
            samples=len(ordered),
            detail=m.detail,
        )
    overlaps = worst.start < resumed_at and worst.end > paused_at
    within = overlaps and not m.at_least and abs(error) <= tolerance_s
    detail = m.detail
    if not overlaps:
        detail += "; the longest outage does not overlap the pause (not the calibrated one)"
    return CalibrationResult(
        duration_s=duration_s,
        reference_s=reference,
        measured_s=m.value,
        error_s=error,
        within_tolerance=within,
        tolerance_s=tolerance_s,
        resolution_s=resolution_s,
        reference_uncertainty_s=reference_uncertainty_s,
        at_least=m.at_least,
        raw_outage_s=worst.end - worst.start,
        start_lead_s=paused_at - worst.start if worst.start_known else None,
        end_lag_s=None if worst.open else worst.end - resumed_at,
        detection_s=worst.first_failure - paused_at,
        failures=worst.failures,
        samples=len(ordered),
        errors=worst.errors,
        detail=detail,
    )


def _load_round(
    target: Target, duration: float, settle_s: float, timeout_s: float, run_dir: Path
) -> LoadRun:
    """A fixed-rate Locust load for one round, with the round's request timeout."""
    base = load_profile("fixed-rate")
    profile = dataclasses.replace(
        base,
        duration_s=duration + 4 * settle_s + 10.0,  # outlasts the round; stopped at its end
        request_timeout_s=timeout_s,
        stop_timeout_s=1.0,
    )
    return start_load(target.endpoints().app_url, profile, run_dir=run_dir)


def calibrate(
    target: Target,
    *,
    durations_s: Sequence[float] = DEFAULT_DURATIONS_S,
    probe_hz: float = 10.0,
    settle_s: float = 2.0,
    timeout_s: float = 0.5,
    tolerance_s: float = TOLERANCE_S,
    probe: str = "order-write",
    component: str = APP_PATH_COMPONENT,
    progress: Progress = _quiet,
    load_dir: Path | None = None,
    fault: str = FAULTS[0],
) -> list[CalibrationResult]:
    """Take the app path out (``fault``) for each duration and compare the probes' outage with
    the real one.

    One fresh probe set per round; the round is judged on ``probe``'s samples. With
    ``load_dir``, a fixed-rate Locust load (records in ``load_dir/<duration>s``) runs through
    each round too, and a second result per round (``view`` "load") judges its requests.
    Raises ``HasuiteError`` when the probe does not succeed before the pause (an unhealthy stack
    cannot calibrate anything). The target is always resumed, even on an error or Ctrl-C.
    """
    if not durations_s or any(d <= 0 for d in durations_s):
        raise ConfigError(f"durations must be > 0 s, got {list(durations_s)}")
    if probe_hz <= 0 or settle_s < 0:
        raise ConfigError(f"probe_hz must be > 0 and settle_s >= 0 (got {probe_hz}, {settle_s})")
    if fault not in FAULTS:
        raise ConfigError(f"fault must be one of {', '.join(FAULTS)}, got {fault!r}")
    if fault == "refuse" and not isinstance(target, Refuser):
        raise ConfigError(
            f"the {target.name} target cannot refuse connections; calibrate with fault pause"
        )
    resolution_s = 1.0 / probe_hz
    results: list[CalibrationResult] = []
    for duration in durations_s:
        if fault == "pause" and duration <= timeout_s:
            progress(
                f"note: a {duration:g} s pause is not longer than the probes' {timeout_s:g} s "
                "timeout; requests only get slow, so the probes may see no outage at all"
            )
        results += _one_round(
            target,
            duration,
            probe_hz=probe_hz,
            settle_s=settle_s,
            timeout_s=timeout_s,
            tolerance_s=tolerance_s,
            probe=probe,
            component=component,
            progress=progress,
            load_dir=load_dir / f"{duration:g}s" if load_dir else None,
            resolution_s=resolution_s,
            fault=fault,
        )
    return results


def _take_out(target: Target, fault: str, component: str) -> Injection:
    if fault == "refuse":
        assert isinstance(target, Refuser)
        return target.refuse(component)
    return target.pause(component)


def _bring_back(target: Target, fault: str) -> None:
    if fault == "pause":
        target.resume()
        return
    assert isinstance(target, Refuser)
    left = target.heal()
    if left:
        raise HasuiteError(
            "the refusal's rules could not be removed: " + "; ".join(left) + "; `hasuite lab "
            "down` removes them (as root)"
        )


def _one_round(  # size: one pause, with its probes and optional load around it, then judged
    target: Target,
    duration: float,
    *,
    probe_hz: float,
    settle_s: float,
    timeout_s: float,
    tolerance_s: float,
    probe: str,
    component: str,
    progress: Progress,
    load_dir: Path | None,
    resolution_s: float,
    fault: str,
) -> list[CalibrationResult]:
    endpoints = target.endpoints()
    probes = ProbeSet(
        ProbeConfig(
            app_url=endpoints.app_url,
            token=endpoints.probe_token,
            rate_hz=probe_hz,
            timeout_s=timeout_s,
            probes=(probe,),
        )
    )
    progress(f"{duration:g} s: probing {probe} at {probe_hz:g} Hz, settling {settle_s:g} s")
    load = _load_round(target, duration, settle_s, timeout_s, load_dir) if load_dir else None
    probes.start()
    try:
        time.sleep(settle_s * (2 if load else 1))  # Locust's users spawn within a second
        before = [s for s in probes.samples() if s.probe == probe]
        if not any(s.ok for s in before):
            seen = sorted({s.error or "ok" for s in before})
            raise HasuiteError(
                f"calibration needs a healthy app path: {probe} had no success in the "
                f"{settle_s:g} s before the pause ({len(before)} samples, errors: "
                f"{', '.join(seen) or 'no answer'}); check `hasuite lab status`"
            )
        try:
            injection = _take_out(target, fault, component)
            paused_at = time.monotonic()  # the SIGSTOP has been sent, the refusal is in
            done = "paused" if fault == "pause" else "refusing connections to"
            progress(f"{duration:g} s: {done} {', '.join(injection.instances)}")
            time.sleep(duration)
            resumed_at = time.monotonic()  # the SIGCONT (the heal) is about to be sent
        finally:
            _bring_back(target, fault)
        resume_returned = time.monotonic()
        time.sleep(settle_s)
    finally:
        probes.stop()
        load_result = load.stop(grace_s=3.0) if load else None
    uncertainty = (paused_at - injection.at) + (resume_returned - resumed_at)
    views = [("probe", [s for s in probes.samples() if s.probe == probe])]
    if load_result is not None:
        views.append(("load", list(load_result.records.samples)))
    out = []
    for view, samples in views:
        result = build_calibration_result(
            samples,
            duration_s=duration,
            paused_at=paused_at,
            resumed_at=resumed_at,
            resolution_s=resolution_s,
            tolerance_s=tolerance_s,
            reference_uncertainty_s=uncertainty,
        )
        result = dataclasses.replace(result, view=view, fault=fault)
        log.info("calibration %s", result)
        progress(f"{duration:g} s, {view}: {describe(result)}")
        out.append(result)
    return out


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def describe(result: CalibrationResult) -> str:
    """One line for people: reference, measured, error and where it came from."""
    verdict = "within" if result.within_tolerance else "NOT within"
    bound = ">= " if result.at_least else ""
    return (
        f"reference {_num(result.reference_s)} s, measured {bound}{_num(result.measured_s)} s, "
        f"error {_num(result.error_s, signed=True)} s ({verdict} {result.tolerance_s:g} s); "
        f"raw edges {_num(result.raw_outage_s)} s = last success {_num(result.start_lead_s)} s "
        f"before the pause, first success {_num(result.end_lag_s)} s after the resume; "
        f"first failure {_num(result.detection_s)} s after the pause; "
        f"{result.failures} failed of {result.samples} samples"
    )
