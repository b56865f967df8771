"""`hasuite up/down --target kind|cluster` (and the suites' set-up and tear-down).

kind: prepare the host (:mod:`.kindhost`), render the local-images overlay for the profile, then
run the cluster's plan (:mod:`.bootstrap`); cluster: read-only checks, never a change. Every
command runs through a CommandRunner whose environment is made from the options' (the entry
point's), never from the process's.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import yaml

from hasuite.drivers.k8s.boundary import CommandRunner, SubprocessRunner
from hasuite.drivers.k8s.host import engine
from hasuite.drivers.k8s.images.kindbuild import NODE_IMAGE_REPO
from hasuite.drivers.k8s.images.pins import BuildPins
from hasuite.drivers.k8s.images.stackimage import pin_image
from hasuite.drivers.k8s.images.tools import tool_dir
from hasuite.drivers.k8s.manifests.overlay.patroni import patroni_dynamic_config
from hasuite.drivers.k8s.manifests.render import overlay_docs
from hasuite.drivers.k8s.names import PRODUCTION, STACK_IMAGE_REPO
from hasuite.drivers.k8s.provision import bootstrap, kindhost
from hasuite.drivers.k8s.provision.kindhost import KindHost, tool_env
from hasuite.drivers.k8s.provision.kindplan import KindPlan, default_workers
from hasuite.drivers.k8s.provision.options import KubeOptions
from hasuite.settings import StackSettings, load_stack


def write_stack_manifest(root: Path, ref: str, path: Path, stack: StackSettings) -> Path:
    """The local-images overlay rendered for ``stack`` with the stack image pinned to ``ref``."""
    docs = pin_image(overlay_docs(stack, root), ref)
    path.write_text("---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs))
    return path


def _plan(
    opts: KubeOptions,
    host: KindHost | None = None,
    stack_manifest: Path | None = None,
    stack: StackSettings | None = None,
) -> KindPlan:
    host = host or KindHost()
    return KindPlan(
        stack_image=host.stack_image,
        stack_manifest=stack_manifest if host.stack_image else None,
        patroni_config=(
            json.dumps(patroni_dynamic_config(stack), sort_keys=True) if stack else None
        ),
        cluster=opts.kind_name,
        root=opts.root,
        timeout_multiplier=opts.timeout_multiplier,
        workers=opts.kind_workers or default_workers(host.flavor),
        flavor=host.flavor,
        node_image=host.node_image,
        coredns_tag=host.coredns_tag,
        cgroup_v1=host.cgroup_v1,
    )


def bring_up(
    opts: KubeOptions,
    *,
    runner: CommandRunner | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> list[tuple[str, ...]]:
    """kind: create or reuse our cluster and install the stack; cluster: verify it (read-only).

    ``runner``: every command's (tests pass a fake); None: a SubprocessRunner with the options'
    environment, then, once the host is prepared, with the host's (DOCKER_HOST, tool folder).
    """
    context = opts.resolved_context()  # refuses before any tool or API call
    base = runner or SubprocessRunner(env=opts.environ)
    progress(f"target {opts.target}, context {context}" + (" (dry run)" if opts.dry_run else ""))
    if opts.target == "cluster":
        return bootstrap.verify_cluster(
            base,
            context,
            dry_run=opts.dry_run,
            timeout_multiplier=opts.timeout_multiplier,
            progress=progress,
        )
    if opts.dry_run:
        progress(
            "would prepare the host: a Docker engine (running, or hasuite's own with "
            "--start-docker), kind/kubectl(/helm) from the Go module proxy, and for the built "
            "flavor the node image (env/kind/README.md)"
        )
        if opts.node_image == "built":
            version = BuildPins.load(opts.root).kubernetes
            image = f"{NODE_IMAGE_REPO}:{version}-<hash>"
            stack = None if opts.cluster_only else f"{STACK_IMAGE_REPO}:<hash>"
            host = KindHost(flavor="built", node_image=image, stack_image=stack)
        else:
            host = KindHost(flavor="pinned")
        tools = base
    else:
        host = kindhost.prepare_kind_host(opts, base, progress)
        tools = runner or SubprocessRunner(env=host.env)
    settings = load_stack(opts.root / "env" / "stack.yaml", profile=opts.profile)
    with tempfile.TemporaryDirectory(prefix="hasuite-kind-") as tmp:
        manifest = Path(tmp) / "local-images.yaml"
        if host.stack_image and not opts.dry_run:
            write_stack_manifest(opts.root, host.stack_image, manifest, settings)
            progress(f"stack settings: {settings.profile or PRODUCTION}")
        return bootstrap.up(
            tools,
            _plan(opts, host, manifest, settings),
            config_path=Path(tmp) / "kind-cluster.yaml",
            dry_run=opts.dry_run,
            progress=progress,
        )


def bring_down(
    opts: KubeOptions,
    *,
    runner: CommandRunner | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> list[tuple[str, ...]]:
    """kind: delete our cluster (only ours); cluster: nothing (hasuite never deletes there)."""
    context = opts.resolved_context()
    if opts.target == "cluster":
        progress(
            f"context {context}: hasuite never deletes anything on an existing cluster; "
            "nothing to do"
        )
        return []
    if opts.dry_run:
        base = runner or SubprocessRunner(env=opts.environ)
        planned = bootstrap.down(base, _plan(opts), dry_run=True, progress=progress)
        progress("then stop hasuite's own dockerd, only if hasuite started it")
        return planned
    folder = tool_dir(opts.build.cache)
    base = runner or SubprocessRunner(env=tool_env(opts.environ, None, folder))
    try:
        eng = engine.ensure_engine(base, allow_start=False, environ=opts.environ)
    except engine.EngineError:
        progress("no Docker daemon answers: no kind cluster to delete")
        eng = None
    steps: list[tuple[str, ...]] = []
    if eng is not None:
        tools = runner or SubprocessRunner(env=tool_env(opts.environ, eng, folder))
        steps = bootstrap.down(tools, _plan(opts), progress=progress)
    if engine.stop_own_engine(progress=progress):
        steps.append(("stop", "hasuite-dockerd"))
    return steps
