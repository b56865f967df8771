"""Chaos Toolkit actions: faults by component and role, each bounded by its own timeout.

chaoslib does not enforce ``timeout`` on Python providers, so every action here does. Each
returns the injection (what was hit, wall and monotonic time) as a JSON-able dict and puts its
instant on the active experiment's timeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hasuite.chaos._common import record, refuse_if_blocked, target_from
from hasuite.run import bounded

__all__ = ["crash", "pause", "restore", "resume", "rollout", "stop"]


def _what(verb: str, component: str, role: str | None, count: int = 1) -> str:
    who = f"{component} {role}" if role else component
    return f"{verb} {who}" + (f" x{count}" if count != 1 else "")


def crash(
    component: str,
    role: str | None = None,
    count: int = 1,
    timeout_s: float = 30.0,
    configuration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Hard-kill (SIGKILL) ``count`` instances of ``component`` holding ``role``."""
    refuse_if_blocked(_what("crash", component, role, count))
    target = target_from(configuration)
    inj = bounded(
        lambda: target.crash(component, role=role, count=count),
        timeout_s,
        _what("crash", component, role, count),
    )
    return record(inj)


def stop(
    component: str,
    role: str | None = None,
    count: int = 1,
    timeout_s: float = 30.0,
    configuration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Gracefully stop (SIGTERM) ``count`` instances of ``component`` holding ``role``."""
    refuse_if_blocked(_what("stop", component, role, count))
    target = target_from(configuration)
    inj = bounded(
        lambda: target.stop(component, role=role, count=count),
        timeout_s,
        _what("stop", component, role, count),
    )
    return record(inj)


def pause(
    component: str,
    role: str | None = None,
    timeout_s: float = 30.0,
    configuration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Freeze (SIGSTOP) one instance; ``resume`` or ``restore`` unfreezes it."""
    refuse_if_blocked(_what("pause", component, role))
    target = target_from(configuration)
    inj = bounded(
        lambda: target.pause(component, role=role), timeout_s, _what("pause", component, role)
    )
    return record(inj)


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
    refuse_if_blocked(_what("rollout", component, None))
    target = target_from(configuration)
    inj = bounded(lambda: target.rollout(component), timeout_s, _what("rollout", component, None))
    return record(inj)


def restore(
    timeout_s: float = 180.0, configuration: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Rollback: resume paused processes, start stopped ones, wait until the stack is healthy."""
    target = target_from(configuration)
    bounded(target.restore, timeout_s, "restore the stack")
    return {"restored": True}
