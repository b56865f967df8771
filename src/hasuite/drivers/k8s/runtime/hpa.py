"""HPA observation on the Kubernetes targets: one scale cycle, observed and measured.

``observe_hpa`` reads the app's HPA (desired/current replicas, its scale-down window) and counts
the ready pods of its Deployment: one :class:`~hasuite.analysis.hpa.HpaObservation`.
``run_hpa_scale`` drives one scale cycle: wait until the HPA has metrics (its ScalingActive
condition), start the stimulus, sample until the HPA has scaled up and
every desired pod is ready (or the promise's bounds are exhausted), stop the load, sample until the
replicas are back at the minimum (or the window + slack is exhausted), then measure (pure,
:mod:`hasuite.analysis.hpa`). Every wait is bounded; the clock and sleep are injectable.

The Chaos Toolkit provider that drives it is :func:`hasuite.chaos.hpa.scale_under_load`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from hasuite.analysis.hpa import HpaObservation, measure_hpa
from hasuite.drivers.k8s.names import NAMESPACE
from hasuite.drivers.k8s.runtime.members import COMPONENTS
from hasuite.drivers.k8s.runtime.target import KubeTarget
from hasuite.errors import ConfigError, HasuiteError
from hasuite.model import Measurement

log = logging.getLogger(__name__)

#: Kubernetes' default scale-down stabilization window, used when the HPA does not say.
DEFAULT_SCALE_DOWN_WINDOW_S = 300


class LoadControl(Protocol):
    """Starts and stops the load that pushes the HPA (Locust in production, a fake in tests)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def observe_hpa(
    target: KubeTarget,
    *,
    hpa: str = "django",
    component: str = "django",
    clock: Callable[[], tuple[float, float]] | None = None,
) -> tuple[HpaObservation, int | None]:
    """One observation of ``hpa`` and the ready pods of ``component``; plus its window (s)."""
    at, wall = (clock or target.clock)()
    status = target.observe_hpa(hpa)
    pods = target.api.list_pods(NAMESPACE, COMPONENTS[component][0])
    ready = sum(1 for p in pods if p.ready)
    return (
        HpaObservation(
            at=at,
            wall=wall,
            desired=status.desired_replicas,
            current=status.current_replicas,
            ready=ready,
            min_replicas=status.min_replicas,
            max_replicas=status.max_replicas,
        ),
        status.scale_down_window_s,
    )


@dataclass(kw_only=True)
class HpaRun:
    """What one scale cycle saw (the observations stay for the report)."""

    observations: list[HpaObservation] = field(default_factory=list)
    load_start: float = 0.0
    load_stop: float = 0.0
    end: float = 0.0
    window_s: float = DEFAULT_SCALE_DOWN_WINDOW_S
    measurements: tuple[Measurement, ...] = ()
    errors: list[str] = field(default_factory=list)
    metrics_wait_s: float = 0.0  # how long the HPA took to have metrics before the stimulus

    def to_dict(self) -> dict[str, Any]:
        return {
            "load_start": self.load_start,
            "load_stop": self.load_stop,
            "end": self.end,
            "scale_down_window_s": self.window_s,
            "metrics_wait_s": self.metrics_wait_s,
            "measurements": [asdict(m) for m in self.measurements],
            "observations": [asdict(o) for o in self.observations],
            "errors": list(self.errors),
        }


def run_hpa_scale(
    target: KubeTarget,
    load: LoadControl,
    *,
    up_bound_s: float = 120.0,
    ready_bound_s: float = 180.0,
    down_slack_s: float = 60.0,
    window_s: float | None = None,
    interval_s: float = 1.0,
    hpa: str = "django",
    metrics_bound_s: float = 180.0,
    sleep: Callable[[float], None] = time.sleep,
) -> HpaRun:
    """One scale-up / scale-down cycle under ``load`` (bounded: ready bound, then window+slack).

    The clock starts once the HPA has metrics (:func:`wait_for_metrics`), so it times the HPA,
    not metrics-server's start. A failed HPA read is kept as an error and sampling goes on; the
    load is always stopped.
    """
    if interval_s <= 0:
        raise ConfigError(f"interval_s must be > 0, got {interval_s}")
    run = HpaRun()

    def sample() -> HpaObservation | None:
        try:
            obs, window = observe_hpa(target, hpa=hpa)
        except HasuiteError as exc:
            run.errors.append(str(exc))
            return None
        except Exception as exc:  # the kubernetes client raises its own errors
            run.errors.append(f"{type(exc).__name__}: {exc}")
            return None
        run.observations.append(obs)
        if window_s is None and window is not None:
            run.window_s = float(window)
        return obs

    if window_s is not None:
        run.window_s = float(window_s)

    def now() -> float:
        return target.clock()[0]

    run.metrics_wait_s = wait_for_metrics(
        target, hpa, bound_s=metrics_bound_s, interval_s=interval_s, sleep=sleep
    )
    load.start()
    run.load_start = now()
    try:
        # Phase 1: under load until scaled up and every desired pod is ready, bounded by the
        # later of the two promise bounds (scaling up late still lets us measure how late).
        deadline = run.load_start + max(up_bound_s, ready_bound_s)
        peak = 0
        while now() < deadline:
            obs = sample()
            if obs is not None and obs.desired > obs.min_replicas:
                peak = max(peak, obs.desired)
                if obs.ready >= peak:
                    break
            sleep(interval_s)
    finally:
        load.stop()
        run.load_stop = now()
    # Phase 2: load stopped; wait for the return to the minimum within window + slack.
    deadline = run.load_stop + run.window_s + down_slack_s
    scaled_up = any(o.desired > o.min_replicas for o in run.observations)
    while scaled_up and now() < deadline:
        obs = sample()
        if obs is not None and obs.desired == obs.min_replicas == obs.current:
            break
        sleep(interval_s)
    run.end = now()
    run.measurements = measure_hpa(
        run.observations,
        load_start=run.load_start,
        load_stop=run.load_stop,
        window_s=run.window_s,
        end=run.end,
    )
    return run


def wait_for_metrics(
    target: KubeTarget,
    hpa: str,
    *,
    bound_s: float,
    interval_s: float,
    sleep: Callable[[float], None],
) -> float:
    """Seconds until ``hpa`` reports ScalingActive (it has metrics to act on); HasuiteError
    after ``bound_s``. An HPA that does not report the condition counts as ready."""
    asked = target.clock()[0]
    status = target.observe_hpa(hpa)
    while status.scaling_active is False and target.clock()[0] - asked < bound_s:
        sleep(interval_s)
        status = target.observe_hpa(hpa)
    if status.scaling_active is False:
        raise HasuiteError(
            f"HPA {hpa} has no metrics after {bound_s:.0f} s (ScalingActive False): is "
            "metrics-server up, and does every container of the pod request CPU? The stimulus "
            "was not started"
        )
    return target.clock()[0] - asked


@dataclass(kw_only=True)
class LocustLoad:
    """LoadControl over hasuite.drivers.load (Locust as a child process, bounded stop)."""

    host: str
    profile: str
    run_dir: Path
    _run: Any = None

    def start(self) -> None:
        from hasuite.drivers.load import load_profile, start_load

        self._run = start_load(self.host, load_profile(self.profile), run_dir=self.run_dir)

    def stop(self) -> None:
        if self._run is not None:
            self._run.stop()


@dataclass(kw_only=True)
class CpuStimulus:
    """LoadControl: a metered CPU stimulus of ``millicores`` on the app, whatever the machine.

    ``millicores / burn_ms`` requests per second to ``/probe/burn?ms=burn_ms``, open loop (on
    a schedule, not after each answer), each spending ``burn_ms`` of a worker's CPU time: the
    pattern of Kubernetes' own autoscaling e2e (its resource consumer), through the app's
    Service so that the pods share it. It is at its level from its first second, so the
    promise's clock starts at ``start``. Stops by itself after ``max_s``. Written here rather
    than with Locust: one endpoint at an exact rate, with no user behaviour to model.
    """

    host: str
    token: str
    millicores: int
    burn_ms: int = 50
    max_s: float = 900.0
    workers: int = 16
    sent: int = 0
    failed: int = 0
    skipped: int = 0  # ticks with every worker still busy (the app answers too slowly)
    _stop: Any = None
    _thread: Any = None

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.millicores / self.burn_ms

    def start(self) -> None:
        import threading

        if not self.token:
            raise ConfigError("CPU stimulus: the app's probe token is not known (endpoints)")
        if not 0 < self.burn_ms <= 500 or self.millicores < self.burn_ms:
            raise ConfigError(
                f"CPU stimulus: burn_ms must be in 1..500 and millicores >= burn_ms, got "
                f"{self.millicores} m / {self.burn_ms} ms"
            )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drive, name="cpu-stimulus", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=15)

    def _drive(self) -> None:
        import threading
        from concurrent.futures import ThreadPoolExecutor

        # a free worker per request in flight; the counters are shared with the workers
        free = threading.BoundedSemaphore(self.workers)
        counted = threading.Lock()
        period = 1.0 / self.rate
        url = f"{self.host.rstrip('/')}/probe/burn?ms={self.burn_ms}"
        begin = time.monotonic()
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            tick = 0
            while not self._stop.is_set() and time.monotonic() - begin < self.max_s:
                if free.acquire(blocking=False):
                    pool.submit(self._one, url, free, counted)
                else:
                    self.skipped += 1
                tick += 1
                self._stop.wait(max(0.0, begin + tick * period - time.monotonic()))

    def _one(self, url: str, free: Any, counted: Any) -> None:
        import urllib.request

        request = urllib.request.Request(url, headers={"X-Probe-Token": self.token})
        failed = False
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                answer.read()
        except Exception:  # an answer that failed still spent CPU or not: counted, not raised
            failed = True
        finally:
            with counted:
                self.sent += 1
                self.failed += failed
            free.release()
