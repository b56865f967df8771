"""`hasuite up/down --target kind`: create a marked kind cluster, load the app, install the stack.

Every command goes through a ``CommandRunner`` (tests record them with a fake) and every kubectl
and helm call pins ``--context``/``--kube-context``. Idempotent: an existing cluster that carries
our marker is reused, charts are ``helm upgrade --install``, manifests ``kubectl apply``.
A kind cluster of the same name WITHOUT the marker is refused, never touched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hasuite.drivers.k8s.boundary import CommandRunner
from hasuite.errors import ConfigError, HasuiteError

log = logging.getLogger(__name__)

#: Label on the control-plane node (env/kind/cluster.yaml) that says "hasuite created this".
MARKER_LABEL = "hasuite.io/cluster"

TOOLS: dict[str, str] = {
    "docker": "Docker Engine: https://docs.docker.com/engine/install/ (the daemon must run)",
    "kind": "kind: https://kind.sigs.k8s.io/docs/user/quick-start/#installation",
    "kubectl": "kubectl: https://kubernetes.io/docs/tasks/tools/",
    "helm": "helm 3: https://helm.sh/docs/intro/install/",
}


class MissingToolsError(ConfigError):
    """Some CLI tool the kind bootstrap needs is not on PATH."""


class ClusterNotOursError(ConfigError):
    """A kind cluster of that name exists but hasuite did not create it."""


def check_tools(runner: CommandRunner, tools: tuple[str, ...] = tuple(TOOLS)) -> None:
    missing = [t for t in tools if runner.which(t) is None]
    if missing:
        lines = "\n".join(f"  - {t}: install {TOOLS[t]}" for t in missing)
        raise MissingToolsError(
            f"--target kind needs {', '.join(tools)} on PATH; missing: {', '.join(missing)}\n"
            f"{lines}"
        )


@dataclass(frozen=True, kw_only=True)
class KindPlan:
    cluster: str = "hasuite"
    root: Path = Path(".")
    timeout_multiplier: float = 1.0
    workers: int = 3

    @property
    def context(self) -> str:
        return f"kind-{self.cluster}"

    def charts(self) -> dict[str, Any]:
        return yaml.safe_load((self.root / "env/k8s/charts.yaml").read_text())


def render_kind_config(root: Path, cluster: str, workers: int) -> str:
    """env/kind/cluster.yaml with the cluster name and worker count applied."""
    cfg = yaml.safe_load((root / "env/kind/cluster.yaml").read_text())
    if workers < 1:
        raise ConfigError(f"kind needs at least 1 worker, got {workers}")
    cfg["name"] = cluster
    control = [n for n in cfg["nodes"] if n["role"] == "control-plane"]
    cfg["nodes"] = control + [{"role": "worker"} for _ in range(workers)]
    return yaml.safe_dump(cfg, sort_keys=False)


def _seconds(text: str) -> float:
    return float(text.rstrip("s"))


def cluster_state(runner: CommandRunner, plan: KindPlan) -> str:
    """'absent', 'ours' or 'foreign'."""
    clusters = runner.run(["kind", "get", "clusters"], timeout_s=30).stdout.split()
    if plan.cluster not in clusters:
        return "absent"
    nodes = runner.run(
        [
            "kubectl",
            "--context",
            plan.context,
            "get",
            "nodes",
            "-l",
            f"{MARKER_LABEL}={plan.cluster}",
            "-o",
            "name",
        ],
        timeout_s=30,
        check=False,
    )
    return "ours" if nodes.returncode == 0 and nodes.stdout.strip() else "foreign"


def up(runner: CommandRunner, plan: KindPlan, *, config_path: Path) -> list[tuple[str, ...]]:
    """Bring the whole stack up on kind; returns the commands run (in order)."""
    check_tools(runner)
    charts = plan.charts()
    t = plan.timeout_multiplier
    done: list[tuple[str, ...]] = []

    def run(argv: list[str], timeout_s: float, phase: str) -> None:
        log.info("kind up: %s", phase)
        runner.run(argv, timeout_s=timeout_s * t, cwd=str(plan.root))
        done.append(tuple(argv))

    runner.run(["docker", "info", "--format", "{{.ServerVersion}}"], timeout_s=30 * t)
    state = cluster_state(runner, plan)
    if state == "foreign":
        raise ClusterNotOursError(
            f"a kind cluster named {plan.cluster!r} exists but has no node labelled "
            f"{MARKER_LABEL}={plan.cluster}: hasuite did not create it and will not touch it; "
            "delete it yourself (kind delete cluster --name ...) or pick another --kind-name"
        )
    if state == "absent":
        config_path.write_text(render_kind_config(plan.root, plan.cluster, plan.workers))
        run(
            [
                "kind",
                "create",
                "cluster",
                "--name",
                plan.cluster,
                "--config",
                str(config_path),
                "--image",
                charts["kind"]["node_image"],
                "--wait",
                "300s",
            ],
            420,
            "create cluster",
        )
    app_image = charts["images"]["app"]
    run(["docker", "build", "-t", app_image, "env/app"], 900, "build app image")
    run(["kind", "load", "docker-image", app_image, "--name", plan.cluster], 300, "load image")
    run(
        ["kubectl", "--context", plan.context, "apply", "-f", "env/k8s/namespaces.yaml"],
        60,
        "namespaces",
    )
    for chart in charts["charts"]:
        repo_name = chart["name"] + "-repo"
        run(
            ["helm", "repo", "add", "--force-update", repo_name, chart["repo"]],
            120,
            f"repo {chart['name']}",
        )
        timeout = chart["timeout"]
        run(
            [
                "helm",
                "upgrade",
                "--install",
                chart["name"],
                f"{repo_name}/{chart['chart']}",
                "--kube-context",
                plan.context,
                "--namespace",
                chart["namespace"],
                "--create-namespace",
                "--version",
                str(chart["version"]),
                "--values",
                f"env/k8s/{chart['values']}",
                "--wait",
                "--timeout",
                timeout,
            ],
            _seconds(timeout) + 60,
            f"chart {chart['name']}",
        )
    run(
        ["kubectl", "--context", plan.context, "apply", "--server-side", "-k", "env/k8s"],
        180,
        "stack manifests",
    )
    for deploy in ("django", "celery-worker", "celery-beat", "nginx"):
        run(
            [
                "kubectl",
                "--context",
                plan.context,
                "-n",
                "shop",
                "rollout",
                "status",
                f"deployment/{deploy}",
                "--timeout",
                "600s",
            ],
            660,
            f"wait {deploy}",
        )
    return done


def down(runner: CommandRunner, plan: KindPlan) -> list[tuple[str, ...]]:
    """Delete the kind cluster, only if hasuite created it."""
    check_tools(runner, ("kind", "kubectl"))
    state = cluster_state(runner, plan)
    if state == "absent":
        return []
    if state == "foreign":
        raise ClusterNotOursError(
            f"kind cluster {plan.cluster!r} was not created by hasuite (no {MARKER_LABEL} "
            "label): refusing to delete it"
        )
    argv = ("kind", "delete", "cluster", "--name", plan.cluster)
    result = runner.run(list(argv), timeout_s=180 * plan.timeout_multiplier)
    if result.returncode != 0:  # pragma: no cover - runner raises on failure
        raise HasuiteError(f"kind delete failed: {result.stderr}")
    return [argv]
