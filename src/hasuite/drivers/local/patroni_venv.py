"""Patroni's virtualenv, built once per machine even when several labs start at once.

Two labs starting together (``pytest -n 2`` on a fresh machine) both found no venv and both ran
``python -m venv``: the second failed with "File exists". The build now holds an exclusive
``flock`` beside the venv and checks again under it, and a venv left half-built by a killed
build (no ``bin/patroni``) is removed and built again rather than reused.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from hasuite.drivers.local.render import PATRONI_VENV
from hasuite.errors import LabError

__all__ = ["PATRONI_REQUIREMENTS", "ensure_patroni_venv"]

PATRONI_REQUIREMENTS = ("patroni[etcd3]>=4.0,<5", "psycopg[binary]>=3.2")

Run = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def _run(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=600)


def ensure_patroni_venv(venv: Path = PATRONI_VENV, *, run: Run = _run) -> Path:
    """A virtualenv with Patroni that the `postgres` user can read (built from Debian's Python).

    Safe to call from several processes at once: one builds, the others wait and reuse it.
    """
    patroni = venv / "bin" / "patroni"
    if patroni.exists():
        return patroni
    tools = venv.parent
    tools.mkdir(parents=True, exist_ok=True)
    os.chmod(tools, 0o755)  # the `postgres` user runs Patroni from here
    with (tools / f".{venv.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes (or its holder dies)
        if patroni.exists():  # built by another lab while this one waited
            return patroni
        if venv.exists():
            shutil.rmtree(venv)  # half-built by a build that was killed
        for cmd in (
            ["/usr/bin/python3", "-m", "venv", str(venv)],
            [str(venv / "bin" / "pip"), "install", "-q", *PATRONI_REQUIREMENTS],
        ):
            result = run(cmd)
            if result.returncode != 0:
                raise LabError(
                    f"could not build Patroni's virtualenv ({' '.join(cmd)}): "
                    f"{result.stderr.strip()[-500:]}; check that PyPI is reachable, then "
                    f"start the lab again (a half-built {venv} is removed first)"
                )
    return patroni
