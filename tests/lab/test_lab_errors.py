"""The lab's error paths that need no running lab: timeouts, stale files, bad names."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hasuite.drivers.local.health import Health
from hasuite.drivers.local.lab import LocalLab
from hasuite.errors import ConfigError, LabError
from hasuite.paths import project_dir
from hasuite.settings import load_stack, suite_settings_from_env


@pytest.fixture
def idle_lab(tmp_path: Path) -> LocalLab:
    suite = suite_settings_from_env({}, lab_dir=tmp_path / "lab", port_base=31000)
    return LocalLab(suite, load_stack(), project_dir())


def test_a_component_that_never_gets_healthy_is_named_with_answer_and_log(
    idle_lab: LocalLab,
) -> None:
    with pytest.raises(LabError) as err:
        idle_lab._wait(
            lambda: Health(False, "connection refused on 31020"),
            "postgres",
            time.monotonic(),
            "postgres-2",
        )
    text = str(err.value)
    assert "postgres is not healthy" in text
    assert "connection refused on 31020" in text
    assert str(idle_lab.layout.log_dir / "postgres-2.log") in text


def test_a_check_that_raises_counts_as_unhealthy(idle_lab: LocalLab) -> None:
    def boom() -> Health:
        raise RuntimeError("socket exploded")

    with pytest.raises(LabError, match="RuntimeError: socket exploded"):
        idle_lab._wait(boom, "redis", time.monotonic(), "redis-1")


def test_stale_supervisor_pid_file_is_ignored(idle_lab: LocalLab) -> None:
    pidfile = idle_lab.layout.supervisor_pidfile
    pidfile.parent.mkdir(parents=True)
    pidfile.write_text("999999999\n")  # no such process
    assert idle_lab.supervisor.daemon_pid() is None
    assert idle_lab.is_running() is False
    pidfile.write_text("1\n")  # alive, but not a supervisord
    assert idle_lab.supervisor.daemon_pid() is None


def test_down_with_nothing_running_says_so(idle_lab: LocalLab) -> None:
    assert idle_lab.down().startswith("no lab running")


def test_unknown_component_lists_the_valid_ones(idle_lab: LocalLab) -> None:
    with pytest.raises(ConfigError, match="valid: etcd, postgres"):
        idle_lab.log_files("mysql")


def test_taken_port_is_a_clear_error(idle_lab: LocalLab) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", idle_lab.layout.port("nginx")))
        s.listen(1)
        with pytest.raises(LabError, match=r"ports already in use on 127.0.0.1: nginx=31080"):
            idle_lab.up(timeout_s=5)


def test_programs_start_in_the_lab_root_not_the_callers_folder(idle_lab: LocalLab) -> None:
    """A checkout in a private folder must not become the `postgres` user's working folder."""
    from hasuite.drivers.local.render import Program, render_supervisord

    layout = idle_lab.layout
    conf = render_supervisord(
        layout,
        [
            Program(name="patroni-like", component="postgres", command="true"),
            Program(name="app-like", component="django", command="true", directory=Path("/srv")),
        ],
    )
    blocks = {b.split("]", 1)[0]: b for b in conf.split("[program:")[1:]}
    assert f"directory={layout.root}\n" in blocks["patroni-like"]
    assert "directory=/srv\n" in blocks["app-like"]
