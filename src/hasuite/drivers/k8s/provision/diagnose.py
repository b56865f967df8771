"""What to say when a workload of the stack does not become ready in time: which pods are not
ready, their containers' states, their last events and their last log lines.

Read-only kubectl calls, pinned to one context and each bounded; a call that fails is named in
the text instead (a diagnosis never hides the error it explains).
"""

from __future__ import annotations

import json
from typing import Any

from hasuite.drivers.k8s.boundary import CommandRunner
from hasuite.errors import HasuiteError

#: Per pod not ready: this many events and log lines of each container.
EVENTS = 5
LOG_LINES = 8
#: At most this many pods are described (a crash-looping StatefulSet shows one).
PODS = 3


def _kubectl(runner: CommandRunner, context: str, *args: str) -> str:
    result = runner.run(["kubectl", "--context", context, *args], timeout_s=20, check=False)
    if result.returncode != 0:
        return f"(kubectl {' '.join(args)} failed: {result.stderr.strip()[-300:]})"
    return result.stdout


def _json(runner: CommandRunner, context: str, *args: str) -> dict[str, Any] | str:
    text = _kubectl(runner, context, *args, "-o", "json")
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, dict) else text


def _state(status: dict[str, Any]) -> str:
    """One container's state as kubectl shows it: Running, Waiting (reason), Terminated (code)."""
    state = status.get("state", {})
    for key in ("waiting", "terminated"):
        if key in state:
            detail = state[key].get("reason") or ""
            if key == "terminated":
                detail += f" exit {state[key].get('exitCode')}"
            return f"{key} {detail}".strip()
    return "running" if "running" in state else "unknown"


def _describe_pod(runner: CommandRunner, context: str, ns: str, pod: dict[str, Any]) -> list[str]:
    name = pod["metadata"]["name"]
    statuses = pod.get("status", {}).get("containerStatuses", [])
    containers = ", ".join(
        f"{s['name']} {_state(s)} (ready {s.get('ready')}, restarts {s.get('restartCount', 0)})"
        for s in statuses
    )
    lines = [
        f"pod {ns}/{name} on {pod.get('spec', {}).get('nodeName') or 'no node'}, phase "
        f"{pod.get('status', {}).get('phase')}: {containers or 'no container started'}"
    ]
    events = _kubectl(
        runner,
        context,
        "-n",
        ns,
        "get",
        "events",
        "--field-selector",
        f"involvedObject.name={name}",
        "--sort-by=.lastTimestamp",
        "-o",
        "custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message",
        "--no-headers",
    ).splitlines()[-EVENTS:]
    lines += [f"  event: {e.strip()}" for e in events if e.strip()] or ["  no events"]
    for s in statuses:
        if s.get("ready"):
            continue
        previous = s.get("restartCount", 0) > 0 and "running" not in s.get("state", {})
        log = _kubectl(
            runner,
            context,
            "-n",
            ns,
            "logs",
            name,
            "-c",
            s["name"],
            f"--tail={LOG_LINES}",
            *(["--previous"] if previous else []),
        ).splitlines()
        run = "previous run" if previous else "log"
        lines.append(f"  {s['name']} {run}, last {len(log)} line(s):")
        lines += [f"    {line}" for line in log] or ["    (empty)"]
    return lines


def workload_not_ready(runner: CommandRunner, context: str, ns: str, obj: str) -> str:
    """Text naming what keeps ``obj`` (``deployment/x``, ``statefulset/y``) from being ready."""
    workload = _json(runner, context, "-n", ns, "get", obj)
    if isinstance(workload, str):
        return workload.strip()
    labels = workload.get("spec", {}).get("selector", {}).get("matchLabels", {})
    selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    pods = _json(runner, context, "-n", ns, "get", "pods", "-l", selector)
    if isinstance(pods, str):
        return pods.strip()
    items = pods.get("items", [])
    waiting = [
        p
        for p in items
        if not all(s.get("ready") for s in p.get("status", {}).get("containerStatuses", []) or [{}])
    ]
    if not items:
        return f"{obj} has no pods (selector {selector})"
    if not waiting:
        return f"every pod of {obj} is ready now ({len(items)}); it was not within the wait"
    lines = [f"{len(waiting)} of {len(items)} pod(s) of {obj} not ready:"]
    for pod in waiting[:PODS]:
        lines += _describe_pod(runner, context, ns, pod)
    return "\n".join(lines)


class WorkloadNotReady(HasuiteError):
    """A workload of the stack did not become ready within its wait."""
