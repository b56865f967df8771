"""A workload that does not become ready: `up` names the pod, its containers' states, its last
events and its last log lines (the case seen on kind: a Redis pod in a crash loop)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hasuite.drivers.k8s.boundary import CommandResult
from hasuite.drivers.k8s.provision import bootstrap, diagnose, kindplan
from hasuite.errors import HasuiteError

from .conftest import ROOT

POD_OK = {
    "metadata": {"name": "redis-ha-server-0"},
    "spec": {"nodeName": "hasuite-worker"},
    "status": {
        "phase": "Running",
        "containerStatuses": [{"name": "redis", "ready": True, "restartCount": 0}],
    },
}
POD_LOOPING = {
    "metadata": {"name": "redis-ha-server-2"},
    "spec": {"nodeName": "hasuite-worker2"},
    "status": {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": "redis",
                "ready": False,
                "restartCount": 6,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            },
            {"name": "redis-exporter", "ready": True, "restartCount": 0, "state": {"running": {}}},
        ],
    },
}


@dataclass
class ScriptedRunner:
    """kubectl answers for one workload; the rollout wait fails."""

    pods: list[dict[str, object]] = field(default_factory=lambda: [POD_OK, POD_LOOPING])
    commands: list[tuple[str, ...]] = field(default_factory=list)

    def which(self, tool: str) -> str | None:
        return f"/usr/bin/{tool}"

    def run(
        self, argv: Sequence[str], *, timeout_s: float, check: bool = True, cwd: str | None = None
    ) -> CommandResult:
        argv = tuple(argv)
        self.commands.append(argv)
        out, code, err = "", 0, ""
        if "rollout" in argv and "shop" in argv:
            code, err = 1, "error: timed out waiting for the condition"
        elif "statefulset/redis-ha-server" in argv and "get" in argv:
            out = json.dumps({"spec": {"selector": {"matchLabels": {"app": "redis-ha"}}}})
        elif "pods" in argv and "get" in argv:
            out = json.dumps({"items": self.pods})
        elif "events" in argv:
            out = "Warning BackOff Back-off restarting failed container redis\n"
        elif "logs" in argv:
            out = "" if "--previous" not in argv else "sh: 1: set: exit 1\n"
        elif argv[:3] == ("kind", "get", "clusters"):
            out = "hasuite"
        elif "nodes" in argv:
            out = "node/hasuite-control-plane"
        if check and code:
            raise HasuiteError(f"{' '.join(argv)} exited {code}: {err}")
        return CommandResult(argv=argv, returncode=code, stdout=out, stderr=err)


def test_the_diagnosis_names_the_pod_its_state_events_and_previous_log() -> None:
    runner = ScriptedRunner()
    text = diagnose.workload_not_ready(
        runner, "kind-hasuite", "shop", "statefulset/redis-ha-server"
    )
    assert "1 of 2 pod(s) of statefulset/redis-ha-server not ready" in text
    assert "pod shop/redis-ha-server-2 on hasuite-worker2" in text
    assert "redis waiting CrashLoopBackOff (ready False, restarts 6)" in text
    assert "event: Warning BackOff Back-off restarting failed container redis" in text
    assert "redis previous run, last 1 line(s):" in text and "sh: 1: set: exit 1" in text
    assert "redis-ha-server-0" not in text  # the ready pod is not described
    assert all(c[:3] == ("kubectl", "--context", "kind-hasuite") for c in runner.commands)
    assert not [c for c in runner.commands if {"apply", "delete", "annotate"} & set(c)]


def test_a_workload_whose_pods_are_all_ready_again_says_so() -> None:
    text = diagnose.workload_not_ready(
        ScriptedRunner(pods=[POD_OK]), "kind-hasuite", "shop", "statefulset/redis-ha-server"
    )
    assert "every pod of statefulset/redis-ha-server is ready now" in text


def test_up_stops_at_the_wait_that_failed_and_explains_it(tmp_path: Path) -> None:
    runner = ScriptedRunner()
    plan = kindplan.KindPlan(
        root=ROOT,
        flavor="built",
        node_image="hasuite/kind-node:x",
        stack_image="hasuite.local/stack:abc",
        stack_manifest=tmp_path / "stack.yaml",
        workers=2,
    )
    with pytest.raises(diagnose.WorkloadNotReady) as err:
        bootstrap.up(runner, plan, config_path=tmp_path / "kind.yaml")
    text = str(err.value)
    # the first rollout wait is the Patroni members'; the scripted cluster answers for Redis's
    # selector only, so the message carries the failed call instead of inventing pods
    assert "statefulset/shop-db (namespace shop) was not ready within" in text
    assert "timed out waiting for the condition" in text
    assert "hasuite up --target kind` again" in text
    assert not [c for c in runner.commands if "statefulset/redis-ha-server" in c]
