"""The one registry of components: every target, the lab and the run agree with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from hasuite.components import (
    COMPONENTS,
    LAB_COMPONENTS,
    STACK_COMPONENTS,
    STEADY_STATE,
    component,
    validate_selector,
)
from hasuite.drivers.k8s.runtime.members import COMPONENTS as KUBE_SELECTORS
from hasuite.drivers.local import render
from hasuite.drivers.local.layout import LabLayout, LabSecrets
from hasuite.errors import ConfigError
from hasuite.paths import project_dir
from hasuite.session.waits import PRIMARY_ROLE
from hasuite.settings import load_stack
from hasuite.target import COMPONENT_ROLES

PROFILES = [None, "known-good", "pooler-violated", "django-selfheal-violated"]


def test_names_are_unique_and_every_primary_is_a_role() -> None:
    names = [c.name for c in COMPONENTS]
    assert len(names) == len(set(names))
    for c in COMPONENTS:
        assert c.primary is None or c.primary in c.roles, c
        assert c.health, f"{c.name} has no health check described"


def test_targets_and_the_run_read_the_registry() -> None:
    assert set(COMPONENT_ROLES) == set(STACK_COMPONENTS)
    assert PRIMARY_ROLE == {"postgres": "leader", "redis": "master"}
    # Kubernetes resolves exactly the steady-state components by label
    assert set(KUBE_SELECTORS) == set(STEADY_STATE)
    assert not {"etcd", "haproxy", "alert-receiver"} & set(STACK_COMPONENTS)


@pytest.mark.parametrize("profile", PROFILES)
def test_the_lab_runs_the_registered_instance_counts(tmp_path: Path, profile: str | None) -> None:
    stack = load_stack(profile=profile)
    layout = LabLayout(root=tmp_path, port_base=29500, stack=stack)
    programs = render.render_lab(layout, LabSecrets(*(["x"] * 6)), project_dir())
    seen = {p.component for p in programs}
    assert seen == set(LAB_COMPONENTS)
    for c in COMPONENTS:
        got = sum(1 for p in programs if p.component == c.name)
        assert got == c.count(stack), f"{c.name}: {got} programs, registry says {c.count(stack)}"


@pytest.mark.parametrize(
    ("name", "role", "message"),
    [
        ("postgress", None, "unknown component 'postgress'"),
        ("etcd", None, "unknown component 'etcd'"),  # lab plumbing is not a target's
        ("redis", "leader", "unknown role 'leader' for redis; valid: master, replica"),
        ("django", "leader", "none (django has no roles)"),
    ],
)
def test_bad_selectors_name_what_is_valid(name: str, role: str | None, message: str) -> None:
    with pytest.raises(ConfigError, match="valid") as info:
        validate_selector(name, role)
    assert message in str(info.value)


def test_lookup_of_an_unknown_component_lists_the_known() -> None:
    with pytest.raises(ConfigError, match="valid: postgres, pooler"):
        component("nope")
