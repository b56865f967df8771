"""The kind cluster's plan, pure (nothing runs): its config, the flavor's steps in install order
(charts.yaml), the built flavor's add-ons and the local-images overlay's waits.

:mod:`.bootstrap` runs the plan, and prints it for ``--dry-run``: the same steps, so a dry run
says exactly what ``up`` runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hasuite.errors import ConfigError

#: Label on the control-plane node (env/kind/cluster.yaml) that says "hasuite created this".
MARKER_LABEL = "hasuite.io/cluster"

#: Flavors of the kind target. ``pinned``: kind's official node image (charts.yaml digest) and
#: the whole stack from the pinned Helm charts (a machine that reaches the registries).
#: ``built``: the node image built on this machine (kindbuild); the cluster with its add-ons
#: only, since the charts' images need a registry.
FLAVORS = ("pinned", "built")
#: Add-ons of the built flavor (images preloaded in the node image), applied after creation.
INGRESS_STANDIN = "env/kind/addons/ingress-standin.yaml"
BUILT_ADDONS = ("env/kind/addons/metrics-server.yaml", INGRESS_STANDIN)


#: Workers per flavor. pinned: 3, so the stack's 3 Django replicas, Patroni members and Redis
#: pods each get a node (4-vCPU runner). built: measured on a 2-core machine (env/kind/README.md).
DEFAULT_WORKERS = {"pinned": 3, "built": 2}


def default_workers(flavor: str) -> int:
    return DEFAULT_WORKERS[flavor]


@dataclass(frozen=True, kw_only=True)
class KindPlan:
    cluster: str = "hasuite"
    root: Path = Path(".")
    timeout_multiplier: float = 1.0
    workers: int = 3
    flavor: str = "pinned"
    node_image: str | None = None  # None: charts.yaml kind.node_image
    coredns_tag: str | None = None  # built flavor: the CoreDNS tag preloaded
    cgroup_v1: bool = False  # the Docker host is cgroup v1: kubelet >= 1.35 needs failCgroupV1
    #: built flavor: the stack image to load and the local-images overlay (image pinned) to
    #: apply; None = the cluster and its add-ons only
    stack_image: str | None = None
    stack_manifest: Path | None = None
    #: Patroni's dynamic configuration (JSON) for the DCS once the members run: bootstrap.dcs
    #: counts only at the cluster's first start, so a later profile is written there
    patroni_config: str | None = None

    @property
    def context(self) -> str:
        return f"kind-{self.cluster}"

    def charts(self) -> dict[str, Any]:
        data: dict[str, Any] = yaml.safe_load((self.root / "env/k8s/charts.yaml").read_text())
        return data


def render_kind_config(
    root: Path,
    cluster: str,
    workers: int,
    *,
    flavor: str = "pinned",
    coredns_tag: str | None = None,
    cgroup_v1: bool = False,
) -> str:
    """env/kind/cluster.yaml with the cluster name, worker count and host-specific patches.

    ``cgroup_v1``: Kubernetes >= 1.35's kubelet refuses cgroup v1 unless its configuration says
    ``failCgroupV1: false`` (KEP-5573); set only where the Docker host is cgroup v1. ``built``:
    kube-proxy in nftables mode (its image carries nft only) and CoreDNS at the tag preloaded.
    """
    cfg = yaml.safe_load((root / "env/kind/cluster.yaml").read_text())
    patches: list[str] = []
    if cgroup_v1:
        patches.append("kind: KubeletConfiguration\nfailCgroupV1: false\n")
    if flavor == "built":
        cfg.setdefault("networking", {})["kubeProxyMode"] = "nftables"
        if coredns_tag:
            patches.append(f"kind: ClusterConfiguration\ndns:\n  imageTag: {coredns_tag}\n")
    if patches:
        cfg["kubeadmConfigPatches"] = [*cfg.get("kubeadmConfigPatches", []), *patches]
    if workers < 1:
        raise ConfigError(f"kind needs at least 1 worker, got {workers}")
    cfg["name"] = cluster
    control = [n for n in cfg["nodes"] if n["role"] == "control-plane"]
    if len(control) != 1:
        raise ConfigError(
            f"env/kind/cluster.yaml must have exactly 1 control-plane node, found {len(control)}"
        )
    # The marker says "hasuite created this cluster": its value is the cluster's own name.
    control[0].setdefault("labels", {})[MARKER_LABEL] = cluster
    cfg["nodes"] = control + [{"role": "worker"} for _ in range(workers)]
    return yaml.safe_dump(cfg, sort_keys=False)


def _seconds(text: str) -> float:
    return float(text.rstrip("s"))


@dataclass(frozen=True, kw_only=True)
class Step:
    """One command of a bootstrap: what it is for, the argv, its own time limit (s)."""

    phase: str
    argv: tuple[str, ...]
    timeout_s: float
    #: a wait for this (namespace, kind/name): when it fails, say what keeps it from being ready
    workload: tuple[str, str] | None = None

    def describe(self) -> str:
        return f"{self.phase}: {' '.join(self.argv)} (limit {self.timeout_s:.0f} s)"


#: Deployments of ours whose rollout ``up`` waits for (after the manifests are applied).
APP_DEPLOYMENTS = ("django", "celery-worker", "celery-beat", "nginx")


def rollout_status_argv(context: str, deploy: str, timeout_s: int) -> tuple[str, ...]:
    """`kubectl rollout status` of an app Deployment in the shop namespace, context pinned."""
    return (
        "kubectl",
        "--context",
        context,
        "-n",
        "shop",
        "rollout",
        "status",
        f"deployment/{deploy}",
        "--timeout",
        f"{timeout_s}s",
    )


# size: the install steps as one list, in install order (charts.yaml).
def plan_install(plan: KindPlan, *, create: bool, config_path: Path) -> list[Step]:
    """The steps of ``up`` after the cluster check, in order (pure: nothing runs)."""
    charts = plan.charts()
    t = plan.timeout_multiplier
    steps: list[Step] = []

    def add(phase: str, argv: list[str], timeout_s: float) -> None:
        steps.append(Step(phase=phase, argv=tuple(argv), timeout_s=timeout_s * t))

    node_image = plan.node_image or charts["kind"]["node_image"]
    if create:
        add(
            "create cluster",
            [
                "kind",
                "create",
                "cluster",
                "--name",
                plan.cluster,
                "--config",
                str(config_path),
                "--image",
                node_image,
                "--wait",
                "300s",
            ],
            420,
        )
    if plan.flavor == "built":
        steps += plan_built_addons(plan)
        if plan.stack_image and plan.stack_manifest:
            steps += plan_built_stack(plan)
        return steps
    app_image = charts["images"]["app"]
    add("build app image", ["docker", "build", "-t", app_image, "env/app"], 900)
    add("load app image", ["kind", "load", "docker-image", app_image, "--name", plan.cluster], 300)
    add(
        "namespaces",
        ["kubectl", "--context", plan.context, "apply", "-f", "env/k8s/namespaces.yaml"],
        60,
    )
    for chart in charts["charts"]:
        repo_name = chart["name"] + "-repo"
        add(
            f"chart repo {chart['name']}",
            ["helm", "repo", "add", "--force-update", repo_name, chart["repo"]],
            120,
        )
        timeout = chart["timeout"]
        add(
            f"chart {chart['name']} {chart['version']}",
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
        )
    add(
        "stack manifests",
        ["kubectl", "--context", plan.context, "apply", "--server-side", "-k", "env/k8s"],
        180,
    )
    for deploy in APP_DEPLOYMENTS:
        add(
            f"wait for {deploy}",
            list(rollout_status_argv(plan.context, deploy, 600)),
            660,
        )
    return steps


def plan_built_addons(plan: KindPlan) -> list[Step]:
    """Built flavor: the add-ons whose images the node image preloads, and waits for them."""
    t = plan.timeout_multiplier
    ctx = ["kubectl", "--context", plan.context]
    steps = [
        Step(
            phase="nodes Ready",
            argv=(*ctx, "wait", "--for=condition=Ready", "nodes", "--all", "--timeout=300s"),
            timeout_s=330 * t,
        ),
    ]
    with_stack = bool(plan.stack_image)
    for path in BUILT_ADDONS:
        if with_stack and path == INGRESS_STANDIN:
            # the shop's nginx takes the ingress NodePorts; a stand-in left by a cluster-only
            # `up` would hold them
            argv: tuple[str, ...] = (*ctx, "delete", "-f", path, "--ignore-not-found")
            steps.append(Step(phase=f"remove {path}", argv=argv, timeout_s=120 * t))
            continue
        steps.append(
            Step(phase=f"apply {path}", argv=(*ctx, "apply", "-f", path), timeout_s=60 * t)
        )
    waits = [
        ("kube-system", "daemonset/hasuite-cni"),
        ("kube-system", "deployment/coredns"),
        ("local-path-storage", "deployment/local-path-provisioner"),
        ("kube-system", "deployment/metrics-server"),
    ]
    if not with_stack:
        waits.append(("hasuite-system", "deployment/ingress-standin"))
    for ns, obj in waits:
        steps.append(
            Step(
                phase=f"wait for {obj}",
                argv=(*ctx, "-n", ns, "rollout", "status", obj, "--timeout=300s"),
                timeout_s=330 * t,
            )
        )
    return steps


#: The stack's workloads `up` waits for (namespace, object), in the order they can become ready.
PATRONI_SET = "statefulset/shop-db"
#: Patroni's Kubernetes DCS keeps the dynamic configuration in ``<scope>-config``'s annotation.
PATRONI_CONFIG_MAP = "shop-db-config"
STACK_WORKLOADS = (
    ("shop", "statefulset/shop-db"),
    ("shop", "statefulset/redis-ha-server"),
    ("shop", "deployment/shop-db-pooler"),
    ("shop", "deployment/django"),
    ("shop", "deployment/celery-worker"),
    ("shop", "deployment/celery-beat"),
    ("shop", "deployment/nginx"),
    ("shop", "deployment/hasuite-alert-receiver"),
    ("monitoring", "deployment/prometheus"),
    ("monitoring", "deployment/alertmanager"),
)


def plan_built_stack(plan: KindPlan) -> list[Step]:
    """Built flavor with the stack: load the stack image, apply the local-images overlay (its
    image pinned), wait for the migration and every workload."""
    assert plan.stack_image and plan.stack_manifest
    t = plan.timeout_multiplier
    ctx = ["kubectl", "--context", plan.context]
    steps = [
        Step(
            phase="load the stack image",
            argv=("kind", "load", "docker-image", plan.stack_image, "--name", plan.cluster),
            timeout_s=900 * t,
        ),
        # A Job's pod template cannot change: the finished migration of an earlier stack image
        # would refuse the new one ("field is immutable"). It runs again, idempotent.
        Step(
            phase="remove the finished database migration",
            argv=(
                *ctx,
                "-n",
                "shop",
                "delete",
                "job/shop-migrate",
                "--ignore-not-found",
                "--wait=true",
            ),
            timeout_s=60 * t,
        ),
        Step(
            phase="apply the local-images overlay",
            argv=(
                *ctx,
                "apply",
                "--server-side",
                "--force-conflicts",
                "-f",
                str(plan.stack_manifest),
            ),
            timeout_s=180 * t,
        ),
        Step(
            phase="wait for the database migration",
            argv=(
                *ctx,
                "-n",
                "shop",
                "wait",
                "--for=condition=complete",
                "job/shop-migrate",
                "--timeout=900s",
            ),
            timeout_s=930 * t,
            workload=("shop", "job/shop-migrate"),
        ),
    ]
    for ns, obj in STACK_WORKLOADS:
        steps.append(
            Step(
                phase=f"wait for {obj}",
                argv=(*ctx, "-n", ns, "rollout", "status", obj, "--timeout=600s"),
                timeout_s=630 * t,
                workload=(ns, obj),
            )
        )
        if obj == PATRONI_SET and plan.patroni_config:
            steps.append(
                Step(
                    phase="Patroni's dynamic configuration",
                    argv=(
                        *ctx,
                        "-n",
                        ns,
                        "annotate",
                        "--overwrite",
                        f"configmap/{PATRONI_CONFIG_MAP}",
                        f"config={plan.patroni_config}",
                    ),
                    timeout_s=60 * t,
                )
            )
    return steps
