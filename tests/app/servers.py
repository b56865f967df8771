"""Throwaway PostgreSQL 15, redis-server and redis-sentinel on 127.0.0.1 free ports."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")
MASTER_NAME = "shoptest"
STARTUP_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    """initdb/postgres refuse root: exec in place as the postgres user when we are root."""
    if os.geteuid() != 0:
        return cmd
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *cmd]


def wait_until(check, what: str, proc: subprocess.Popen | None = None, timeout=STARTUP_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} while starting")
        try:
            if check():
                return
        except Exception as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s (last error: {last})")


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _redis_ping(port: int, command: bytes = b"PING\r\n") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
        s.sendall(command)
        return s.recv(4096)


@dataclass
class Servers:
    root: Path
    pg_port: int = 0
    redis_port: int = 0
    sentinel_port: int = 0
    pgbouncer_port: int = 0
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    # --- lifecycle -----------------------------------------------------------------------
    def start_postgres(self) -> None:
        data = self.root / "pgdata"
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "shop",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
        )
        self.pg_port = free_port()
        log = open(self.root / "postgres.log", "wb")  # noqa: SIM115 - kept for the process
        self.procs["postgres"] = subprocess.Popen(
            _as_postgres(
                [
                    str(PG_BIN / "postgres"),
                    "-D",
                    str(data),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.pg_port),
                    "-k",
                    str(self.root),
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                ]
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_until(
            lambda: (
                subprocess.run(
                    [str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.pg_port), "-q"],
                    check=False,
                ).returncode
                == 0
            ),
            "postgres",
            self.procs["postgres"],
        )
        subprocess.run(
            [
                str(PG_BIN / "createdb"),
                *("-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "shop", "shop"),
            ],
            check=True,
            capture_output=True,
        )

    def start_pgbouncer(self) -> None:
        """PgBouncer in transaction mode with ONE server connection, as tight as it gets."""
        self.pgbouncer_port = free_port()
        conf = self.root / "pgbouncer.ini"
        users = self.root / "userlist.txt"
        users.write_text('"shop" ""\n')
        conf.write_text(
            "[databases]\n"
            f"shop = host=127.0.0.1 port={self.pg_port} dbname=shop\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.pgbouncer_port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {users}\n"
            "pool_mode = transaction\n"
            "default_pool_size = 1\n"
            f"logfile = {self.root / 'pgbouncer.log'}\n"
        )
        if os.geteuid() == 0:
            for path in (conf, users):
                shutil.chown(path, "postgres", "postgres")
        self.procs["pgbouncer"] = subprocess.Popen(
            _as_postgres(["pgbouncer", str(conf)]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: _port_open(self.pgbouncer_port), "pgbouncer", self.procs["pgbouncer"])

    def start_redis(self) -> None:
        self.redis_port = free_port()
        self.procs["redis"] = subprocess.Popen(
            [
                "redis-server",
                *("--port", str(self.redis_port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.root)),
                *("--logfile", str(self.root / "redis.log")),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: b"PONG" in _redis_ping(self.redis_port), "redis", self.procs["redis"])

    def start_sentinel(self) -> None:
        self.sentinel_port = free_port()
        conf = self.root / "sentinel.conf"
        conf.write_text(
            f"port {self.sentinel_port}\n"
            "bind 127.0.0.1\n"
            f"dir {self.root}\n"
            f"logfile {self.root / 'sentinel.log'}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.redis_port} 1\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} 60000\n"
        )
        self.procs["sentinel"] = subprocess.Popen(
            ["redis-sentinel", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        query = f"SENTINEL get-master-addr-by-name {MASTER_NAME}\r\n".encode()
        wait_until(
            lambda: str(self.redis_port).encode() in _redis_ping(self.sentinel_port, query),
            "redis-sentinel",
            self.procs["sentinel"],
        )

    def stop(self) -> None:
        for name, proc in reversed(list(self.procs.items())):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGCONT)
                    # SIGQUIT = PostgreSQL immediate shutdown; redis treats SIGTERM as shutdown.
                    proc.send_signal(signal.SIGQUIT if name == "postgres" else signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.procs.clear()

    def env(self) -> dict[str, str]:
        return {
            "SHOP_SECRET_KEY": "test-secret-key",
            "SHOP_ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
            "SHOP_DB_HOST": "127.0.0.1",
            "SHOP_DB_PORT": str(self.pg_port),
            "SHOP_DB_NAME": "shop",
            "SHOP_DB_USER": "shop",
            "SHOP_DB_PASSWORD": "",
            "SHOP_REDIS_SENTINELS": f"127.0.0.1:{self.sentinel_port}",
            "SHOP_REDIS_MASTER_NAME": MASTER_NAME,
            "SHOP_PROBE_TOKEN": "probe-secret",
            "SHOP_BEAT_INTERVAL": "1",
            "SHOP_LOG_LEVEL": "WARNING",
            # Halves the time the outage tests wait on a frozen Redis (production default 1 s).
            "SHOP_REDIS_SOCKET_TIMEOUT": "0.5",
        }


@contextlib.contextmanager
def running_servers() -> Iterator[Servers]:
    root = Path(tempfile.mkdtemp(prefix="shop-test-"))
    root.chmod(0o755)
    servers = Servers(root=root)
    try:
        servers.start_postgres()
        servers.start_pgbouncer()
        servers.start_redis()
        servers.start_sentinel()
        yield servers
    finally:
        servers.stop()
        shutil.rmtree(root, ignore_errors=True)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":  # manual use: print env for a shell; Ctrl-C or SIGTERM stops all
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    with running_servers() as s:
        for k, v in s.env().items():
            print(f"export {k}={v!r}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
