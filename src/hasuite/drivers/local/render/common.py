"""What every component's renderer shares: the supervised program, the lab's folders and
settings (:class:`RenderContext`), templates, owned writes and the app's environment."""

from __future__ import annotations

import os
import pwd
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from hasuite.drivers.local.layout import (
    DB_NAME,
    DB_USER,
    SENTINELS,
    TOOLS_DIR,
    LabLayout,
    LabSecrets,
)
from hasuite.errors import LabError
from hasuite.settings import StackSettings

PG_BIN_DIR = Path("/usr/lib/postgresql/15/bin")
PATRONI_VENV = TOOLS_DIR / "patroni-venv"


@dataclass(frozen=True)
class Program:
    """One supervised process: a named instance of a component."""

    name: str
    component: str
    command: str
    directory: Path | None = None  # working folder (default: the lab root)
    user: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    stopsignal: str = "TERM"
    stopwaitsecs: int = 10
    priority: int = 500
    autostart: bool = True  # False: started by `lab up` once the database is migrated
    startsecs: int = 1
    restart_delay: int = 0  # seconds before a RE-start (not the first start), like a pod's


def running_as_root() -> bool:
    return os.geteuid() == 0


def service_user() -> str | None:
    """The user Postgres, Patroni and PgBouncer run as: `postgres` under root (they refuse root)."""
    if not running_as_root():
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise LabError(
            "running as root but there is no `postgres` user; PostgreSQL and PgBouncer refuse "
            "to run as root. Install postgresql-15 (env/local/install) which creates it"
        ) from exc
    return "postgres"


def template(project: Path, name: str) -> Template:
    return Template((project / "env" / "local" / "templates" / name).read_text())


def write(path: Path, text: str, *, owner: str | None = None, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.chmod(tmp, mode)
    if owner:
        shutil.chown(tmp, owner, owner)
    tmp.replace(path)


def chown_tree(path: Path, owner: str | None) -> None:
    if not owner:
        return
    shutil.chown(path, owner, owner)
    for dirpath, dirnames, filenames in os.walk(path):
        for n in dirnames + filenames:
            shutil.chown(os.path.join(dirpath, n), owner, owner)


def app_env(layout: LabLayout, secrets: LabSecrets) -> dict[str, str]:
    """Environment of every app process (gunicorn, Celery worker and beat, migrations)."""
    sentinels = ",".join(f"127.0.0.1:{layout.port('sentinel', i)}" for i in range(SENTINELS))
    return {
        "SHOP_DB_HOST": "127.0.0.1",
        "SHOP_DB_PORT": str(layout.port("haproxy-pooler")),
        "SHOP_DB_NAME": DB_NAME,
        "SHOP_DB_USER": DB_USER,
        "SHOP_DB_PASSWORD": secrets.app_password,
        "SHOP_REDIS_SENTINELS": sentinels,
        "SHOP_SECRET_KEY": secrets.django_secret_key,
        "SHOP_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SHOP_PROBE_TOKEN": secrets.probe_token,
        **layout.stack.app_env(),
        "PYTHONUNBUFFERED": "1",
    }


@dataclass(frozen=True)
class RenderContext:
    """What every component's renderer needs: the lab's folders, settings and environment."""

    layout: LabLayout
    secrets: LabSecrets
    project: Path
    stack: StackSettings
    user: str | None
    conf: Path
    data: Path
    logs: Path
    run: Path
    venv_bin: Path
    lab_env: dict[str, str]
