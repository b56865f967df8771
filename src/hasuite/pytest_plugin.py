"""The hasuite pytest plugin: target selection options and markers.

`--target` picks where suites run (local, kind, cluster); `--experiment` narrows a run. A skip
reason always says how to enable what was skipped.
"""

from __future__ import annotations

import pytest

TARGETS = ("local", "kind", "cluster")


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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    target = config.getoption("--target")
    if target == "local":
        skip = pytest.mark.skip(
            reason="needs a Kubernetes target: run with --target kind (Docker + kind) or "
            "--target cluster with an allow-listed context"
        )
        for item in items:
            if "k8s_only" in item.keywords:
                item.add_marker(skip)
