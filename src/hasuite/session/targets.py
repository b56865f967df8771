"""Which target and which settings a run acts on (a stage of the run).

:func:`make_target` builds the target a Chaos Toolkit experiment names (the one the runner bound
in :data:`~hasuite.session.registry.REGISTRY` wins); :func:`stack_of` gives the settings under
test on it and :func:`known_good_stack` the profile a FAIL's recommendation compares with.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path

from hasuite.errors import ConfigError
from hasuite.paths import project_dir
from hasuite.session.registry import REGISTRY
from hasuite.settings import StackSettings, load_stack, suite_settings_from_env
from hasuite.target import Target

log = logging.getLogger(__name__)


def stack_of(target: Target) -> StackSettings:
    """The settings under test on ``target``: the lab's own (with its profile) on local; on
    kind and cluster the profile the shop's Namespace names (env/stack.yaml's production
    settings when it names none)."""
    from hasuite.drivers.k8s.runtime.target import KubeTarget
    from hasuite.drivers.local.target import LocalTarget

    if isinstance(target, LocalTarget):
        return target.lab.stack
    if isinstance(target, KubeTarget):
        return load_stack(profile=target.stack_profile())
    return load_stack()


def known_good_stack() -> StackSettings | None:
    """env/stack.yaml with its known-good profile (None if the file has no such profile)."""
    try:
        return load_stack(profile="known-good")
    except ConfigError:
        return None


def make_target(name: str, env: Mapping[str, str]) -> Target:
    """The target named ``name`` built from HASUITE_* settings (the bound one wins)."""
    bound = REGISTRY.bound_target()
    if bound is not None:
        if bound.name != name:
            raise ConfigError(f"target {name!r} requested but {bound.name!r} is bound")
        return bound
    if name in ("kind", "cluster"):
        return _kube_target(name, env)
    if name != "local":
        raise ConfigError(f"unknown target {name!r}; known: local, kind, cluster")
    from hasuite.drivers.local.lab import LocalLab
    from hasuite.drivers.local.target import LocalTarget

    suite = suite_settings_from_env(env)
    profile = None
    state_file = suite.lab_dir / "lab.json"
    with contextlib.suppress(OSError, ValueError):
        profile = json.loads(state_file.read_text()).get("profile")
    lab = LocalLab(suite, load_stack(profile=profile), project_dir())
    return LocalTarget(lab=lab)


def _kube_target(name: str, env: Mapping[str, str]) -> Target:
    """kind/cluster for a run without a runner (``chaos run`` of one file): opened once (safety
    checks, port-forwards) and kept open until the process exits. Settings from HASUITE_*:
    ``HASUITE_KUBE_CONTEXT``, ``HASUITE_ALLOW_CONTEXT`` (comma-separated), ``HASUITE_KIND_NAME``,
    ``HASUITE_K8S_SETTINGS``, ``HASUITE_APP_URL``, ``HASUITE_PROBE_TOKEN``."""
    opened = REGISTRY.opened(name)
    if opened is not None:
        return opened
    from hasuite.drivers.k8s.provision.connect import open_target
    from hasuite.drivers.k8s.provision.options import build_options

    settings = env.get("HASUITE_K8S_SETTINGS")
    opts = build_options(
        name,
        root=project_dir(),
        environ=env,
        context=env.get("HASUITE_KUBE_CONTEXT") or None,
        allow=tuple(a for a in env.get("HASUITE_ALLOW_CONTEXT", "").split(",") if a),
        settings_path=Path(settings) if settings else None,
        kind_name=env.get("HASUITE_KIND_NAME") or None,
        timeout_multiplier=suite_settings_from_env(env).timeout_multiplier,
        app_url=env.get("HASUITE_APP_URL") or None,
        probe_token=env.get("HASUITE_PROBE_TOKEN") or None,
    )
    stack = contextlib.ExitStack()
    target: Target = stack.enter_context(open_target(opts))
    return REGISTRY.adopt(target, stack.close)
