"""`hasuite up/down --target kind`: create a marked kind cluster, load the app, install the stack.

Every command goes through a ``CommandRunner`` (tests record them with a fake) and every kubectl
and helm call pins ``--context``/``--kube-context``. Idempotent: an existing cluster that carries
our marker is reused, charts are ``helm upgrade --install``, manifests ``kubectl apply``.
A kind cluster of the same name WITHOUT the marker is refused, never touched.
"""

# size: the kind cluster's plan (config, steps, add-ons) and its execution with its checks;
# plan and execution are kept side by side so --dry-run prints exactly what `up` runs.
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hasuite.drivers.k8s import diagnose
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


#: Flavors of the kind target. ``pinned``: kind's official node image (charts.yaml digest) and
#: the whole stack from the pinned Helm charts (a machine that reaches the registries).
#: ``built``: the node image built on this machine (kindbuild); the cluster with its add-ons
#: only, since the charts' images need a registry.
FLAVORS = ("pinned", "built")
#: Add-ons of the built flavor (images preloaded in the node image), applied after creation.
INGRESS_STANDIN = "env/kind/addons/ingress-standin.yaml"
BUILT_ADDONS = ("env/kind/addons/metrics-server.yaml", INGRESS_STANDIN)
#: Host ports the kind config maps to the ingress NodePorts (env/kind/cluster.yaml).
INGRESS_PORTS = (8080, 8443)


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


def cluster_state(runner: CommandRunner, plan: KindPlan) -> str:
    """'absent', 'ours', 'interrupted' (ours, API unreadable) or 'foreign'; ClusterNotOursError
    when its nodes cannot be read and nothing shows it is ours.

    "Ours" = the control-plane node carries ``hasuite.io/cluster=<name>``, a label only our
    env/kind/cluster.yaml sets at creation (kind cannot add it to an existing cluster).
    """
    clusters = runner.run(["kind", "get", "clusters"], timeout_s=30).stdout.split()
    if plan.cluster not in clusters:
        return "absent"
    nodes = runner.run(list(_marker_query(plan)), timeout_s=30, check=False)
    if nodes.returncode != 0 and _marked_in_kubeadm_config(runner, plan):
        return "interrupted"
    if nodes.returncode != 0:
        raise ClusterNotOursError(
            f"a kind cluster named {plan.cluster!r} exists but its nodes cannot be read through "
            f"context {plan.context!r} ({nodes.stderr.strip()[-300:] or 'kubectl failed'}); "
            "hasuite cannot tell whether it created it and will not touch it. If it is ours, "
            f"restore the context with `kind export kubeconfig --name {plan.cluster}` and retry"
        )
    return "ours" if nodes.stdout.strip() else "foreign"


def _marked_in_kubeadm_config(runner: CommandRunner, plan: KindPlan) -> bool:
    """The control-plane container's kubeadm config carries our marker label: kind wrote it
    from our config, so the cluster is ours even when its API cannot be read (an `up` that was
    interrupted before kind exported the kubeconfig, or whose control plane never came up)."""
    probe = runner.run(
        [
            "docker",
            "exec",
            f"{plan.cluster}-control-plane",
            "grep",
            "-q",
            f"{MARKER_LABEL}={plan.cluster}",
            "/kind/kubeadm.conf",
        ],
        timeout_s=30,
        check=False,
    )
    return probe.returncode == 0


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


BUILT_STOP = (
    "built flavor, cluster only: cluster ready; the shop stack is left out (--cluster-only); "
    "without it `up` installs the local-images overlay from the stack image built here"
)


def check_ports_free(ports: tuple[int, ...] | None = None) -> None:
    """The kind config maps these 127.0.0.1 ports; a taken one would fail kind mid-creation."""
    import socket

    taken = []
    for port in INGRESS_PORTS if ports is None else ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                taken.append(port)
    if taken:
        raise ConfigError(
            f"127.0.0.1:{', '.join(map(str, taken))} already in use: the kind cluster maps its "
            "ingress NodePorts there (env/kind/cluster.yaml); free the port(s) and retry"
        )


def up(
    runner: CommandRunner,
    plan: KindPlan,
    *,
    config_path: Path,
    dry_run: bool = False,
    progress: Callable[[str], None] = lambda _: None,
) -> list[tuple[str, ...]]:
    """Bring the whole stack up on kind; returns the commands that changed something, in order.

    ``dry_run``: runs nothing at all (not even the read-only checks), writes no file, and
    returns every command it would run (checks first), assuming the cluster does not exist yet.
    """
    if dry_run:
        preflight = [
            Step(phase="docker running", argv=DOCKER_INFO, timeout_s=30),
            Step(phase="existing clusters", argv=("kind", "get", "clusters"), timeout_s=30),
            Step(
                phase="is it ours (only when it exists)",
                argv=_marker_query(plan),
                timeout_s=30,
            ),
        ]
        missing = [tool for tool in TOOLS if runner.which(tool) is None]
        if missing:
            progress(f"note: missing on PATH: {', '.join(missing)} (a real run stops here)")
        steps = preflight + plan_install(plan, create=True, config_path=config_path)
        progress(f"write {config_path} (kind config: {plan.workers} workers, marker label)")
        for step in steps:
            progress(f"would run {step.describe()}")
        return [s.argv for s in steps]
    check_tools(runner, tuple(t for t in TOOLS if plan.flavor != "built" or t != "helm"))
    runner.run(list(DOCKER_INFO), timeout_s=30 * plan.timeout_multiplier)
    state = cluster_state(runner, plan)
    if state == "foreign":
        raise ClusterNotOursError(
            f"a kind cluster named {plan.cluster!r} exists but has no node labelled "
            f"{MARKER_LABEL}={plan.cluster}: hasuite did not create it and will not touch it; "
            "delete it yourself (kind delete cluster --name ...) or pick another --kind-name"
        )
    if state == "interrupted":
        progress(
            f"kind cluster {plan.cluster!r} was left by an interrupted up (ours, API unreadable): "
            "deleting it to start over"
        )
        runner.run(
            ["kind", "delete", "cluster", "--name", plan.cluster],
            timeout_s=180 * plan.timeout_multiplier,
        )
        state = "absent"
    if state == "ours":
        progress(f"reusing kind cluster {plan.cluster!r} (created by hasuite)")
    else:
        check_ports_free()
        config_path.write_text(
            render_kind_config(
                plan.root,
                plan.cluster,
                plan.workers,
                flavor=plan.flavor,
                coredns_tag=plan.coredns_tag,
                cgroup_v1=plan.cgroup_v1,
            )
        )
    steps = plan_install(plan, create=state == "absent", config_path=config_path)
    start = time.monotonic()
    done = _run_steps(runner, plan, steps, progress)
    if plan.flavor == "built" and not plan.stack_image:
        progress(f"cluster up on {plan.context} in {time.monotonic() - start:.0f} s")
        progress(BUILT_STOP)
    else:
        progress(f"stack up on {plan.context} in {time.monotonic() - start:.0f} s")
    return done


def _run_steps(
    runner: CommandRunner, plan: KindPlan, steps: list[Step], progress: Callable[[str], None]
) -> list[tuple[str, ...]]:
    """Run ``steps`` in order; a failed wait names what keeps its workload from being ready."""
    done: list[tuple[str, ...]] = []
    for i, step in enumerate(steps, 1):
        progress(f"[{i}/{len(steps)}] {step.phase}")
        log.info("kind up: %s", step.describe())
        try:
            runner.run(list(step.argv), timeout_s=step.timeout_s, cwd=str(plan.root))
        except HasuiteError as exc:
            if step.workload is None:
                raise
            ns, obj = step.workload
            why = diagnose.workload_not_ready(runner, plan.context, ns, obj)
            raise diagnose.WorkloadNotReady(
                f"{obj} (namespace {ns}) was not ready within {step.timeout_s:.0f} s: {exc}\n"
                f"{why}\nFix what the events and logs above say, then run `hasuite up --target "
                "kind` again (it reuses the cluster)"
            ) from exc
        done.append(step.argv)
    return done


DOCKER_INFO = ("docker", "info", "--format", "{{.ServerVersion}}")


def _marker_query(plan: KindPlan) -> tuple[str, ...]:
    return (
        "kubectl",
        "--context",
        plan.context,
        "get",
        "nodes",
        "-l",
        f"{MARKER_LABEL}={plan.cluster}",
        "-o",
        "name",
    )


def down(
    runner: CommandRunner,
    plan: KindPlan,
    *,
    dry_run: bool = False,
    progress: Callable[[str], None] = lambda _: None,
) -> list[tuple[str, ...]]:
    """Delete the kind cluster, only if hasuite created it (``dry_run``: run nothing, say what)."""
    argv = ("kind", "delete", "cluster", "--name", plan.cluster)
    if dry_run:
        steps = [("kind", "get", "clusters"), _marker_query(plan), argv]
        for step in steps:
            progress(f"would run {' '.join(step)}")
        progress("(the delete runs only when the cluster exists and carries the marker)")
        return steps
    check_tools(runner, ("kind", "kubectl"))
    state = cluster_state(runner, plan)
    if state == "absent":
        progress(f"no kind cluster named {plan.cluster!r}: nothing to delete")
        return []
    if state == "foreign":
        raise ClusterNotOursError(
            f"kind cluster {plan.cluster!r} was not created by hasuite (no {MARKER_LABEL} "
            "label): refusing to delete it"
        )
    progress(f"deleting kind cluster {plan.cluster!r}")
    result = runner.run(list(argv), timeout_s=180 * plan.timeout_multiplier)
    if result.returncode != 0:  # pragma: no cover - runner raises on failure
        raise HasuiteError(f"kind delete failed: {result.stderr}")
    return [argv]


def verify_cluster(
    runner: CommandRunner,
    context: str,
    *,
    dry_run: bool = False,
    timeout_multiplier: float = 1.0,
    progress: Callable[[str], None] = lambda _: None,
) -> list[tuple[str, ...]]:
    """``up --target cluster``: an existing, allow-listed cluster is reachable and runs the stack.

    Read-only: hasuite never installs on or deletes from a cluster it did not create. Call only
    after the allow-list check (``target.check_context``). Raises HasuiteError naming what is
    missing or not ready.
    """
    t = timeout_multiplier
    steps = [
        Step(
            phase="API server reachable",
            argv=("kubectl", "--context", context, "get", "--raw", "/readyz"),
            timeout_s=30 * t,
        ),
    ] + [
        Step(
            phase=f"{deploy} rolled out",
            argv=rollout_status_argv(context, deploy, 60),
            timeout_s=90 * t,
        )
        for deploy in APP_DEPLOYMENTS
    ]
    if dry_run:
        for step in steps:
            progress(f"would run {step.describe()}")
        return [s.argv for s in steps]
    check_tools(runner, ("kubectl",))
    for step in steps:
        progress(step.phase)
        result = runner.run(list(step.argv), timeout_s=step.timeout_s, check=False)
        if result.returncode != 0:
            why = (result.stderr or result.stdout).strip()[-500:]
            hint = (
                "check the context's credentials and network"
                if step.phase == "API server reachable"
                else "install the stack (env/k8s/README.md, staging section) and retry"
            )
            raise HasuiteError(f"cluster {context!r}: {step.phase} failed: {why}; {hint}")
    return [s.argv for s in steps]
