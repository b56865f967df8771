"""The hasuite pytest plugin: target selection options, markers and the session's target.

`--target` picks where suites run (local, kind, cluster); `--experiment` narrows a run. The
session fixture ``hasuite_target`` brings the target up once: the local lab; on kind the same
bootstrap as `hasuite up --target kind` (a marked cluster, created or reused) and, at the end,
`hasuite down --target kind` unless `--keep-cluster`; on cluster an allow-listed context that is
checked (read-only), never created or deleted. A skip reason always says how to enable what was
skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TARGETS = ("local", "kind", "cluster")
K8S_SKIP = (
    "needs a Kubernetes target: run `make test-kind` (or `pytest --target kind --start-docker`: "
    "builds what this machine lacks, see env/kind/README.md; add --keep-cluster to reuse the "
    "cluster) or `pytest --target cluster --kube-context NAME --allow-context NAME --app-url URL` "
    "against an allow-listed staging cluster"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hasuite")
    group.addoption(
        "--target",
        choices=TARGETS,
        default="local",
        help="where suites run experiments (default: local)",
    )
    group.addoption(
        "--experiment", action="append", default=[], help="run only this experiment (repeatable)"
    )
    group.addoption(
        "--skip-experiment",
        action="append",
        default=[],
        help="run every experiment but this one (repeatable); its promises are not judged",
    )
    group.addoption(
        "--stack-profile",
        default=None,
        help="local: run the lab with this env/stack.yaml profile (default: production "
        "settings); a lab running with another profile is an error, never torn down",
    )
    group.addoption(
        "--keep-cluster",
        action="store_true",
        default=False,
        help="kind: leave the cluster up after the session (the next session reuses it)",
    )
    group.addoption(
        "--kube-context", default=None, help="kube context (kind: kind-<name>; cluster: required)"
    )
    group.addoption(
        "--allow-context",
        action="append",
        default=[],
        help="allow-list a context for --target cluster (repeatable)",
    )
    group.addoption(
        "--k8s-settings",
        default=None,
        help="YAML settings for kind/cluster (allowed_contexts, context, kind_name, "
        "kind_workers); env HASUITE_K8S_SETTINGS",
    )
    group.addoption("--kind-name", default=None, help="kind cluster name (default hasuite)")
    group.addoption(
        "--node-image",
        choices=("auto", "pinned", "built"),
        default=None,
        help="kind: pinned (official image + charts), built (node image and stack image built "
        "here, the local-images overlay), auto (default)",
    )
    group.addoption(
        "--start-docker",
        action="store_true",
        default=False,
        help="kind: start hasuite's own dockerd when none runs (root; implied by CI=true)",
    )
    group.addoption(
        "--cluster-only",
        action="store_true",
        default=False,
        help="kind, built flavor: the cluster and its add-ons only, without the shop stack",
    )
    group.addoption(
        "--app-url", default=None, help="cluster: the shop's URL (kind: http://127.0.0.1:8080)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    target = config.getoption("--target")
    if target == "local":
        skip = pytest.mark.skip(reason=K8S_SKIP)
        for item in items:
            if "k8s_only" in item.keywords:
                item.add_marker(skip)


def kube_options_from(config: pytest.Config, root: Path) -> Any:
    """KubeOptions from the command line (+ HASUITE_* environment, + the settings file)."""
    from hasuite.drivers.k8s.provision.options import build_options

    settings = config.getoption("--k8s-settings") or os.environ.get("HASUITE_K8S_SETTINGS")
    multiplier = os.environ.get("HASUITE_TIMEOUT_MULTIPLIER")
    return build_options(
        config.getoption("--target"),
        root=root,
        environ=os.environ,
        context=config.getoption("--kube-context"),
        allow=tuple(config.getoption("--allow-context")),
        settings_path=Path(settings) if settings else None,
        kind_name=config.getoption("--kind-name"),
        timeout_multiplier=float(multiplier) if multiplier else None,
        app_url=config.getoption("--app-url"),
        probe_token=os.environ.get("HASUITE_PROBE_TOKEN"),
        node_image=config.getoption("--node-image"),
        start_docker=config.getoption("--start-docker"),
        cluster_only=config.getoption("--cluster-only"),
    )


def run_config_from(config: pytest.Config, *, profile: str | None) -> Any:
    """The run this session describes (a RunConfig, built here once): the target, the chosen
    experiments (--experiment, less --skip-experiment), the HASUITE_* settings, the task
    deadline and timeout multiplier of every target. ``profile``: what the target runs."""
    from hasuite.paths import project_paths
    from hasuite.session.config import build_run_config
    from hasuite.session.options import known_experiments
    from hasuite.settings import suite_settings_from_env

    paths = project_paths()
    experiments = list(config.getoption("--experiment"))
    skipped = config.getoption("--skip-experiment")
    if skipped:
        known = known_experiments(paths.experiments)
        unknown = sorted(set(skipped) - set(known))
        if unknown:
            raise pytest.UsageError(f"--skip-experiment: unknown experiment(s) {unknown}")
        experiments = [e for e in experiments or known if e not in skipped]
    return build_run_config(
        config.getoption("--target"),
        suite_settings_from_env(os.environ),
        experiments=experiments,
        profile=profile,
        paths=paths,
    )


@pytest.fixture(scope="session")
def hasuite_run_config(request: pytest.FixtureRequest) -> Any:
    """The session's RunConfig: on local the --stack-profile lab; on kind and cluster the
    profile the session's target runs (the target is brought up for it)."""
    if request.config.getoption("--target") == "local":
        return run_config_from(request.config, profile=request.config.getoption("--stack-profile"))
    target = request.getfixturevalue("hasuite_target")
    return run_config_from(request.config, profile=target.stack_profile())


@pytest.fixture(scope="session")
def hasuite_target(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The target of this session, up (bounded waits); torn down per the options above."""
    from hasuite.paths import project_dir

    name = request.config.getoption("--target")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")

    def progress(msg: str) -> None:
        if reporter is not None:
            reporter.write_line(f"hasuite {name}: {msg}")

    if name == "local":
        from hasuite.session.targets import make_target

        target = make_target("local", os.environ)
        target.up()
        yield target
        return
    from hasuite.drivers.k8s.provision.connect import open_target
    from hasuite.drivers.k8s.provision.kindhost import kind_flavor
    from hasuite.drivers.k8s.provision.updown import bring_down, bring_up

    opts = kube_options_from(request.config, project_dir())
    bring_up(opts, progress=progress)
    # the built flavor's cluster-only mode has no monitoring stack to port-forward to
    forward = not (name == "kind" and kind_flavor(opts) == "built" and opts.cluster_only)
    try:
        with open_target(opts, forward=forward) as target:
            yield target
    finally:
        if name == "kind" and not request.config.getoption("--keep-cluster"):
            bring_down(opts, progress=progress)
        elif name == "kind":
            progress(f"--keep-cluster: leaving kind cluster {opts.kind_name!r} up")
