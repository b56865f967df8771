"""`hasuite up/down --target kind|cluster` and the pytest fixture's set-up, in one place.

The CLI and the pytest plugin only parse options and call :func:`bring_up`, :func:`bring_down`
and :func:`open_target`. Safety order, always: resolve the context -> allow-list / kind-name check
(``target.check_context``) -> only then any tool or API call.

Settings file (YAML; ``--k8s-settings PATH`` or ``HASUITE_K8S_SETTINGS``), every key optional::

    allowed_contexts: [staging-eu]   # --target cluster refuses every other context
    context: staging-eu              # default --context for --target cluster (not kind)
    kind_name: hasuite               # kind cluster name (context kind-<name>)
    kind_workers: 3

Command-line values win over the file; allow-lists add up (option + file).
"""

# size: the `up`/`down` commands for kind and cluster: options, the kind host's preparation,
# the install plan and the port-forwards that `open_target` hands the session.
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hasuite.drivers.k8s import bootstrap, engine
from hasuite.drivers.k8s.boundary import CommandRunner, KubeApi, SubprocessRunner
from hasuite.drivers.k8s.overlay import PRODUCTION, patroni_dynamic_config
from hasuite.drivers.k8s.stackimage import (
    STACK_IMAGE_REPO,
    build_stack_image,
    pin_image,
)
from hasuite.drivers.k8s.target import KubeTarget, check_context
from hasuite.errors import ConfigError, HasuiteError
from hasuite.settings import StackSettings, load_stack
from hasuite.target import Endpoints

KUBE_TARGETS = ("kind", "cluster")
SETTINGS_KEYS = {"allowed_contexts", "context", "kind_name", "kind_workers"}

#: Services the suite reaches through `kubectl port-forward` (namespace, service, port).
FORWARDS: dict[str, tuple[str, str, int]] = {
    "prometheus": ("monitoring", "kube-prometheus-stack-prometheus", 9090),
    "alertmanager": ("monitoring", "kube-prometheus-stack-alertmanager", 9093),
    "alert_receiver": ("shop", "hasuite-alert-receiver", 9095),
}
#: On kind the shop is reached through Traefik's NodePort, mapped to the host (env/kind).
KIND_APP_URL = "http://127.0.0.1:8080"
#: Test-only probe token of env/k8s/base/app/secrets.yaml (kind); on a cluster pass your own.
KIND_PROBE_TOKEN = "hasuite-probe-token"


@dataclass(frozen=True, kw_only=True)
class KubeOptions:
    target: str
    root: Path
    context: str | None = None
    allowed_contexts: tuple[str, ...] = ()
    kind_name: str = "hasuite"
    kind_workers: int | None = None  # None: the flavor's default (bootstrap.default_workers)
    dry_run: bool = False
    timeout_multiplier: float = 1.0
    app_url: str | None = None
    probe_token: str | None = None
    node_image: str = "auto"  # auto | pinned | built (bootstrap.FLAVORS)
    start_docker: bool = False  # may start hasuite's own dockerd (root; or CI=true)
    #: built flavor: the cluster and its add-ons only, no stack image and no shop
    cluster_only: bool = False
    #: kind, built flavor: the env/stack.yaml profile the overlay is rendered with (None:
    #: production); `up` converges the cluster to it, runs judge against it
    profile: str | None = None

    def resolved_context(self) -> str:
        """The one context every call pins; ConfigError when it cannot be decided or is refused."""
        if self.target == "kind":
            context = self.context or f"kind-{self.kind_name}"
        elif self.target == "cluster":
            if not self.context:
                raise ConfigError(
                    "--target cluster needs --context NAME (or `context:` in the k8s settings "
                    "file); hasuite never falls back to kubectl's current context"
                )
            context = self.context
        else:
            raise ConfigError(f"unknown Kubernetes target {self.target!r}; valid: kind, cluster")
        check_context(
            target=self.target,
            context=context,
            allowed=self.allowed_contexts,
            kind_cluster=self.kind_name,
        )
        return context


def load_k8s_settings(path: Path | None) -> dict[str, Any]:
    """The settings file's mapping ({} when ``path`` is None); ConfigError on a bad file."""
    if path is None:
        return {}
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"k8s settings file {path} cannot be read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"k8s settings file {path} is not valid YAML: {exc}") from exc
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"k8s settings file {path}: expected a mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - SETTINGS_KEYS)
    if unknown:
        raise ConfigError(
            f"k8s settings file {path}: unknown key(s) {', '.join(unknown)}; "
            f"valid: {', '.join(sorted(SETTINGS_KEYS))}"
        )
    allowed = raw.get("allowed_contexts", [])
    if not isinstance(allowed, list) or not all(isinstance(c, str) and c for c in allowed):
        raise ConfigError(
            f"k8s settings file {path}: allowed_contexts must be a list of context names, "
            f"got {allowed!r}"
        )
    workers = raw.get("kind_workers", 3)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"k8s settings file {path}: kind_workers must be an integer >= 1")
    for key in ("context", "kind_name"):
        if key in raw and (not isinstance(raw[key], str) or not raw[key]):
            raise ConfigError(f"k8s settings file {path}: {key} must be a non-empty name")
    return raw


def build_options(
    target: str,
    *,
    root: Path,
    context: str | None = None,
    allow: tuple[str, ...] = (),
    settings_path: Path | None = None,
    kind_name: str | None = None,
    kind_workers: int | None = None,
    dry_run: bool = False,
    timeout_multiplier: float | None = None,
    app_url: str | None = None,
    probe_token: str | None = None,
    node_image: str | None = None,
    start_docker: bool = False,
    cluster_only: bool = False,
    profile: str | None = None,
) -> KubeOptions:
    """Options from the command line over the settings file over defaults."""
    if node_image not in (None, "auto", *bootstrap.FLAVORS):
        raise ConfigError(f"--node-image must be auto, pinned or built, got {node_image!r}")
    file = load_k8s_settings(settings_path)
    return KubeOptions(
        target=target,
        root=root,
        # the file's `context` is the staging cluster's; kind's context follows its name
        context=context or (file.get("context") if target == "cluster" else None),
        allowed_contexts=tuple(dict.fromkeys([*allow, *file.get("allowed_contexts", [])])),
        kind_name=kind_name or file.get("kind_name", "hasuite"),
        kind_workers=kind_workers or file.get("kind_workers"),
        dry_run=dry_run,
        timeout_multiplier=timeout_multiplier or 1.0,
        app_url=app_url,
        probe_token=probe_token,
        node_image=node_image or os.environ.get("HASUITE_KIND_NODE_IMAGE", "auto"),
        start_docker=start_docker,
        cluster_only=cluster_only,
        profile=profile,
    )


@dataclass(frozen=True, kw_only=True)
class KindHost:
    """What this machine gives the kind target: the engine, the flavor, the node image."""

    flavor: str = "pinned"
    node_image: str | None = None  # None: charts.yaml's pinned image
    coredns_tag: str | None = None
    cgroup_v1: bool = False
    stack_image: str | None = None  # built flavor: the stack image (None: cluster only)


def host_is_cgroup_v1() -> bool:
    return not Path("/sys/fs/cgroup/cgroup.controllers").exists()


def choose_flavor(requested: str, *, pinned_present: bool, environ: dict[str, str]) -> str:
    """``auto``: pinned on GitHub Actions or when the pinned node image is already local (a
    machine that reaches the registries), else built here. No registry is ever probed."""
    if requested in bootstrap.FLAVORS:
        return requested
    if environ.get("GITHUB_ACTIONS") == "true" or pinned_present:
        return "pinned"
    return "built"


def _use_kind_engine(runner: CommandRunner) -> None:
    """The Docker engine kind's nodes run on, for the crash faults' `docker exec` (hasuite's own
    dockerd when that is the one that answers): DOCKER_HOST and the tool folder exported, as
    `up` does. Without an engine the run stops here, before any probe or fault."""
    _use_tool_dir()
    try:
        eng = engine.ensure_engine(runner, allow_start=False)
    except engine.EngineError as exc:
        raise ConfigError(
            f"--target kind: {exc}; the kind cluster's nodes are containers of that engine "
            "(bring it up with `hasuite up --target kind --start-docker`)"
        ) from exc
    os.environ.update(eng.env())


def _use_tool_dir() -> None:
    from hasuite.drivers.k8s import kindbuild

    tools = kindbuild.tool_dir()
    if tools.is_dir() and str(tools) not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = f"{tools}{os.pathsep}{os.environ.get('PATH', '')}"


def prepare_kind_host(
    opts: KubeOptions, runner: CommandRunner, progress: Callable[[str], None]
) -> KindHost:
    """Engine (running, or our own with opt-in), tools built or reused, node image per flavor.

    Exports DOCKER_HOST (our own daemon) and puts the tool folder first on PATH for every
    docker/kind/kubectl/helm call that follows.
    """
    from hasuite.drivers.k8s import kindbuild

    eng = engine.ensure_engine(
        runner,
        allow_start=opts.start_docker,
        progress=progress,
        timeout_multiplier=opts.timeout_multiplier,
    )
    os.environ.update(eng.env())
    progress(f"Docker engine {eng.version}" + (" (hasuite's own)" if eng.ours else ""))
    pins = kindbuild.BuildPins.load(opts.root)
    flavor = kind_flavor(opts)
    progress(f"node image flavor: {flavor}")
    if shutil.which("go") is not None:
        want = ("kind", "kubectl") + (("helm",) if flavor == "pinned" else ())
        try:
            kindbuild.build_tools(pins, want=want, progress=progress)
        except kindbuild.BuildError as exc:
            if flavor == "built":
                raise
            # a connected machine may have the tools already (the nightly's kind-action)
            progress(f"could not build the pinned tools ({exc}); using kind/kubectl/helm on PATH")
        _use_tool_dir()
    elif flavor == "built":
        raise kindbuild.BuildError(
            "the built flavor compiles kind, Kubernetes and the node's images from the Go module "
            "proxy: install Go 1.24+ (https://go.dev/doc/install), or use --node-image pinned "
            "on a machine that reaches the registries"
        )
    cgroup_v1 = host_is_cgroup_v1()
    if flavor == "pinned":
        return KindHost(flavor="pinned", cgroup_v1=cgroup_v1)
    image = kindbuild.build_node_image(pins, ["docker"], progress=progress)
    stack = (
        None if opts.cluster_only else build_stack_image(opts.root, ["docker"], progress=progress)
    )
    return KindHost(
        flavor="built",
        node_image=image.ref,
        coredns_tag=image.coredns_tag,
        cgroup_v1=cgroup_v1,
        stack_image=stack,
    )


def write_stack_manifest(root: Path, ref: str, path: Path, stack: StackSettings) -> Path:
    """The local-images overlay rendered for ``stack`` with the stack image pinned to ``ref``."""
    from hasuite.drivers.k8s.render import overlay_docs

    docs = pin_image(overlay_docs(stack, root), ref)
    path.write_text("---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs))
    return path


def kind_flavor(opts: KubeOptions) -> str:
    """The flavor ``prepare_kind_host`` picks for these options (after it ran: same engine)."""
    from hasuite.drivers.k8s import kindbuild

    pinned_ref = str(opts_charts(opts)["kind"]["node_image"])
    return choose_flavor(
        opts.node_image,
        pinned_present=kindbuild.image_exists(["docker"], pinned_ref),
        environ=dict(os.environ),
    )


def opts_charts(opts: KubeOptions) -> dict[str, Any]:
    return dict(yaml.safe_load((opts.root / "env/k8s/charts.yaml").read_text()))


def _plan(
    opts: KubeOptions,
    host: KindHost | None = None,
    stack_manifest: Path | None = None,
    stack: StackSettings | None = None,
) -> bootstrap.KindPlan:
    host = host or KindHost()
    return bootstrap.KindPlan(
        stack_image=host.stack_image,
        stack_manifest=stack_manifest if host.stack_image else None,
        patroni_config=(
            json.dumps(patroni_dynamic_config(stack), sort_keys=True) if stack else None
        ),
        cluster=opts.kind_name,
        root=opts.root,
        timeout_multiplier=opts.timeout_multiplier,
        workers=opts.kind_workers or bootstrap.default_workers(host.flavor),
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
    """kind: create or reuse our cluster and install the stack; cluster: verify it (read-only)."""
    context = opts.resolved_context()  # refuses before any tool or API call
    runner = runner or SubprocessRunner()
    progress(f"target {opts.target}, context {context}" + (" (dry run)" if opts.dry_run else ""))
    if opts.target == "cluster":
        return bootstrap.verify_cluster(
            runner,
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
            from hasuite.drivers.k8s import kindbuild

            version = kindbuild.BuildPins.load(opts.root).kubernetes
            image = f"{kindbuild.NODE_IMAGE_REPO}:{version}-<hash>"
            stack = None if opts.cluster_only else f"{STACK_IMAGE_REPO}:<hash>"
            host = KindHost(flavor="built", node_image=image, stack_image=stack)
        else:
            host = KindHost(flavor="pinned")
    else:
        host = prepare_kind_host(opts, runner, progress)
    settings = load_stack(opts.root / "env" / "stack.yaml", profile=opts.profile)
    with tempfile.TemporaryDirectory(prefix="hasuite-kind-") as tmp:
        manifest = Path(tmp) / "local-images.yaml"
        if host.stack_image and not opts.dry_run:
            write_stack_manifest(opts.root, host.stack_image, manifest, settings)
            progress(f"stack settings: {settings.profile or PRODUCTION}")
        return bootstrap.up(
            runner,
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
    runner = runner or SubprocessRunner()
    if opts.dry_run:
        planned = bootstrap.down(runner, _plan(opts), dry_run=True, progress=progress)
        progress("then stop hasuite's own dockerd, only if hasuite started it")
        return planned
    _use_tool_dir()
    try:
        eng = engine.ensure_engine(runner, allow_start=False)
    except engine.EngineError:
        progress("no Docker daemon answers: no kind cluster to delete")
        eng = None
    steps: list[tuple[str, ...]] = []
    if eng is not None:
        os.environ.update(eng.env())
        steps = bootstrap.down(runner, _plan(opts), progress=progress)
    if engine.stop_own_engine(progress=progress):
        steps.append(("stop", "hasuite-dockerd"))
    return steps


# --------------------------------------------------------------------------------------------
# The target for suites: KubeTarget + endpoints through the ingress and port-forwards
# --------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(kw_only=True)
class PortForward:
    """`kubectl port-forward` on 127.0.0.1, pinned to one context; bounded start and stop."""

    context: str
    namespace: str
    service: str
    port: int
    local_port: int = field(default_factory=_free_port)
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.local_port}"

    def argv(self) -> list[str]:
        return [
            "kubectl",
            "--context",
            self.context,
            "-n",
            self.namespace,
            "port-forward",
            "--address",
            "127.0.0.1",
            f"svc/{self.service}",
            f"{self.local_port}:{self.port}",
        ]

    def start(self, *, timeout_s: float = 20.0) -> None:
        self._proc = subprocess.Popen(
            self.argv(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise HasuiteError(
                    f"port-forward to {self.namespace}/{self.service} in {self.context} exited: "
                    f"{err.strip()[-300:]}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.local_port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise HasuiteError(
            f"port-forward to {self.namespace}/{self.service} in {self.context} not listening "
            f"after {timeout_s:.0f} s"
        )

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)


@contextmanager
def open_target(
    opts: KubeOptions,
    *,
    api_factory: Callable[[str], KubeApi] | None = None,
    runner: CommandRunner | None = None,
    forward: bool = True,
) -> Iterator[KubeTarget]:
    """A KubeTarget for ``opts`` (safety checks first), with port-forwards while it is open."""
    context = opts.resolved_context()
    if api_factory is None:
        from hasuite.drivers.k8s.boundary import ClientKubeApi

        api_factory = ClientKubeApi
    app_url = opts.app_url or (KIND_APP_URL if opts.target == "kind" else None)
    if app_url is None:
        raise ConfigError(
            "--target cluster needs the shop's URL (--app-url, e.g. https://shop.staging.example)"
        )
    token = opts.probe_token or (KIND_PROBE_TOKEN if opts.target == "kind" else None)
    if opts.target == "kind" and runner is None:
        runner = SubprocessRunner()
        _use_kind_engine(runner)
    with ExitStack() as stack:
        urls: dict[str, str] = {}
        if forward:
            for key, (namespace, service, port) in FORWARDS.items():
                pf = PortForward(context=context, namespace=namespace, service=service, port=port)
                pf.start(timeout_s=20.0 * opts.timeout_multiplier)
                stack.callback(pf.stop)
                urls[key] = pf.url
        endpoints = Endpoints(
            app_url=app_url,
            prometheus_url=urls.get("prometheus", ""),
            alertmanager_url=urls.get("alertmanager", ""),
            alert_receiver_url=urls.get("alert_receiver"),
            probe_token=token,
        )
        yield KubeTarget.create(
            target=opts.target,
            context=context,
            api_factory=api_factory,
            allowed_contexts=opts.allowed_contexts,
            kind_cluster=opts.kind_name,
            runner=runner,
            dry_run=opts.dry_run,
            endpoints=endpoints,
        )
