"""Chaos Toolkit actions: faults by component and role, each bounded by its own timeout.

chaoslib does not enforce ``timeout`` on Python providers, so every action here does. Each
returns the injection (what was hit, wall and monotonic time) as a JSON-able dict and puts its
instant on the active experiment's timeline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hasuite.chaos._common import record, refuse_if_blocked, target_from
from hasuite.errors import HasuiteError
from hasuite.model import Injection
from hasuite.session import signals
from hasuite.session.signals import UNDO_S
from hasuite.session.waits import bounded
from hasuite.target import Target

__all__ = ["crash", "pause", "restore", "resume", "rollout", "stop"]


def _what(verb: str, component: str, role: str | None, count: int = 1) -> str:
    who = f"{component} {role}" if role else component
    return f"{verb} {who}" + (f" x{count}" if count != 1 else "")


def _inject(
    what: str,
    fault: Callable[[Target], Injection],
    timeout_s: float,
    configuration: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Refuse when the session says so, else run ``fault`` on the target within ``timeout_s``."""
    refuse_if_blocked(what)
    target = target_from(configuration)
    return record(bounded(lambda: fault(target), timeout_s, what))


def crash(
    component: str,
    role: str | None = None,
    count: int = 1,
    timeout_s: float = 30.0,
    configuration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Hard-kill (SIGKILL) ``count`` instances of ``component`` holding ``role``."""
    return _inject(
        _what("crash", component, role, count),
        lambda t: t.crash(component, role=role, count=count),
        timeout_s,
        configuration,
    )


def stop(
    component: str,
    role: str | None = None,
    count: int = 1,
    timeout_s: float = 30.0,
    configuration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Gracefully stop (SIGTERM) ``count`` instances of ``component`` holding ``role``."""
    return _inject(
        _what("stop", component, role, count),
        lambda t: t.stop(component, role=role, count=count),
        timeout_s,
        configuration,
    )


def pause(
    component: str,
    role: str | None = None,
    timeout_s: float = 30.0,
    configuration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Freeze (SIGSTOP) one instance; ``resume`` or ``restore`` unfreezes it."""
    return _inject(
        _what("pause", component, role),
        lambda t: t.pause(component, role=role),
        timeout_s,
        configuration,
    )


def resume(
    timeout_s: float = 30.0, configuration: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Unfreeze everything ``pause`` froze."""
    target = target_from(configuration)
    bounded(target.resume, timeout_s, "resume paused instances")
    return {"resumed": True}


def rollout(
    component: str,
    timeout_s: float = 300.0,
    configuration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Rolling restart of every instance of ``component`` (returns when the rollout is done)."""
    return _inject(
        _what("rollout", component, None),
        lambda t: t.rollout(component),
        timeout_s,
        configuration,
    )


def restore(
    timeout_s: float = 180.0, configuration: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Rollback: resume paused processes, start stopped ones, wait until the stack is healthy.

    In an interrupted run (a signal) it undoes the fault within UNDO_S and does not wait for
    health: the process must be gone before CI's SIGKILL; the stack heals on its own, and the
    next run starts from a healthy stack or repairs it."""
    target = target_from(configuration)
    if signals.interrupted():
        try:
            bounded(target.restore, UNDO_S, "undo the fault (interrupted)")
        except HasuiteError:
            return {"restored": "undone; not waited for health (interrupted)"}
        return {"restored": True}
    bounded(target.restore, timeout_s, "restore the stack")
    return {"restored": True}
