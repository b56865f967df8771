"""The Docker engine of the kind target: a running daemon, or (opt-in, root) one of our own.

Order, always:
1. a daemon that already answers (``DOCKER_HOST`` of the environment the entry point passes,
   or the default socket) is used as it is;
2. our own daemon from an earlier ``up`` (socket :data:`OWN_SOCKET`) is reused;
3. otherwise, only with an explicit opt-in (``--start-docker`` or ``CI=true`` in that
   environment) and only as root,
   Debian's ``docker.io`` is installed when dockerd is missing and a dockerd of our own starts
   with its own socket, data root and exec root (nothing of a system Docker is touched).

Where the host cannot grant what ``docker run --privileged`` asks for (a capability missing from
the bounding set, as on some VMs), our dockerd gets an OCI runtime wrapper
(:mod:`hasuite.drivers.k8s.host.oci_wrapper`) as its default runtime; a normal host gets plain runc.
``down`` stops a daemon only when the state file says hasuite started it. Nothing here changes
the process environment: the caller passes :meth:`Engine.env` to the commands that need it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from hasuite.drivers.k8s.boundary import CommandRunner
from hasuite.drivers.k8s.host import oci_wrapper
from hasuite.errors import ConfigError, HasuiteError

OWN_SOCKET = Path("/run/hasuite-docker.sock")
OWN_ROOT = Path("/var/lib/hasuite-docker")
OWN_EXEC_ROOT = Path("/run/hasuite-docker")
OWN_PIDFILE = Path("/run/hasuite-docker.pid")
STATE_FILE = OWN_ROOT / "started-by-hasuite.json"
WRAPPER_NAME = "hasuite-runc"


class EngineError(HasuiteError):
    """No usable Docker engine, and none could (or may) be started."""


@dataclass(frozen=True, kw_only=True)
class Engine:
    host: str | None  # DOCKER_HOST to use; None = the client's default
    ours: bool  # started by hasuite (down may stop it)
    wrapped: bool = False  # runs the OCI caps wrapper
    version: str = ""

    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": self.host} if self.host else {}


def missing_capabilities(status_text: str, last_cap: int) -> list[str]:
    """Capabilities up to ``last_cap`` that this process's bounding set lacks."""
    have = oci_wrapper.read_bounding_set(status_text)
    known = oci_wrapper.CAP_NAMES[: last_cap + 1]
    return [c for c in known if c not in have]


def host_needs_wrapper() -> list[str]:
    """Why our dockerd needs the OCI wrapper here ([] = it does not)."""
    status = Path("/proc/self/status").read_text()
    try:
        last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    except (OSError, ValueError):
        last = len(oci_wrapper.CAP_NAMES) - 1
    return missing_capabilities(status, last)


def opted_in(flag: bool, environ: Mapping[str, str]) -> bool:
    return flag or environ.get("CI", "").lower() == "true"


def dockerd_argv(*, wrapper: Path | None) -> list[str]:
    argv = [
        "dockerd",
        "--host",
        f"unix://{OWN_SOCKET}",
        "--data-root",
        str(OWN_ROOT / "data"),
        "--exec-root",
        str(OWN_EXEC_ROOT),
        "--pidfile",
        str(OWN_PIDFILE),
    ]
    if wrapper is not None:
        argv += ["--add-runtime", f"{WRAPPER_NAME}={wrapper}", "--default-runtime", WRAPPER_NAME]
    return argv


def _info(runner: CommandRunner, host: str | None) -> str | None:
    argv = ["docker"] + (["--host", host] if host else []) + ["info", "--format", "{{json .}}"]
    result = runner.run(argv, timeout_s=30, check=False)
    if result.returncode != 0:
        return None
    try:
        info = json.loads(result.stdout)
    except ValueError:
        return None
    # `docker info` exits 0 with ServerErrors when the client works but no daemon answers
    if info.get("ServerErrors") or not info.get("ServerVersion"):
        return None
    return str(info["ServerVersion"])


def read_state() -> dict[str, object] | None:
    try:
        data = json.loads(STATE_FILE.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def ensure_engine(
    runner: CommandRunner,
    *,
    allow_start: bool,
    environ: Mapping[str, str],
    progress: Callable[[str], None] = lambda _: None,
    timeout_multiplier: float = 1.0,
) -> Engine:
    """A Docker engine that answers (see the module doc for the order); EngineError otherwise.

    ``environ``: the entry point's environment (its ``DOCKER_HOST`` and ``CI``)."""
    if runner.which("docker") is not None:
        own = f"unix://{OWN_SOCKET}"
        current = environ.get("DOCKER_HOST")
        version = _info(runner, current) if current != own else None
        if version:
            return Engine(host=current, ours=False, version=version)
        if OWN_SOCKET.exists():
            version = _info(runner, own)
            if version:
                state = read_state() or {}
                progress(f"using hasuite's own dockerd {version} ({OWN_SOCKET})")
                return Engine(
                    host=own, ours=bool(state), wrapped=bool(state.get("wrapper")), version=version
                )
    if not opted_in(allow_start, environ):
        raise EngineError(
            "no Docker daemon answers (docker info failed) and hasuite starts its own only when "
            "asked: pass --start-docker (or run with CI=true) as root on Debian/Ubuntu, or start "
            "Docker yourself (https://docs.docker.com/engine/install/)"
        )
    return start_own_engine(runner, progress=progress, timeout_multiplier=timeout_multiplier)


def _install_docker(runner: CommandRunner, progress: Callable[[str], None]) -> None:
    if not Path("/etc/debian_version").exists() or shutil.which("apt-get") is None:
        raise EngineError(
            "dockerd is not installed and this is not a Debian/Ubuntu host (no apt-get): "
            "install Docker Engine yourself (https://docs.docker.com/engine/install/)"
        )
    progress("installing Debian's docker.io (apt-get)")
    env_prefix = ["env", "DEBIAN_FRONTEND=noninteractive"]
    for argv in (
        [*env_prefix, "apt-get", "update", "-qq"],
        [*env_prefix, "apt-get", "install", "-y", "-qq", "docker.io"],
    ):
        result = runner.run(argv, timeout_s=900, check=False)
        if result.returncode != 0:
            raise EngineError(
                f"{' '.join(argv[2:])} failed (exit {result.returncode}): "
                f"{(result.stderr or result.stdout).strip()[-800:]}; hasuite needs Debian's "
                "docker.io package (root, reachable Debian mirror)"
            )


def install_wrapper(directory: Path) -> Path:
    """Write the OCI wrapper (this package's oci_wrapper.py, Debian's python3) into directory."""
    directory.mkdir(parents=True, exist_ok=True)
    python = shutil.which("python3") or sys.executable
    source = Path(oci_wrapper.__file__).read_text().split("\n", 1)[1]
    runc = shutil.which("runc") or "/usr/sbin/runc"
    path = directory / WRAPPER_NAME
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        f"#!{python}\n" + source.replace('"/usr/sbin/runc")', f'"{runc}")', 1),
    )
    tmp.chmod(0o755)
    tmp.replace(path)
    return path


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start_own_engine(
    runner: CommandRunner,
    *,
    progress: Callable[[str], None] = lambda _: None,
    timeout_multiplier: float = 1.0,
) -> Engine:
    if os.geteuid() != 0:
        raise EngineError(
            "starting hasuite's own dockerd needs root (it installs docker.io and runs dockerd "
            "with its own socket); run as root, or start Docker yourself and add your user to "
            "the docker group"
        )
    if shutil.which("dockerd") is None:
        _install_docker(runner, progress)
        if shutil.which("dockerd") is None:
            raise EngineError("docker.io installed but dockerd is not on PATH")
    OWN_ROOT.mkdir(parents=True, exist_ok=True)
    reasons = host_needs_wrapper()
    wrapper = install_wrapper(OWN_ROOT / "bin") if reasons else None
    if wrapper:
        progress(
            f"host lacks {', '.join(reasons)} in its capability bounding set: our dockerd "
            f"runs containers through {wrapper} (drops them, clamps rlimits)"
        )
    log_path = OWN_ROOT / "dockerd.log"
    argv = dockerd_argv(wrapper=wrapper)
    progress(f"starting hasuite's own dockerd ({OWN_SOCKET}, data {OWN_ROOT / 'data'})")
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    host = f"unix://{OWN_SOCKET}"
    deadline = time.monotonic() + 60 * timeout_multiplier
    version = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if OWN_SOCKET.exists():
            version = _info(runner, host)
            if version:
                break
        time.sleep(0.5)
    if not version:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        raise EngineError(
            f"hasuite's dockerd did not come up ({' '.join(argv)}; exit {proc.poll()}); "
            f"last lines of {log_path}:\n{tail(log_path)}"
        )
    STATE_FILE.write_text(
        json.dumps({"pid": proc.pid, "socket": str(OWN_SOCKET), "wrapper": str(wrapper or "")})
    )
    progress(f"dockerd {version} up (pid {proc.pid})")
    return Engine(host=host, ours=True, wrapped=wrapper is not None, version=version)


def _is_our_dockerd(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return (
        bool(cmdline)
        and cmdline[0].endswith(b"dockerd")
        and str(OWN_SOCKET).encode() in b" ".join(cmdline)
    )


def stop_own_engine(
    *, progress: Callable[[str], None] = lambda _: None, timeout_s: float = 60
) -> bool:
    """Stop the dockerd hasuite started (state file); False when there is none."""
    state = read_state()
    if not state:
        return False
    pid = state.get("pid")
    if not isinstance(pid, int):
        raise ConfigError(f"{STATE_FILE}: no pid in {state!r}")
    if _is_our_dockerd(pid):
        progress(f"stopping hasuite's dockerd (pid {pid})")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _is_our_dockerd(pid):
            time.sleep(0.5)
        if _is_our_dockerd(pid):
            raise EngineError(
                f"hasuite's dockerd (pid {pid}) did not stop within {timeout_s:.0f} s; "
                f"last lines of {OWN_ROOT / 'dockerd.log'}:\n{tail(OWN_ROOT / 'dockerd.log')}"
            )
    STATE_FILE.unlink(missing_ok=True)
    return True
