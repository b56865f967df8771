"""HPA observation on the Kubernetes targets: one scale cycle, observed and measured.

``observe_hpa`` reads the app's HPA (desired/current replicas, its scale-down window) and counts
the ready pods of its Deployment: one :class:`~hasuite.analysis.hpa.HpaObservation`.
``run_hpa_scale`` drives one scale cycle: start the load, sample until the HPA has scaled up and
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "load_start": self.load_start,
            "load_stop": self.load_stop,
            "end": self.end,
            "scale_down_window_s": self.window_s,
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
    sleep: Callable[[float], None] = time.sleep,
) -> HpaRun:
    """One scale-up / scale-down cycle under ``load`` (bounded: ready bound, then window+slack).

    A failed HPA read is kept as an error and sampling goes on; the load is always stopped.
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
