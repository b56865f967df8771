"""The options of the Kubernetes targets: the command line over the settings file over defaults.

The entry points (CLI, pytest plugin, ``chaos run``) only parse options, build them here once
(:func:`build_options`, with their environment) and call :func:`.updown.bring_up`,
:func:`.updown.bring_down` and :func:`.connect.open_target`. Safety order, always: resolve the
context -> allow-list / kind-name check (``runtime.context.check_context``) -> only then any
tool or API call.

Settings file (YAML; ``--k8s-settings PATH`` or ``HASUITE_K8S_SETTINGS``), every key optional::

    allowed_contexts: [staging-eu]   # --target cluster refuses every other context
    context: staging-eu              # default --context for --target cluster (not kind)
    kind_name: hasuite               # kind cluster name (context kind-<name>)
    kind_workers: 3

Command-line values win over the file; allow-lists add up (option + file).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hasuite.drivers.k8s.images.build import BuildSettings, build_settings
from hasuite.drivers.k8s.provision.kindplan import FLAVORS
from hasuite.drivers.k8s.runtime.context import check_context
from hasuite.errors import ConfigError

KUBE_TARGETS = ("kind", "cluster")
SETTINGS_KEYS = {"allowed_contexts", "context", "kind_name", "kind_workers"}


@dataclass(frozen=True, kw_only=True)
class KubeOptions:
    target: str
    root: Path
    context: str | None = None
    allowed_contexts: tuple[str, ...] = ()
    kind_name: str = "hasuite"
    kind_workers: int | None = None  # None: the flavor's default (kindplan.default_workers)
    dry_run: bool = False
    timeout_multiplier: float = 1.0
    app_url: str | None = None
    probe_token: str | None = None
    node_image: str = "auto"  # auto | pinned | built (kindplan.FLAVORS)
    start_docker: bool = False  # may start hasuite's own dockerd (root; or CI=true)
    #: built flavor: the cluster and its add-ons only, no stack image and no shop
    cluster_only: bool = False
    #: kind, built flavor: the env/stack.yaml profile the overlay is rendered with (None:
    #: production); `up` converges the cluster to it, runs judge against it
    profile: str | None = None
    #: the entry point's environment, read there once: the base of every command's environment
    #: (with the engine's DOCKER_HOST and the tool folder on PATH once they are known), and
    #: where ``CI``, ``GITHUB_ACTIONS`` and ``DOCKER_HOST`` are looked up. Nothing below the
    #: entry point reads the process environment.
    environ: Mapping[str, str] = field(default_factory=dict)
    #: the image builds' settings (HASUITE_CACHE_DIR, HASUITE_DEBIAN_MIRROR of ``environ``)
    build: BuildSettings = field(default_factory=BuildSettings)

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
    environ: Mapping[str, str],
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
    """Options from the command line over the settings file over defaults.

    ``environ``: the entry point's environment (``os.environ`` there, or the mapping a ``chaos
    run`` was given): HASUITE_KIND_NODE_IMAGE is the default of ``node_image``, and the builds'
    settings come from it (:func:`~hasuite.drivers.k8s.images.build.build_settings`)."""
    if node_image not in (None, "auto", *FLAVORS):
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
        node_image=node_image or environ.get("HASUITE_KIND_NODE_IMAGE", "auto"),
        start_docker=start_docker,
        cluster_only=cluster_only,
        profile=profile,
        environ=dict(environ),
        build=build_settings(environ),
    )
