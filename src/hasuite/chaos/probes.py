"""Chaos Toolkit probes: is the stack healthy, wait until a component recovered (bounded)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hasuite.chaos._common import target_from
from hasuite.errors import HasuiteError
from hasuite.session.registry import active_session
from hasuite.session.waits import bounded, check_stack_healthy
from hasuite.session.waits import wait_recovered as _wait_recovered

__all__ = ["stack_healthy", "wait_recovered"]


def stack_healthy(timeout_s: float = 30.0, configuration: Mapping[str, Any] | None = None) -> bool:
    """True when every component is ready, with one Postgres leader and one Redis master.

    The reason for False goes to the active session (it becomes the ERROR reason).
    """
    target = target_from(configuration)
    try:
        healthy, why = bounded(lambda: check_stack_healthy(target), timeout_s, "stack health")
    except HasuiteError as exc:
        healthy, why = False, str(exc)
    session = active_session()
    if session is not None and not healthy:
        session.last_health = why
    return healthy


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
