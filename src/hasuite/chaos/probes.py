"""Chaos Toolkit probes: is the stack settled, wait until a component recovered (bounded)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hasuite.chaos._common import target_from
from hasuite.drivers.alerting import AlertingError, fetch_alerts
from hasuite.errors import HasuiteError
from hasuite.model import Measurement
from hasuite.session.registry import active_session
from hasuite.session.waits import Settled, bounded, wait_settled
from hasuite.session.waits import wait_recovered as _wait_recovered

__all__ = ["stack_healthy", "wait_recovered"]


#: Longest wait for the stack to settle before a fault (scaled by the timeout multiplier). An
#: alert the experiment judges must have resolved first; the "changed" alerts
#: (PostgresLeaderChanged, RedisMasterChanged) look back 3 min (env/alerts/rules:
#: max_over_time(...[3m])), so where one is judged the wait is up to that window, plus scrape
#: and evaluation.
SETTLE_TIMEOUT_S = 240.0
#: The alert severities that keep the stack from being settled.
SETTLE_SEVERITIES = ("critical", "warning")

#: Whether an active alert (name, severity) must resolve before the fault.
AlertFilter = Callable[[str, str], bool]


def _active_alerts(
    url: str, notes: list[str], spoils: AlertFilter | None = None
) -> Callable[[], list[str]] | None:
    """Names of the alerts active in Alertmanager at ``url`` that keep the stack from being
    settled: of the settle severities and, given ``spoils`` (the session's judged alerts), only
    those that would spoil a verdict; the others are noted once, not waited for. An unreachable
    Alertmanager is a note, not a block (the experiments that judge alerts refuse the fault
    without it)."""
    if not url:
        return None
    ignored: set[str] = set()
    unreachable: list[str] = []

    def active() -> list[str]:
        try:
            alerts = fetch_alerts(url)
        except AlertingError as exc:
            if not unreachable:
                unreachable.append(str(exc))
                notes.append(f"alerts not checked: {exc}")
            return []
        found = [
            a for a in alerts.values() if a.state == "active" and a.severity in SETTLE_SEVERITIES
        ]
        blocking = [a.alertname for a in found if spoils is None or spoils(a.alertname, a.severity)]
        new = {a.alertname for a in found} - set(blocking) - ignored
        if new:
            ignored.update(new)
            notes.append(f"not waited on (judged by no promise here): {', '.join(sorted(new))}")
        return blocking

    return active


def stack_healthy(
    timeout_s: float = 30.0,
    settle_timeout_s: float = SETTLE_TIMEOUT_S,
    configuration: Mapping[str, Any] | None = None,
) -> bool:
    """True once the stack is settled for the next fault, within a bound.

    Settled: every component ready with one Postgres leader and one Redis master, every replica
    caught up (zero lag where the target tells), and no alert of an earlier fault still active.
    The wait (at most ``max(timeout_s, settle_timeout_s)``, scaled by the session's timeout
    multiplier) becomes the ``settle_s`` measurement; what did not settle becomes the ERROR
    reason.
    """
    target = target_from(configuration)
    session = active_session()
    scale = session.timeout_multiplier if session is not None else 1.0
    before_fault = session is None or session.hypothesis_runs == 0
    # after the fault (chaoslib runs the hypothesis again) its own alerts may still be active:
    # only health is asked then, within timeout_s
    bound = (max(timeout_s, settle_timeout_s) if before_fault else timeout_s) * scale
    notes: list[str] = []
    url = target.endpoints().alertmanager_url if before_fault else ""
    spoils = session.alert_spoils_judgement if session is not None else None
    active = _active_alerts(url, notes, spoils)
    try:
        settled = bounded(
            lambda: wait_settled(target, timeout_s=bound, active_alerts=active),
            bound + 30.0,
            "stack settling",
        )
    except HasuiteError as exc:
        settled = Settled(ok=False, waited_s=bound, problems=(str(exc),))
    if session is not None and before_fault:
        detail = (
            f"settled after {settled.waited_s:.1f} s"
            if settled.ok
            else f"not settled after {settled.waited_s:.0f} s: {'; '.join(settled.problems)}"
        )
        if settled.waited_on:
            notes = [f"waited on: {'; '.join(settled.waited_on)}", *notes]
        session.add_measurements(
            [
                Measurement(
                    name="settle_s",
                    value=settled.waited_s,
                    unit="s",
                    at_least=not settled.ok,
                    detail="; ".join([detail, *notes]),
                )
            ]
        )
        if not settled.ok:
            session.last_health = (
                f"the stack did not settle within {bound:.0f} s: {'; '.join(settled.problems)}"
            )
    return settled.ok


def wait_recovered(
    component: str,
    timeout_s: float = 120.0,
    stable_s: float = 3.0,
    configuration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Wait (at most ``timeout_s``) until ``component`` is back; mark "recovered" on the timeline.

    Raises (activity failed) when it is not back in time; the verdicts then show it.
    """
    target = target_from(configuration)
    session = active_session()
    injection = None
    if session is not None and session.refused is not None:
        return {"component": component, "recovered_after_s": None, "seen": "no fault injected"}
    if session is not None:
        injection = next(
            (i for i in reversed(session.injections) if i.component == component), None
        )
    recovery = bounded(
        lambda: _wait_recovered(
            target, component, timeout_s=timeout_s, injection=injection, stable_s=stable_s
        ),
        timeout_s + stable_s + 15.0,
        f"wait for {component} to recover",
    )
    if session is not None:
        session.note_recovered(component, recovery)
    after = recovery.at - injection.at if injection else None
    return {"component": component, "recovered_after_s": after, "seen": recovery.detail}
