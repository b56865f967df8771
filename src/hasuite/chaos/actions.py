"""Chaos Toolkit actions: faults by component and role, each bounded by its own timeout.

chaoslib does not enforce ``timeout`` on Python providers, so every action here does. Each
returns the injection (what was hit, wall and monotonic time) as a JSON-able dict and puts its
instant on the active experiment's timeline.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hasuite.chaos._common import record, refuse_if_blocked, target_from
from hasuite.errors import (
    ConfigError,
    FaultUnavailable,
    HasuiteError,
    InjectionError,
    PartitionUnavailable,
)
from hasuite.model import Event, Injection
from hasuite.session import signals
from hasuite.session.registry import active_session
from hasuite.session.signals import UNDO_S
from hasuite.session.waits import bounded
from hasuite.target import Partitioner, Target

log = logging.getLogger(__name__)

__all__ = ["crash", "partition", "pause", "restore", "resume", "rollout", "stop"]

#: The longest cut a partition action keeps (s): a longer one is a typo, not an experiment.
MAX_PARTITION_S = 600.0


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
    hold_s: float | None = None,
    configuration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Hard-kill (SIGKILL) ``count`` instances of ``component`` holding ``role``; ``hold_s``:
    keep them down that long where the target can (a crash that stays down, not restarted in
    place)."""
    try:
        return _inject(
            _what("crash", component, role, count),
            lambda t: t.crash(component, role=role, count=count, hold_s=hold_s),
            timeout_s,
            configuration,
        )
    except FaultUnavailable as exc:
        return _skip(f"{exc} (the experiment needs a crash that stays down {hold_s} s)")


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


def _note(kind: str, component: str, detail: Mapping[str, Any], at: float | None = None) -> None:
    """An event on the active session's timeline (nothing without a session)."""
    session = active_session()
    if session is None:
        return
    now = session.clock()
    at = now if at is None else at
    session.note_event(
        Event(
            at=at, wall=session.wall() - (now - at), kind=kind, component=component, detail=detail
        )
    )


def _skip(reason: str) -> dict[str, Any]:
    """The fault cannot be made here: the experiment's promises are SKIPPED with why."""
    session = active_session()
    if session is not None:
        session.skip(reason)
    log.warning("fault skipped: %s", reason)
    return {"skipped": reason}


def _heal(target: Partitioner, component: str, member: str, timeout_s: float) -> list[str]:
    """Heal (within UNDO_S when interrupted) and put the heal on the timeline."""
    limit = UNDO_S if signals.interrupted() else timeout_s
    try:
        left = bounded(target.heal, limit, f"heal the partition of {member}")
    except HasuiteError as exc:
        left = [str(exc)]
    _note("healed", component, {"member": member, "left": list(left)})
    return left


# size: one bounded sequence (check, cut, hold, heal) whose heal must follow every exit.
def partition(
    component: str,
    role: str | None = None,
    cut_from: Sequence[str] = (),
    keep: Sequence[str] = (),
    duration_s: float = 60.0,
    timeout_s: float = 30.0,
    configuration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Cut the ``component`` instance holding ``role`` off from the ``cut_from`` peer sets
    (``keep``'s still reach it) for ``duration_s``, then heal.

    The heal follows every exit: the end of the hold, an error, an interrupt (within UNDO_S;
    the rollbacks' restore heals as well). The cut (the injection and a ``cut`` event naming the
    member and the address the app's answers give for it) and the heal (``healed``) go on the
    timeline. A machine or target that cannot partition (:class:`PartitionUnavailable`) makes
    the experiment SKIPPED with the reason, nothing injected."""
    what = f"partition {component} {role or ''} from {', '.join(cut_from)}".replace("  ", " ")
    if not 0 < duration_s <= MAX_PARTITION_S:
        raise ConfigError(
            f"{what}: duration_s must be in (0, {MAX_PARTITION_S:g}], got {duration_s}"
        )
    refuse_if_blocked(what)
    target = target_from(configuration)
    if not isinstance(target, Partitioner):
        return _skip(f"the {target.name} target cannot cut a member off (no partition support)")
    try:
        injection = bounded(
            lambda: target.partition(
                component, role=role, cut_from=tuple(cut_from), keep=tuple(keep)
            ),
            timeout_s,
            what,
        )
    except PartitionUnavailable as exc:
        return _skip(f"{exc} (the experiment needs it to cut {component} {role or ''} off)")
    member = injection.instances[0] if injection.instances else ""
    left: list[str] = []
    try:
        out = record(injection)
        server = bounded(lambda: target.server_address(component, member), timeout_s, "address")
        _note(
            "cut",
            component,
            {
                "member": member,
                "server": server,
                "component": component,
                "role": role,
                "cut_from": list(cut_from),
                "keep": list(keep),
                "duration_s": duration_s,
            },
            at=injection.at,
        )
        session = active_session()
        (session.sleep if session is not None else time.sleep)(duration_s)
    finally:
        left = _heal(target, component, member, timeout_s)
    if left:
        raise InjectionError(f"{what}: the partition was not healed: {'; '.join(left)}")
    return {**out, "healed": True, "duration_s": duration_s}
