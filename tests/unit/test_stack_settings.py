"""env/stack.yaml: settings that only work together are checked when the file is loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from hasuite.errors import ConfigError
from hasuite.settings import load_stack


def _stack_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "stack.yaml"
    path.write_text(text)
    return path


def test_the_shipped_stack_keeps_gunicorn_idle_connections_longer_than_nginx() -> None:
    for profile in (None, "known-good"):
        stack = load_stack(profile=profile)
        assert stack.nginx.upstream_keepalive_timeout < stack.django.gunicorn_keepalive


@pytest.mark.parametrize("nginx_idle", [75, 90])
def test_nginx_pooling_longer_than_gunicorn_keeps_alive_is_refused(
    tmp_path: Path, nginx_idle: int
) -> None:
    path = _stack_file(
        tmp_path,
        "django: {gunicorn_keepalive: 75}\n"
        f"nginx: {{upstream_keepalive_timeout: {nginx_idle}}}\n",
    )
    with pytest.raises(ConfigError) as err:
        load_stack(path)
    text = str(err.value)
    assert str(path) in text
    assert f"nginx.upstream_keepalive_timeout {nginx_idle}" in text
    assert "django.gunicorn_keepalive 75" in text
    assert "raise django.gunicorn_keepalive or lower" in text


def test_a_profile_that_breaks_the_pairing_is_refused_by_name(tmp_path: Path) -> None:
    path = _stack_file(
        tmp_path,
        "profiles:\n  short-keepalive:\n    django: {gunicorn_keepalive: 5}\n",
    )
    assert load_stack(path).django.gunicorn_keepalive == 75  # the profile is not applied
    with pytest.raises(ConfigError, match=r"django\.gunicorn_keepalive 5:"):
        load_stack(path, profile="short-keepalive")


def test_an_hpa_maximum_below_the_replicas_is_refused(tmp_path: Path) -> None:
    path = _stack_file(tmp_path, "django: {replicas: 3, hpa_max_replicas: 2}\n")
    with pytest.raises(ConfigError) as err:
        load_stack(path)
    text = str(err.value)
    assert str(path) in text and "django.hpa_max_replicas 2" in text
    assert "raise django.hpa_max_replicas" in text
    assert load_stack(_stack_file(tmp_path, "django: {hpa_max_replicas: 3}\n")).django.replicas == 3


def test_the_labs_restart_delay_of_a_component_is_the_hold_down_a_crash_gets():
    from hasuite.settings import LabPlumbing

    lab = LabPlumbing(restart_delay=10, postgres_restart_delay=45, redis_restart_delay=0)
    assert lab.restart_delay_of("postgres") == 45
    assert lab.restart_delay_of("redis") == 10  # no own delay: the lab-wide one
    assert lab.restart_delay_of("django") == 10
    assert LabPlumbing(restart_delay=0).restart_delay_of("pooler") == 0
