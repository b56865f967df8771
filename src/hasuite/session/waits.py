"""Bounded waits used by the Chaos Toolkit providers (a stage of the run).

chaoslib does not enforce ``timeout`` on Python providers: :func:`bounded` does. The stack's
health (:func:`check_stack_healthy`) and the wait for recovery after a fault
(:func:`wait_recovered`) are bounded the same way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import requests

from hasuite.components import COMPONENTS, STEADY_STATE
from hasuite.errors import HasuiteError
from hasuite.model import (
    Injection,
)
from hasuite.target import Target

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The role that makes a component's instance "primary" (the one a failover must replace).
PRIMARY_ROLE = {c.name: c.primary for c in COMPONENTS if c.primary}
#: Components whose health makes "the stack healthy" (steady-state hypothesis).
STACK_COMPONENTS = STEADY_STATE


def bounded(fn: Callable[[], T], timeout_s: float, what: str) -> T:
    """Run ``fn`` in a daemon thread; raise HasuiteError when it takes over ``timeout_s``.

    chaoslib does not enforce ``timeout`` on Python providers: every provider wraps its work in
    this. A call that overruns keeps running in its (daemon) thread but cannot hang the run.
    """
    box: dict[str, Any] = {}

    def call() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    t = threading.Thread(target=call, name=f"bounded-{what}", daemon=True)
    t.start()
    t.join(timeout_s)
    if t.is_alive():
        raise HasuiteError(f"{what} did not finish within {timeout_s:.0f} s (abandoned)")
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value


def check_stack_healthy(
    target: Target, components: Sequence[str] = STACK_COMPONENTS, *, app_timeout_s: float = 2.0
) -> tuple[bool, str]:
    """(healthy, why): every instance ready, one primary per role-holding component, app ready."""
    problems: list[str] = []
    for component in components:
        try:
            found = target.instances(component)
        except HasuiteError as exc:
            problems.append(f"{component}: {exc}")
            continue
        down = [f"{i.name} ({i.detail or 'not ready'})" for i in found if not i.ready]
        if not found:
            problems.append(f"{component}: no instances")
        if down:
            problems.append(f"{component}: not ready: {', '.join(down)}")
        role = PRIMARY_ROLE.get(component)
        if role:
            holders = [i.name for i in found if i.role == role and i.ready]
            if len(holders) != 1:
                problems.append(f"{component}: {len(holders)} ready {role}(s) {holders}")
    try:
        url = target.endpoints().app_url.rstrip("/") + "/readyz"
        resp = requests.get(url, timeout=app_timeout_s)
        if resp.status_code != 200:
            # the body is not quoted: an error page may carry connection strings or secrets
            problems.append(f"app {url}: HTTP {resp.status_code} (see the app instances' logs)")
    except requests.RequestException as exc:
        problems.append(f"app: {type(exc).__name__}")
    return (not problems, "; ".join(problems) or "every component ready")


def settle_problems(
    target: Target, *, active_alerts: Callable[[], Sequence[str]] | None = None
) -> list[str]:
    """What keeps the stack from being settled for the next fault (empty: settled).

    Every instance ready with one primary each (:func:`check_stack_healthy`), every Postgres
    replica with zero lag where the target knows it, and no alert still active in Alertmanager
    (one left from an earlier fault would be counted against this one).
    """
    healthy, why = check_stack_healthy(target)
    problems = [] if healthy else [why]
    try:
        members = target.instances("postgres")
    except HasuiteError as exc:
        members = []
        problems.append(f"postgres: {exc}")
    lagging = [f"{m.name} {m.lag} B" for m in members if m.lag is not None and m.lag > 0]
    if lagging:
        problems.append(f"postgres replicas behind the leader: {', '.join(lagging)}")
    if active_alerts is not None:
        try:
            alerts = list(active_alerts())
        except HasuiteError as exc:
            alerts = []
            problems.append(f"alerts: {exc}")
        if alerts:
            problems.append(f"alerts still active: {', '.join(sorted(alerts))}")
    return problems


@dataclass(frozen=True, kw_only=True)
class Settled:
    """The outcome of :func:`wait_settled`: settled or not, after how long, and what was not."""

    ok: bool
    waited_s: float
    problems: tuple[str, ...] = ()
    #: what was waited on, each with how long it held the wait up (last words seen, seconds)
    waited_on: tuple[str, ...] = ()


def wait_settled(
    target: Target,
    *,
    timeout_s: float,
    active_alerts: Callable[[], Sequence[str]] | None = None,
    poll_s: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Settled:
    """Wait (at most ``timeout_s``) until :func:`settle_problems` finds nothing.

    Each problem seen is kept under its subject (the words before its first colon), with the
    time it held the wait up: a slow settle names its cause instead of only its length.
    """
    start = last = clock()
    held: dict[str, tuple[float, str]] = {}
    previous: list[str] = []
    while True:
        problems = settle_problems(target, active_alerts=active_alerts)
        now = clock()
        for problem in previous:  # what was wrong at the last poll held the wait up since
            subject = problem.split(":", 1)[0]
            held[subject] = (held.get(subject, (0.0, ""))[0] + now - last, problem)
        previous, last = problems, now
        waited = now - start
        waited_on = tuple(f"{text} ({seconds:.0f} s)" for seconds, text in held.values())
        if not problems:
            return Settled(ok=True, waited_s=waited, waited_on=waited_on)
        if waited >= timeout_s:
            return Settled(ok=False, waited_s=waited, problems=tuple(problems), waited_on=waited_on)
        sleep(min(poll_s, max(timeout_s - waited, 0.0)))


@dataclass(frozen=True, kw_only=True)
class Recovery:
    at: float
    wall: float
    detail: str


def wait_recovered(
    target: Target,
    component: str,
    *,
    timeout_s: float,
    injection: Injection | None = None,
    stable_s: float = 3.0,
    poll_s: float = 0.25,
    clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Recovery:
    """Wait until ``component`` is back per the control plane; return when it first was.

    Back = every instance ready, exactly one ready primary (leader/master) where the component
    has one, and, when ``injection`` hit a primary, the primary changed or the hit instance was
    seen not ready since; all of it continuously for ``stable_s``. HasuiteError after
    ``timeout_s`` with the last answer.
    """
    start = clock()
    deadline = start + timeout_s
    role = PRIMARY_ROLE.get(component)
    hit = set(injection.instances) if injection else set()
    hit_primary = bool(injection and injection.role and injection.role == role)
    hit_seen_down = False
    since: tuple[float, float] | None = None
    last = "not observed yet"
    while True:
        try:
            found = target.instances(component)
            error = None
        except Exception as exc:  # an unreachable control plane is "not back"
            found, error = [], f"{type(exc).__name__}: {exc}"
        now, now_wall = clock(), wall()
        if any(i.name in hit and (not i.ready or (role and i.role != role)) for i in found):
            hit_seen_down = True
        holders = [i.name for i in found if role and i.role == role and i.ready]
        ok = bool(found) and all(i.ready for i in found) and error is None
        if role:
            ok = ok and len(holders) == 1
        if ok and hit_primary:
            ok = hit_seen_down or holders[0] not in hit
        last = error or ", ".join(
            f"{i.name} {i.role or '-'} {'ready' if i.ready else 'NOT ready'}" for i in found
        )
        if ok:
            since = since or (now, now_wall)
            if now - since[0] >= stable_s:
                return Recovery(at=since[0], wall=since[1], detail=last)
        else:
            since = None
        if now >= deadline:
            raise HasuiteError(
                f"{component} not recovered {timeout_s:.0f} s after the fault; expected every "
                f"instance ready{f' and one {role}' if role else ''} for {stable_s:.0f} s; "
                f"last seen: {last}"
            )
        sleep(poll_s)
