"""What the control plane saw: time to a new leader or master, time to ready again (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from hasuite.analysis._util import fmt
from hasuite.model import Measurement, RoleObservation

__all__ = ["measure_failovers", "measure_instance_ready", "measure_time_to_new_role"]


def _of(roles: Iterable[RoleObservation], component: str) -> list[RoleObservation]:
    return sorted((r for r in roles if r.component == component), key=lambda r: r.at)


def measure_time_to_new_role(
    roles: Iterable[RoleObservation],
    *,
    component: str,
    role: str,
    fault_at: float | None,
    name: str = "time_to_new_leader_s",
) -> Measurement:
    """Seconds from the fault to the first observation of a DIFFERENT instance holding ``role``.

    The old holder is the last instance seen with ``role`` at or before the fault. None when there
    is no fault instant, no holder before it, or no observation after it; a lower bound when
    observations after the fault never show a new holder (the old one regaining the role does not
    count: that is no failover).
    """
    if fault_at is None:
        return Measurement(
            name=name, value=None, unit="s", detail="no fault instant on the timeline"
        )
    obs = _of(roles, component)
    holders = [r for r in obs if r.at <= fault_at and r.role == role]
    if not holders:
        return Measurement(
            name=name,
            value=None,
            unit="s",
            detail=f"no {component} {role} observed before the fault (nothing to fail over from)",
        )
    old = holders[-1].instance
    after = [r for r in obs if r.at > fault_at]
    if not after:
        return Measurement(
            name=name, value=None, unit="s", detail=f"no {component} observations after the fault"
        )
    for r in after:
        if r.role == role and r.instance != old:
            return Measurement(
                name=name,
                value=r.at - fault_at,
                unit="s",
                detail=f"{component} {role} {old} -> {r.instance} after {fmt(r.at - fault_at)} s",
            )
    waited = after[-1].at - fault_at
    last = _latest_by_instance(after)
    seen = ", ".join(f"{i} {r.role}{'' if r.ready else ' (not ready)'}" for i, r in last.items())
    detail = f"no new {component} {role} within {fmt(waited)} s after the fault (last seen: {seen})"
    back = _regained(after, old, role)
    if back is not None:
        detail += (
            f"; {old} was {role} and ready again {fmt(back - fault_at)} s after the fault: it "
            f"came back in place and kept the role (a restart, not a failover)"
        )
    return Measurement(name=name, value=waited, unit="s", detail=detail, at_least=True)


def measure_failovers(new_role: Measurement, name: str) -> Measurement:
    """Which path the primary took, from its time-to-new-role measurement: 1 a failover (a
    different holder was seen), 0 none (a lower bound: no new holder; its detail says whether
    the old one came back in place), None when that could not be measured."""
    if new_role.value is None:
        return Measurement(name=name, value=None, unit="count", detail=new_role.detail)
    failed_over = not new_role.at_least
    path = "failover" if failed_over else "no failover"
    return Measurement(
        name=name,
        value=1.0 if failed_over else 0.0,
        unit="count",
        detail=f"{path}: {new_role.detail}",
    )


def _regained(after: Sequence[RoleObservation], old: str, role: str) -> float | None:
    """When ``old`` held ``role`` and was ready again after losing either (None: it never did)."""
    lost = False
    for r in after:
        if r.instance != old:
            continue
        if r.role != role or not r.ready:
            lost = True
        elif lost:
            return r.at
    return None


def _latest_by_instance(obs: Sequence[RoleObservation]) -> dict[str, RoleObservation]:
    latest: dict[str, RoleObservation] = {}
    for r in obs:
        latest[r.instance] = r
    return dict(sorted(latest.items()))


def measure_instance_ready(
    roles: Iterable[RoleObservation],
    *,
    component: str,
    instances: Sequence[str],
    fault_at: float | None,
    name: str = "instance_ready_s",
) -> Measurement:
    """Seconds from the fault until every hit instance is observed ready again (max over them).

    For each instance: the first ready observation after it was seen not ready after the fault.
    If the observer never saw it not ready, its first ready observation after the fault counts (and
    the detail says so). Instance names must be stable across restarts (the driver's job).
    """
    if fault_at is None:
        return Measurement(
            name=name, value=None, unit="s", detail="no fault instant on the timeline"
        )
    if not instances:
        return Measurement(name=name, value=None, unit="s", detail="no hit instances named")
    obs = [r for r in _of(roles, component) if r.at >= fault_at]
    worst: float = 0.0
    notes: list[str] = []
    at_least = False
    for inst in instances:
        mine = [r for r in obs if r.instance == inst]
        if not mine:
            return Measurement(
                name=name,
                value=None,
                unit="s",
                detail=f"no observation of {component} {inst} after the fault",
            )
        down = next((i for i, r in enumerate(mine) if not r.ready), None)
        if down is None:
            took = mine[0].at - fault_at
            notes.append(f"{inst} ready after {fmt(took)} s (never seen not ready)")
        else:
            back = next((r for r in mine[down:] if r.ready), None)
            if back is None:
                took = mine[-1].at - fault_at
                at_least = True
                notes.append(f"{inst} still not ready {fmt(took)} s after the fault")
            else:
                took = back.at - fault_at
                notes.append(f"{inst} ready again after {fmt(took)} s")
        worst = max(worst, took)
    return Measurement(name=name, value=worst, unit="s", detail="; ".join(notes), at_least=at_least)


#: A run of failed polls at least this long (s) after the fault makes role measurements unknown.
BLIND_LIMIT_S = 1.0


def blind_errors(
    spans: Iterable[tuple[str, float, float, str]],
    *,
    fault_at: float | None,
    period_s: float,
    limit_s: float = BLIND_LIMIT_S,
) -> list[str]:
    """Errors for the spans (component, first failed poll, last failed poll, last error) in which
    an observer could not read the target (an unreachable cluster): a span of ``limit_s`` or more
    that ends after the fault leaves role changes in it unknown, so no PASS may rest on them."""
    if fault_at is None:
        return []
    out = []
    for component, start, end, error in sorted(spans, key=lambda s: s[1]):
        blind = end - start + period_s
        if end < fault_at or blind < limit_s:
            continue
        out.append(
            f"the {component} observer could not read the target for {fmt(blind)} s (from "
            f"{fmt(start - fault_at)} s to {fmt(end - fault_at)} s after the fault; last error: "
            f"{error[:200]}): {component} role changes in that time are unknown"
        )
    return out
