"""make_target: the target a Chaos Toolkit experiment names when no runner bound one."""

from __future__ import annotations

import pytest

from hasuite.errors import ConfigError
from hasuite.session.registry import REGISTRY
from hasuite.session.targets import make_target


def test_an_unknown_target_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown target 'kube'; known: local, kind, cluster"):
        make_target("kube", {})


def test_a_cluster_without_an_allow_listed_context_is_refused_before_any_call() -> None:
    with pytest.raises(ConfigError, match="context"):
        make_target("cluster", {})
    with pytest.raises(ConfigError, match="allow"):
        make_target("cluster", {"HASUITE_KUBE_CONTEXT": "staging"})
    assert REGISTRY.opened("cluster") is None  # nothing was opened, nothing left to close


def test_an_opened_target_is_reused_and_closed_once() -> None:
    class T:
        name = "kind"

    closed: list[int] = []
    target = REGISTRY.adopt(T(), lambda: closed.append(1))  # type: ignore[arg-type]
    try:
        assert make_target("kind", {}) is target
    finally:
        REGISTRY.close_opened()
        REGISTRY.close_opened()
    assert closed == [1]
    assert REGISTRY.opened("kind") is None
