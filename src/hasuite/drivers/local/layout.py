"""Where the local lab keeps its files and which loopback ports each instance uses."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from hasuite.components import component
from hasuite.settings import StackSettings

# Offsets from the port base; one block keeps every lab port together and away from the
# standard ports of the packaged services.
PORT_OFFSETS = {
    "etcd": 0,
    "etcd-peer": 1,
    "patroni": 10,  # + member index 0..2
    "postgres": 20,  # + member index
    "haproxy-primary": 30,
    "haproxy-stats": 31,
    "haproxy-pooler": 32,
    "pooler": 40,  # + instance index
    "redis": 50,  # + instance index
    "sentinel": 60,  # + instance index
    "django": 70,  # + instance index
    "nginx": 80,
    "nginx-status": 81,
    "prometheus": 90,
    "alertmanager": 91,
    "alert-receiver": 92,
    "redis-exporter": 93,
    "nginx-exporter": 94,
    "pooler-exporter": 95,  # + instance index
    "celery-worker-metrics": 100,  # + instance index
}

POSTGRES_MEMBERS = component("postgres").count(StackSettings())
REDIS_INSTANCES = component("redis").count(StackSettings())
SENTINELS = component("sentinel").count(StackSettings())
DB_NAME = "shop"
DB_USER = "shop"
TOOLS_DIR = Path("/var/tmp/hasuite-tools")


@dataclass(frozen=True)
class LabLayout:
    """Paths and ports of one lab, derived from its folder and port base."""

    root: Path
    port_base: int
    stack: StackSettings

    def port(self, what: str, index: int = 0) -> int:
        return self.port_base + PORT_OFFSETS[what] + index

    @property
    def conf_dir(self) -> Path:
        return self.root / "conf"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def supervisor_socket(self) -> Path:
        return self.run_dir / "supervisor.sock"

    @property
    def supervisor_conf(self) -> Path:
        return self.conf_dir / "supervisord.conf"

    @property
    def supervisor_pidfile(self) -> Path:
        return self.run_dir / "supervisord.pid"

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.json"

    @property
    def state_file(self) -> Path:
        """What `lab up` rendered: profile and port base, so status/down need no flags."""
        return self.root / "lab.json"

    def pg_data(self, index: int) -> Path:
        return self.data_dir / f"postgres-{index + 1}"

    @property
    def app_url(self) -> str:
        return f"http://127.0.0.1:{self.port('nginx')}"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.port('prometheus')}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.port('alertmanager')}"

    @property
    def alert_receiver_url(self) -> str:
        return f"http://127.0.0.1:{self.port('alert-receiver')}"

    @property
    def alert_record(self) -> Path:
        return self.log_dir / "alert-notifications.jsonl"

    def patroni_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.port('patroni', index)}"

    def all_ports(self) -> dict[str, int]:
        ports: dict[str, int] = {}
        counts = {
            "patroni": POSTGRES_MEMBERS,
            "postgres": POSTGRES_MEMBERS,
            "pooler": self.stack.pooler.instances,
            "pooler-exporter": self.stack.pooler.instances,
            "redis": REDIS_INSTANCES,
            "sentinel": SENTINELS,
            "django": self.stack.django.replicas,
            "celery-worker-metrics": self.stack.celery.workers,
        }
        for what in PORT_OFFSETS:
            for i in range(counts.get(what, 1)):
                ports[f"{what}-{i + 1}" if what in counts else what] = self.port(what, i)
        return ports


@dataclass(frozen=True)
class LabSecrets:
    """Credentials generated per lab (never stored in the repository)."""

    superuser_password: str
    replication_password: str
    rewind_password: str
    app_password: str
    django_secret_key: str
    probe_token: str

    @classmethod
    def load_or_create(cls, path: Path) -> LabSecrets:
        if path.is_file():
            return cls(**json.loads(path.read_text()))
        values = {
            name: secrets.token_urlsafe(24)
            for name in (
                "superuser_password",
                "replication_password",
                "rewind_password",
                "app_password",
                "django_secret_key",
                "probe_token",
            )
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(values, fh)
        return cls(**values)
