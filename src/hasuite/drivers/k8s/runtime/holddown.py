"""A crash that stays down, on kind: the node's kubelet is stopped, the pod's containers are
killed (SIGKILL), and nothing restarts them until the hold is over.

Why this way, of the three that force a failover on kind:
- **kubelet stopped, containers killed, held** (this module): the member dies by SIGKILL as in
  the in-place crash, sent to each container's first process (the pid namespace goes with it),
  because the runtime's own stop timed out on kind with kubelet stopped ("failed to kill
  container: context deadline exceeded"); nothing in the pod's spec changes, and the
  release is armed on the node itself BEFORE kubelet stops (a transient systemd timer,
  ``systemd-run --on-active``), so the node heals itself even when hasuite is killed mid-hold.
  ``release`` ends a hold early (``systemctl start kubelet`` is idempotent), and
  ``hasuite down --target kind`` deletes the node anyway.
- the container's image swapped for the pause image (Chaos Mesh's pod-failure): kubelet
  replaces the container with SIGTERM and its grace period, a graceful stop rather than a crash,
  and the pod's spec is edited under its controller.
- a node fault (``docker stop`` or a network disconnect of the node): every pod of that node goes
  too; with two workers that is half of the stack, another experiment.

The bound: a hold is at most :data:`MAX_HOLD_S`, under the controller manager's
node-monitor grace period (50 s since Kubernetes 1.32), so the node stays Ready and its other
pods keep serving. While kubelet is stopped the API still shows the pod's last status (Ready):
:func:`still_down` is the driver's own knowledge of the hold.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from hasuite.drivers.k8s.boundary import CommandRunner, PodInfo
from hasuite.drivers.k8s.runtime.partition import container_pid
from hasuite.errors import ConfigError, InjectionError

__all__ = [
    "MAX_HOLD_S",
    "Hold",
    "describe",
    "hold_down",
    "kill_containers",
    "release",
    "require_runtime_ids",
    "still_down",
]

#: The longest hold-down (s): under the node-monitor grace period (50 s), with a margin.
MAX_HOLD_S = 48.0
KUBELET = "kubelet.service"


@dataclass(frozen=True, kw_only=True)
class Hold:
    """One held-down pod: its node, the containers killed, when the hold ends."""

    pod: str
    node: str
    containers: tuple[str, ...]
    until: float  # monotonic
    unit: str  # the node's systemd timer that starts kubelet again


def hold_down(runner: CommandRunner, pod: PodInfo, hold_s: float, *, now: float) -> Hold:
    """Stop ``pod``'s node's kubelet, SIGKILL the pod's containers, and leave them down for
    ``hold_s``; the node starts kubelet again by itself then. On any error kubelet is started
    again at once and the error raised."""
    if not 0 < hold_s <= MAX_HOLD_S:
        raise ConfigError(
            f"hold_s must be in (0, {MAX_HOLD_S:g}] s (under the node-monitor grace period, "
            f"so the node stays Ready), got {hold_s}"
        )
    require_runtime_ids(pod, "hold it down")
    hold = Hold(
        pod=pod.name,
        node=pod.node,
        containers=pod.container_ids,
        until=now + hold_s,
        unit=f"hasuite-release-{pod.name}-{int(now * 1000)}",
    )
    # the release first: whatever happens to us from here on, the node heals itself
    _node(
        runner,
        hold.node,
        "systemd-run",
        "--unit",
        hold.unit,
        f"--on-active={hold_s:.3f}s",
        "--timer-property=AccuracySec=100ms",
        "systemctl",
        "start",
        KUBELET,
    )
    try:
        pids = [str(container_pid(runner, hold.node, c)) for c in hold.containers]
        _node(runner, hold.node, "systemctl", "stop", KUBELET)
        _node(runner, hold.node, "kill", "-KILL", *pids)
    except Exception:
        release(runner, hold)
        raise
    return hold


def release(runner: CommandRunner, hold: Hold) -> str | None:
    """End ``hold`` now: kubelet started again (idempotent), its timer stopped. None when
    kubelet runs, else what failed and what to run."""
    try:
        _node(runner, hold.node, "systemctl", "start", KUBELET)
    except Exception as exc:
        return (
            f"kubelet on node {hold.node} did not start again ({type(exc).__name__}: {exc}); "
            f"run `docker exec {hold.node} systemctl start {KUBELET}`, or take the cluster down "
            "with `hasuite down --target kind`"
        )
    # the timer may have fired already, and gone with its unit: nothing left to undo then
    with contextlib.suppress(Exception):
        _node(runner, hold.node, "systemctl", "stop", f"{hold.unit}.timer")
    return None


def still_down(hold: Hold, pod: PodInfo, now: float) -> bool:
    """True while ``pod`` is held down: until the hold is over AND kubelet has replaced a
    killed container (the API shows the old container ids, and Ready, until then)."""
    return now < hold.until or bool(set(pod.container_ids) & set(hold.containers))


def describe(hold: Hold, now: float) -> str:
    """What a held pod's instance line says."""
    left = hold.until - now
    when = f"for {left:.0f} s more" if left > 0 else "restart pending"
    return f"held down (kubelet on {hold.node} stopped, {when})"


def kill_containers(runner: CommandRunner, pod: PodInfo) -> None:
    """Kill every container of ``pod`` at once through its node's runtime (SIGKILL), for
    kubelet to restart in place: the in-place crash (:func:`hold_down` kills by pid)."""
    require_runtime_ids(pod, "crash it")
    # crictl stop --timeout 0: the runtime kills the containers at once (SIGKILL). crictl's
    # own RPC deadline (global --timeout, default 2 s) was too short for the 4 containers of
    # a Redis pod on a loaded node ("context deadline exceeded", seen on kind).
    _node(
        runner, pod.node, "crictl", "--timeout", "20s", "stop", "--timeout", "0", *pod.container_ids
    )


def require_runtime_ids(pod: PodInfo, doing: str) -> None:
    """InjectionError unless ``pod``'s node and container ids are known (what the runtime and
    the node need to act on it)."""
    if not pod.node or not pod.container_ids:
        raise InjectionError(f"{pod.name}: node or container ids unknown; cannot {doing}")


def _node(runner: CommandRunner, node: str, *argv: str) -> None:
    runner.run(["docker", "exec", node, *argv], timeout_s=30)
