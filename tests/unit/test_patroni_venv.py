"""Patroni's venv is built once even when two labs start at once (a fresh machine, -n 2)."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from hasuite.drivers.local.patroni_venv import ensure_patroni_venv
from hasuite.errors import LabError


class FakeBuild:
    """`python -m venv` refuses an existing folder (as it did under the race); pip fills bin/."""

    def __init__(self, venv: Path) -> None:
        self.venv = venv
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
        with self.lock:
            self.calls.append(cmd[1] if cmd[1] in ("-m", "install") else cmd[0])
        if "venv" in cmd:
            try:
                (self.venv / "bin").mkdir(parents=True)
            except FileExistsError:
                return subprocess.CompletedProcess(cmd, 1, "", f"[Errno 17] {self.venv}")
            time.sleep(0.3)  # the window in which a second lab looked and found no venv
            return subprocess.CompletedProcess(cmd, 0, "", "")
        (self.venv / "bin" / "patroni").write_text("#!/bin/sh\n")
        return subprocess.CompletedProcess(cmd, 0, "", "")


def test_two_labs_starting_at_once_build_the_venv_once(tmp_path: Path) -> None:
    venv = tmp_path / "patroni-venv"
    build = FakeBuild(venv)
    errors: list[BaseException] = []

    def start() -> None:
        try:
            ensure_patroni_venv(venv, run=build)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == []
    assert build.calls == ["-m", "install"], "built more than once"
    assert (venv / "bin" / "patroni").exists()


def test_a_half_built_venv_is_built_again(tmp_path: Path) -> None:
    venv = tmp_path / "patroni-venv"
    (venv / "bin").mkdir(parents=True)  # a build killed after `venv`, before pip
    build = FakeBuild(venv)
    assert ensure_patroni_venv(venv, run=build) == venv / "bin" / "patroni"
    assert build.calls == ["-m", "install"]


def test_a_failed_build_names_the_command_and_what_to_do(tmp_path: Path) -> None:
    def refuse(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(cmd, 1, "", "No matching distribution found")

    with pytest.raises(LabError, match=r"pip install .*No matching distribution.*PyPI"):
        ensure_patroni_venv(tmp_path / "v", run=lambda c: _venv_ok(c) or refuse(c))


def _venv_ok(cmd: Sequence[str]) -> subprocess.CompletedProcess[str] | None:
    if "venv" in cmd:
        Path(cmd[-1], "bin").mkdir(parents=True)
        return subprocess.CompletedProcess(cmd, 0, "", "")
    return None
