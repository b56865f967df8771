"""A small client of supervisord's XML-RPC interface over its unix socket."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supervisor.xmlrpc import SupervisorTransport

from hasuite.errors import LabError


@dataclass(frozen=True)
class ProcessInfo:
    name: str
    state: str  # RUNNING, STARTING, STOPPED, BACKOFF, EXITED, FATAL, ...
    pid: int
    description: str


class Supervisor:
    def __init__(self, conf: Path, socket: Path, pidfile: Path) -> None:
        self.conf, self.socket, self.pidfile = conf, socket, pidfile

    def _proxy(self) -> Any:
        transport = SupervisorTransport(None, None, f"unix://{self.socket}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def daemon_pid(self) -> int | None:
        """The running supervisord's pid, or None (a stale pid file is ignored)."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        cmdline = Path(f"/proc/{pid}/cmdline")
        try:
            if b"supervisord" not in cmdline.read_bytes():
                return None  # the pid was reused by something else
        except OSError:
            return None
        return pid

    def is_running(self) -> bool:
        if self.daemon_pid() is None:
            return False
        try:
            self._proxy().supervisor.getState()
        except (OSError, xmlrpc.client.Error):
            return False
        return True

    def start_daemon(self, timeout_s: float) -> None:
        if self.is_running():
            return
        for stale in (self.socket, self.pidfile):
            stale.unlink(missing_ok=True)
        exe = Path(sys.executable).parent / "supervisord"
        result = subprocess.run(
            [str(exe), "-c", str(self.conf)], capture_output=True, text=True, timeout=30
        )
        if result.returncode != 0:
            raise LabError(
                f"supervisord failed to start (exit {result.returncode}): "
                f"{result.stderr.strip() or result.stdout.strip()}; config {self.conf}"
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.is_running():
                return
            time.sleep(0.1)
        raise LabError(f"supervisord did not answer on {self.socket} within {timeout_s:.0f} s")

    def processes(self) -> dict[str, ProcessInfo]:
        infos = self._proxy().supervisor.getAllProcessInfo()
        return {
            i["name"]: ProcessInfo(i["name"], i["statename"], int(i["pid"]), i["description"])
            for i in infos
        }

    def start(self, name: str, wait: bool = True) -> None:
        try:
            self._proxy().supervisor.startProcess(name, wait)
        except xmlrpc.client.Fault as exc:
            if "ALREADY_STARTED" not in exc.faultString:
                raise LabError(f"supervisord could not start {name}: {exc.faultString}") from exc

    def stop(self, name: str, wait: bool = True) -> None:
        try:
            self._proxy().supervisor.stopProcess(name, wait)
        except xmlrpc.client.Fault as exc:
            if "NOT_RUNNING" not in exc.faultString:
                raise LabError(f"supervisord could not stop {name}: {exc.faultString}") from exc

    def signal(self, name: str, sig: str) -> None:
        try:
            self._proxy().supervisor.signalProcess(name, sig)
        except xmlrpc.client.Fault as exc:
            raise LabError(f"supervisord could not signal {name}: {exc.faultString}") from exc

    def stop_many(self, names: list[str], timeout_s: float) -> None:
        """Ask every named program to stop at once, then wait until none runs."""
        for name in names:
            self.stop(name, wait=False)
        deadline = time.monotonic() + timeout_s
        busy = {"RUNNING", "STARTING", "STOPPING", "BACKOFF"}
        while time.monotonic() < deadline:
            infos = self.processes()
            if not any(infos[n].state in busy for n in names if n in infos):
                return
            time.sleep(0.2)

    def stop_all(self) -> None:
        self._proxy().supervisor.stopAllProcesses(True)

    def shutdown(self, timeout_s: float) -> None:
        pid = self.daemon_pid()
        if pid is None:
            return
        try:
            self._proxy().supervisor.shutdown()
        except (OSError, xmlrpc.client.Error):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.daemon_pid() is not None:
            time.sleep(0.1)
        if self.daemon_pid() is not None:
            os.kill(pid, signal.SIGKILL)
