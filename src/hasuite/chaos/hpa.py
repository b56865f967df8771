"""Chaos Toolkit action for HPA-SCALES: push the app's HPA with load and watch it scale.

The provider beside the other providers; the Kubernetes work is in
:mod:`hasuite.drivers.k8s.runtime.hpa`. The measurements go to the active session through the
registry.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hasuite.chaos._common import record, target_from
from hasuite.drivers.k8s.runtime.hpa import CpuStimulus, LoadControl, LocustLoad, run_hpa_scale
from hasuite.drivers.k8s.runtime.target import KubeTarget
from hasuite.model import Injection
from hasuite.session.registry import active_session

log = logging.getLogger(__name__)

__all__ = ["scale_under_load"]


def scale_under_load(
    profile: str = "rising",
    up_bound_s: float = 120.0,
    ready_bound_s: float = 180.0,
    down_slack_s: float = 60.0,
    interval_s: float = 2.0,
    millicores: int = 0,
    burn_ms: int = 50,
    configuration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Chaos Toolkit action: push the app's HPA and watch it scale.

    ``millicores`` > 0: a metered CPU stimulus of that many millicores (:class:`CpuStimulus`,
    ``burn_ms`` per request); else the ``profile`` load (Locust).

    Returns the observations and the HPA-SCALES measurements (JSON-able, into the journal).
    On a target without an HPA it returns ``{"skipped": reason}`` and runs nothing.
    """
    target = target_from(configuration)
    if not isinstance(target, KubeTarget):
        reason = (
            f"target {target.name!r} has no HorizontalPodAutoscaler; HPA-SCALES is judged on "
            "--target kind or cluster only"
        )
        log.info("django-hpa-scale: %s", reason)
        return {"skipped": reason}
    kube: KubeTarget = target
    run_dir = Path(str((configuration or {}).get("run_dir") or "reports/adhoc"))
    session = active_session()
    out_dir = session.out_dir if session is not None else run_dir / "django-hpa-scale"
    load, stimulus = _stimulus(target, profile, millicores, burn_ms, out_dir)

    class RecordedLoad:
        """The load's start goes on the session's timeline (as the experiment's stimulus)."""

        def start(self) -> None:
            load.start()
            at, wall = kube.clock()
            record(
                Injection(
                    at=at,
                    wall=wall,
                    component="django",
                    action=stimulus,
                    instances=("hpa/django",),
                )
            )

        def stop(self) -> None:
            load.stop()

    run = run_hpa_scale(
        kube,
        RecordedLoad(),
        up_bound_s=up_bound_s,
        ready_bound_s=ready_bound_s,
        down_slack_s=down_slack_s,
        interval_s=interval_s,
    )
    if session is not None:
        session.add_measurements(run.measurements)
    for error in run.errors:
        log.warning("django-hpa-scale: HPA read failed: %s", error)
    out = run.to_dict()
    if isinstance(load, CpuStimulus):
        out["stimulus"] = {
            "millicores": load.millicores,
            "rate_per_s": load.rate,
            "sent": load.sent,
            "failed": load.failed,
            "skipped": load.skipped,
        }
    return out


def _stimulus(
    target: KubeTarget, profile: str, millicores: int, burn_ms: int, out_dir: Path
) -> tuple[LoadControl, str]:
    """The HPA's stimulus and its name on the timeline: metered CPU, or a Locust profile."""
    endpoints = target.endpoints()
    if millicores > 0:
        token = endpoints.probe_token or ""
        cpu = CpuStimulus(
            host=endpoints.app_url, token=token, millicores=millicores, burn_ms=burn_ms
        )
        return cpu, f"cpu-{millicores}m"
    locust = LocustLoad(host=endpoints.app_url, profile=profile, run_dir=out_dir / "hpa")
    return locust, f"load-{profile}"
