"""HorizontalPodAutoscaler behaviour under load (pure): the HPA-SCALES measurements.

The driver samples the HPA (desired and current replicas) and the ready pods of its Deployment
over time; these functions turn those observations plus the load's start and stop instants into:

- ``hpa_scale_up_s``: load start to the first observation of desiredReplicas above the minimum;
- ``hpa_pods_ready_s``: load start to the first observation where the ready pods reach the peak
  desiredReplicas seen while the load ran (every new pod is ready);
- ``hpa_scale_down_excess_s``: time beyond the scale-down stabilization window, counted from the
  load's stop, until desired and current replicas are both back at the minimum (0 when earlier).

A condition still not met when the recording ended gives a lower bound (``at_least``); a value
that cannot exist (the HPA never scaled up) is None with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hasuite.model import Measurement

__all__ = [
    "HpaObservation",
    "measure_hpa",
    "measure_hpa_pods_ready",
    "measure_hpa_scale_down_excess",
    "measure_hpa_scale_up",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class HpaObservation:
    """One look at the HPA and its pods (``at`` monotonic, ``wall`` epoch seconds)."""

    at: float
    wall: float
    desired: int
    current: int
    ready: int
    min_replicas: int
    max_replicas: int


def _after(obs: Sequence[HpaObservation], start: float) -> list[HpaObservation]:
    return sorted((o for o in obs if o.at >= start), key=lambda o: o.at)


def measure_hpa_scale_up(
    obs: Sequence[HpaObservation], *, load_start: float, end: float
) -> Measurement:
    """Load start to desiredReplicas above the minimum."""
    name = "hpa_scale_up_s"
    seen = _after(obs, load_start)
    if not seen:
        return Measurement(name=name, value=None, unit="s", detail="no HPA observation after load")
    hit = next((o for o in seen if o.desired > o.min_replicas), None)
    if hit is None:
        waited = max(end - load_start, 0.0)
        top = max(o.desired for o in seen)
        return Measurement(
            name=name,
            value=waited,
            unit="s",
            at_least=True,
            detail=f"desiredReplicas stayed at {top} (minimum {seen[0].min_replicas}) for "
            f"{waited:.1f} s of load",
        )
    return Measurement(
        name=name,
        value=hit.at - load_start,
        unit="s",
        detail=f"desiredReplicas {hit.desired} > minimum {hit.min_replicas}",
    )


def measure_hpa_pods_ready(
    obs: Sequence[HpaObservation], *, load_start: float, load_stop: float, end: float
) -> Measurement:
    """Load start to the ready pods reaching the peak desiredReplicas of the load phase."""
    name = "hpa_pods_ready_s"
    during = [o for o in _after(obs, load_start) if o.at <= load_stop]
    scaled = [o for o in during if o.desired > o.min_replicas]
    if not scaled:
        return Measurement(
            name=name,
            value=None,
            unit="s",
            detail="the HPA never asked for more than the minimum: no new pods to wait for",
        )
    peak = max(o.desired for o in scaled)
    peak_at = next(o.at for o in scaled if o.desired == peak)
    hit = next((o for o in _after(obs, peak_at) if o.ready >= peak), None)
    if hit is None:
        waited = max(end - load_start, 0.0)
        best = max(o.ready for o in _after(obs, peak_at))
        return Measurement(
            name=name,
            value=waited,
            unit="s",
            at_least=True,
            detail=f"at most {best} of {peak} desired pods ready within {waited:.1f} s",
        )
    return Measurement(
        name=name,
        value=hit.at - load_start,
        unit="s",
        detail=f"{hit.ready} pods ready (peak desired {peak})",
    )


def measure_hpa_scale_down_excess(
    obs: Sequence[HpaObservation], *, load_stop: float, window_s: float, end: float
) -> Measurement:
    """Time beyond ``window_s`` after the load stopped until replicas are back at the minimum."""
    name = "hpa_scale_down_excess_s"
    if not any(o.desired > o.min_replicas for o in obs):
        return Measurement(
            name=name,
            value=None,
            unit="s",
            detail="the HPA never scaled up: there was nothing to scale down",
        )
    seen = _after(obs, load_stop)
    if not seen:
        return Measurement(name=name, value=None, unit="s", detail="no HPA observation after load")
    back = next((o for o in seen if o.desired == o.min_replicas == o.current), None)
    if back is None:
        took = max(end - load_stop, 0.0)
        last = seen[-1]
        return Measurement(
            name=name,
            value=max(took - window_s, 0.0),
            unit="s",
            at_least=True,
            detail=f"still {last.current} replicas (desired {last.desired}, minimum "
            f"{last.min_replicas}) {took:.1f} s after the load stopped (window {window_s:g} s)",
        )
    took = back.at - load_stop
    return Measurement(
        name=name,
        value=max(took - window_s, 0.0),
        unit="s",
        detail=f"back at {back.min_replicas} replicas {took:.1f} s after the load stopped "
        f"(window {window_s:g} s)",
    )


def measure_hpa(
    obs: Sequence[HpaObservation],
    *,
    load_start: float,
    load_stop: float,
    window_s: float,
    end: float,
) -> tuple[Measurement, Measurement, Measurement]:
    """The three HPA-SCALES measurements."""
    return (
        measure_hpa_scale_up(obs, load_start=load_start, end=load_stop),
        measure_hpa_pods_ready(obs, load_start=load_start, load_stop=load_stop, end=load_stop),
        measure_hpa_scale_down_excess(obs, load_stop=load_stop, window_s=window_s, end=end),
    )
