"""What this machine gives the kind target: the Docker engine, the tools, the node image and the
stack image, and the environment every docker/kind/kubectl/helm call runs with.

That environment is made here from the entry point's (``KubeOptions.environ``): the engine's
``DOCKER_HOST`` and the tool folder first on ``PATH`` (:func:`tool_env`). It goes to the command
runner and to the builds explicitly; the process environment is never changed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hasuite.drivers.k8s.boundary import CommandRunner, SubprocessRunner
from hasuite.drivers.k8s.host import engine
from hasuite.drivers.k8s.images.build import BuildError, image_exists
from hasuite.drivers.k8s.images.kindbuild import build_node_image
from hasuite.drivers.k8s.images.pins import BuildPins
from hasuite.drivers.k8s.images.stackimage import build_stack_image
from hasuite.drivers.k8s.images.tools import build_tools, tool_dir
from hasuite.drivers.k8s.provision.kindplan import FLAVORS
from hasuite.drivers.k8s.provision.options import KubeOptions


@dataclass(frozen=True, kw_only=True)
class KindHost:
    """What this machine gives the kind target: the engine, the flavor, the node image."""

    flavor: str = "pinned"
    node_image: str | None = None  # None: charts.yaml's pinned image
    coredns_tag: str | None = None
    cgroup_v1: bool = False
    stack_image: str | None = None  # built flavor: the stack image (None: cluster only)
    #: the environment of the docker/kind/kubectl/helm calls that follow (:func:`tool_env`);
    #: empty for a host that was not prepared (a dry run)
    env: Mapping[str, str] = field(default_factory=dict)


def host_is_cgroup_v1() -> bool:
    return not Path("/sys/fs/cgroup/cgroup.controllers").exists()


def choose_flavor(requested: str, *, pinned_present: bool, environ: Mapping[str, str]) -> str:
    """``auto``: pinned on GitHub Actions or when the pinned node image is already local (a
    machine that reaches the registries), else built here. No registry is ever probed."""
    if requested in FLAVORS:
        return requested
    if environ.get("GITHUB_ACTIONS") == "true" or pinned_present:
        return "pinned"
    return "built"


def tool_env(
    environ: Mapping[str, str], eng: engine.Engine | None, tools: Path | None
) -> dict[str, str]:
    """``environ`` with the engine's ``DOCKER_HOST`` (hasuite's own dockerd when that is the one
    that answers) and the tool folder ``tools`` first on ``PATH`` (when it exists)."""
    env = {**environ, **(eng.env() if eng is not None else {})}
    path = env.get("PATH", "")
    if tools is not None and tools.is_dir() and str(tools) not in path.split(os.pathsep):
        env["PATH"] = f"{tools}{os.pathsep}{path}"
    return env


def running_engine_env(opts: KubeOptions, runner: CommandRunner | None = None) -> dict[str, str]:
    """The environment of the docker/kind/kubectl calls of a run on kind: the engine that answers
    now (never started here; EngineError when none does) and the tool folder, as `up` used."""
    tools = tool_dir(opts.build.cache)
    runner = runner or SubprocessRunner(env=tool_env(opts.environ, None, tools))
    eng = engine.ensure_engine(runner, allow_start=False, environ=opts.environ)
    return tool_env(opts.environ, eng, tools)


def prepare_kind_host(
    opts: KubeOptions, runner: CommandRunner, progress: Callable[[str], None]
) -> KindHost:
    """Engine (running, or our own with opt-in), tools built or reused, node image per flavor.

    The host's ``env`` carries DOCKER_HOST (our own daemon) and the tool folder first on PATH
    for every docker/kind/kubectl/helm call that follows; the builds run with it too.
    """
    eng = engine.ensure_engine(
        runner,
        allow_start=opts.start_docker,
        environ=opts.environ,
        progress=progress,
        timeout_multiplier=opts.timeout_multiplier,
    )
    settings = opts.build.with_env(tool_env(opts.environ, eng, None))
    progress(f"Docker engine {eng.version}" + (" (hasuite's own)" if eng.ours else ""))
    pins = BuildPins.load(opts.root)
    flavor = _flavor(opts, settings.env)
    progress(f"node image flavor: {flavor}")
    if shutil.which("go", path=settings.env.get("PATH")) is not None:
        want = ("kind", "kubectl") + (("helm",) if flavor == "pinned" else ())
        try:
            build_tools(pins, want=want, settings=settings, progress=progress)
        except BuildError as exc:
            if flavor == "built":
                raise
            # a connected machine may have the tools already (the nightly's kind-action)
            progress(f"could not build the pinned tools ({exc}); using kind/kubectl/helm on PATH")
        settings = settings.with_env(tool_env(settings.env, None, tool_dir(settings.cache)))
    elif flavor == "built":
        raise BuildError(
            "the built flavor compiles kind, Kubernetes and the node's images from the Go module "
            "proxy: install Go 1.24+ (https://go.dev/doc/install), or use --node-image pinned "
            "on a machine that reaches the registries"
        )
    cgroup_v1 = host_is_cgroup_v1()
    if flavor == "pinned":
        return KindHost(flavor="pinned", cgroup_v1=cgroup_v1, env=settings.env)
    image = build_node_image(pins, ["docker"], settings=settings, progress=progress)
    stack = (
        None
        if opts.cluster_only
        else build_stack_image(opts.root, ["docker"], settings=settings, progress=progress)
    )
    return KindHost(
        flavor="built",
        node_image=image.ref,
        coredns_tag=image.coredns_tag,
        cgroup_v1=cgroup_v1,
        stack_image=stack,
        env=settings.env,
    )


def kind_flavor(opts: KubeOptions) -> str:
    """The flavor ``prepare_kind_host`` picks for these options (after it ran: same engine)."""
    try:
        env = running_engine_env(opts)
    except engine.EngineError:  # no engine: the pinned image cannot be there
        env = tool_env(opts.environ, None, tool_dir(opts.build.cache))
    return _flavor(opts, env)


def _flavor(opts: KubeOptions, env: Mapping[str, str]) -> str:
    pinned_ref = str(opts_charts(opts)["kind"]["node_image"])
    return choose_flavor(
        opts.node_image,
        pinned_present=image_exists(["docker"], pinned_ref, env=env),
        environ=opts.environ,
    )


def opts_charts(opts: KubeOptions) -> dict[str, Any]:
    return dict(yaml.safe_load((opts.root / "env/k8s/charts.yaml").read_text()))
