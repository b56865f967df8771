"""`hasuite up/down --target kind`: create a marked kind cluster, load the app, install the stack.

Every command goes through a ``CommandRunner`` (tests record them with a fake) and every kubectl
and helm call pins ``--context``/``--kube-context``. Idempotent: an existing cluster that carries
our marker is reused, charts are ``helm upgrade --install``, manifests ``kubectl apply``.
A kind cluster of the same name WITHOUT the marker is refused, never touched. What runs, in
which order, is the plan of :mod:`.kindplan`; ``--dry-run`` prints that same plan.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from hasuite.drivers.k8s.boundary import CommandRunner
from hasuite.drivers.k8s.provision import diagnose
from hasuite.drivers.k8s.provision.kindplan import (
    APP_DEPLOYMENTS,
    MARKER_LABEL,
    KindPlan,
    Step,
    plan_install,
    render_kind_config,
    rollout_status_argv,
)
from hasuite.errors import ConfigError, HasuiteError

log = logging.getLogger(__name__)

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


#: Host ports the kind config maps to the ingress NodePorts (env/kind/cluster.yaml).
INGRESS_PORTS = (8080, 8443)


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
    after the allow-list check (``runtime.context.check_context``). Raises HasuiteError naming
    what is missing or not ready.
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
