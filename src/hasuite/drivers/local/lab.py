"""The local lab: bring the whole stack up as supervised processes, inspect it, bring it down."""

# size: one class, the lab's whole lifecycle (up with its database bootstrap, health checks,
# status, down); the rendering, processes, lock and layout are already modules of their own.
from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg

from hasuite.components import APP_TIER, LAB_COMPONENTS
from hasuite.drivers.local import health, procs
from hasuite.drivers.local.faults import FaultLedger, repair
from hasuite.drivers.local.layout import (
    DB_NAME,
    DB_USER,
    LabLayout,
    LabSecrets,
)
from hasuite.drivers.local.patroni_venv import ensure_patroni_venv
from hasuite.drivers.local.render import (
    Program,
    app_env,
    render_lab,
    render_nginx_upstream,
)
from hasuite.drivers.local.supervisor import Supervisor
from hasuite.errors import ConfigError, LabError
from hasuite.settings import StackSettings, SuiteSettings, check_writable

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

#: Every program of the lab belongs to one of these (hasuite.components, in start order).
COMPONENTS = LAB_COMPONENTS


@dataclass(frozen=True)
class InstanceStatus:
    component: str
    instance: str
    role: str | None
    pid: int | None
    healthy: bool
    state: str
    health: str


def _quiet(_: str) -> None:
    return None


class LocalLab:
    """One lab: a folder, a port block, a supervisord and the processes it supervises."""

    def __init__(
        self,
        suite: SuiteSettings,
        stack: StackSettings,
        project: Path,
        progress: Progress = _quiet,
    ) -> None:
        self.suite, self.stack, self.project, self.progress = suite, stack, project, progress
        self.layout = LabLayout(
            root=suite.lab_dir.resolve(), port_base=suite.port_base, stack=stack
        )
        self.supervisor = Supervisor(
            self.layout.supervisor_conf,
            self.layout.supervisor_socket,
            self.layout.supervisor_pidfile,
        )

    # -- state -------------------------------------------------------------------------------

    def secrets(self) -> LabSecrets:
        return LabSecrets.load_or_create(self.layout.secrets_file)

    def _state(self) -> dict[str, object] | None:
        try:
            data: dict[str, object] = json.loads(self.layout.state_file.read_text())
            return data
        except (OSError, ValueError):
            return None

    def programs(self) -> list[tuple[str, str]]:
        """(instance, component) of every program of the lab as last rendered."""
        state = self._state() or {}
        progs = state.get("programs", [])
        assert isinstance(progs, list)
        return [(p["name"], p["component"]) for p in progs]

    def is_running(self) -> bool:
        return self.supervisor.is_running()

    # -- up ----------------------------------------------------------------------------------

    def up(self, timeout_s: float = 150.0) -> float:
        """Bring the lab up (idempotent); return the seconds it took to be healthy."""
        started = time.monotonic()
        deadline = started + self.suite.scaled(timeout_s)
        check_writable(
            self.layout.root,
            "lab folder",
            "set HASUITE_LAB_DIR (or --lab-dir) to a writable folder on a local disk",
        )
        if self.is_running():
            self._check_same_lab()
            self.progress("lab already running: checking every component")
            for line in self.repair_left_faults():
                self.progress(f"repaired: {line}")
            for name, _ in self.programs():
                self.supervisor.start(name, wait=False)
        else:
            missing = procs.missing_tools()
            if importlib.util.find_spec("_gdbm") is None:
                missing.append("python3-gdbm (dbm.gnu for Celery beat's schedule file)")
            if missing:
                raise LabError(
                    f"the lab needs {', '.join(missing)}, not found on PATH; install the lab's "
                    "packages with env/local/install (root) or `make test` once"
                )
            # the processes of a lost lab are gone; its partition's chain and cgroups are not
            for line in self.repair_left_faults(kinds=("partition",)):
                self.progress(f"repaired: {line}")
            self._fresh_start(deadline)
        self.wait_healthy(deadline)
        return time.monotonic() - started

    def repair_left_faults(self, kinds: Collection[str] | None = None) -> list[str]:
        """Undo the faults a killed run left (drivers.local.faults; only ``kinds``, if given);
        what was repaired."""

        def relist() -> None:
            render_nginx_upstream(self.layout, ())
            self.supervisor.signal("nginx", "HUP")

        return repair(FaultLedger(self.layout.root), relist_upstream=relist, kinds=kinds)

    def _check_same_lab(self) -> None:
        state = self._state() or {}
        if state.get("port_base") != self.layout.port_base or state.get("profile") != (
            self.stack.profile
        ):
            raise LabError(
                f"a lab is already running in {self.layout.root} with port base "
                f"{state.get('port_base')} and profile {state.get('profile') or 'production'}; "
                f"asked for port base {self.layout.port_base} and profile "
                f"{self.stack.profile or 'production'}. Run `hasuite lab down` first"
            )

    def _fresh_start(self, deadline: float) -> None:
        layout = self.layout
        leftovers = procs.lab_processes(layout.root)
        if leftovers:
            self.progress(f"removing {len(leftovers)} process(es) left by an earlier lab")
            procs.kill_all(leftovers)
            _wait_gone(leftovers, 10)
        taken = {k: p for k, p in layout.all_ports().items() if procs.port_in_use(p)}
        if taken:
            listing = ", ".join(f"{k}={p}" for k, p in sorted(taken.items(), key=lambda x: x[1]))
            raise LabError(
                f"lab ports already in use on 127.0.0.1: {listing}. Stop what holds them or "
                f"choose another block with --port-base / HASUITE_PORT_BASE "
                f"(now {layout.port_base})"
            )
        self.progress("preparing Patroni's virtualenv")
        ensure_patroni_venv()
        secrets = self.secrets()
        self.progress(f"rendering configs into {layout.conf_dir}")
        programs = render_lab(layout, secrets, self.project)
        self._save_state(programs)
        self.progress("starting supervisord and the data tier")
        self.supervisor.start_daemon(timeout_s=15)
        self.progress("waiting for a Postgres leader")
        self._wait(
            lambda: health.check_primary_service(layout, secrets),
            "postgres",
            deadline,
            "postgres-1",
        )
        self.progress("creating the shop database and running migrations")
        self._bootstrap_database(secrets)
        self.progress("starting the app: gunicorn, Celery workers and beat")
        for p in programs:
            if not p.autostart:
                self.supervisor.start(p.name, wait=False)

    def _save_state(self, programs: list[Program]) -> None:
        state = {
            "port_base": self.layout.port_base,
            "profile": self.stack.profile,
            "programs": [{"name": p.name, "component": p.component} for p in programs],
            "stack": asdict(self.stack),
        }
        self.layout.state_file.write_text(json.dumps(state, indent=2))

    def _bootstrap_database(self, secrets: LabSecrets) -> None:
        port = self.layout.port("haproxy-primary")
        with health.pg_connect(
            self.layout,
            port,
            user="postgres",
            password=secrets.superuser_password,
            db="postgres",
        ) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (DB_USER,))
            if exists.fetchone() is None:
                conn.execute(
                    psycopg.sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                        psycopg.sql.Identifier(DB_USER), psycopg.sql.Literal(secrets.app_password)
                    )
                )
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
            if exists.fetchone() is None:
                conn.execute(
                    psycopg.sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        psycopg.sql.Identifier(DB_NAME), psycopg.sql.Identifier(DB_USER)
                    )
                )
        env = {**os.environ, **app_env(self.layout, secrets), "SHOP_DB_PORT": str(port)}
        result = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=self.project / "env" / "app",
            env=env,
            capture_output=True,
            text=True,
            timeout=self.suite.scaled(120),
        )
        (self.layout.log_dir / "migrate.log").write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            raise LabError(
                f"Django migrations failed (exit {result.returncode}); see "
                f"{self.layout.log_dir / 'migrate.log'}: {result.stderr.strip()[-500:]}"
            )

    # -- health ------------------------------------------------------------------------------

    def checks(self) -> list[tuple[str, str, Callable[[], health.Health]]]:
        """(component, log instance, check) for every whole-stack health condition."""
        layout, secrets = self.layout, self.secrets()
        token = {"X-Probe-Token": secrets.probe_token}
        stack = self.stack
        out: list[tuple[str, str, Callable[[], health.Health]]] = [
            ("etcd", "etcd", lambda: health.check_etcd(layout)),
            ("postgres", "postgres-1", lambda: health.check_postgres_cluster(layout)),
            ("haproxy", "haproxy", lambda: health.check_primary_service(layout, secrets)),
        ]
        for i in range(stack.pooler.instances):
            out.append(
                (
                    "pooler",
                    f"pooler-{i + 1}",
                    lambda i=i: health.check_pooler(layout, secrets, i),  # type: ignore[misc]
                )
            )
        out.append(("sentinel", "sentinel-1", lambda: health.check_sentinels(layout)))
        out.append(("redis", "redis-1", lambda: health.check_redis_topology(layout)))
        for i in range(stack.django.replicas):
            url = f"http://127.0.0.1:{layout.port('django', i)}/readyz"
            out.append(
                (
                    "django",
                    f"django-{i + 1}",
                    lambda url=url: health.check_http(url),  # type: ignore[misc]
                )
            )
        out.append(("nginx", "nginx", lambda: health.check_http(f"{layout.app_url}/readyz")))
        want = stack.celery.workers

        def workers() -> health.Health:
            names = health.celery_ping(layout, expect=want)
            return health.Health(len(names) == want, f"answering: {', '.join(names) or 'none'}")

        out.append(("celery-worker", "celery-worker-1", workers))
        out.append(
            ("celery-beat", "celery-beat", lambda: health.check_beat(layout, secrets, time.time()))
        )
        out.append(("prometheus", "prometheus", lambda: health.check_prometheus_targets(layout)))
        out.append(
            (
                "alertmanager",
                "alertmanager",
                lambda: health.check_http(f"{layout.alertmanager_url}/-/ready"),
            )
        )
        out.append(
            (
                "alert-receiver",
                "alert-receiver",
                lambda: health.check_http(f"{layout.alert_receiver_url}/healthz", headers=token),
            )
        )
        return out

    def wait_healthy(self, deadline: float, *, quiet: bool = False) -> None:
        """Every health check in order until ``deadline``; ``quiet``: no progress lines (an
        experiment's rollback, whose run prints its own progress)."""
        say = _quiet if quiet else self.progress
        pending = self.checks()
        while pending:
            component, instance, check = pending[0]
            say(f"waiting for {component}")
            self._wait(check, component, deadline, instance)
            pending.pop(0)
        say("every component is healthy")

    def _wait(
        self, check: Callable[[], health.Health], component: str, deadline: float, instance: str
    ) -> None:
        last = health.Health(False, "not checked yet")
        while True:
            try:
                last = check()
            except Exception as exc:
                last = health.Health(False, f"{type(exc).__name__}: {exc}")
            if last.healthy:
                return
            if time.monotonic() >= deadline:
                raise LabError(
                    f"{component} is not healthy after the lab's start timeout "
                    f"(multiplier {self.suite.timeout_multiplier}); last answer: {last.answer}; "
                    f"log: {self.layout.log_dir / (instance + '.log')}"
                )
            time.sleep(0.5)

    # -- status ------------------------------------------------------------------------------

    def status(self) -> list[InstanceStatus]:
        if not self.is_running():
            return []
        layout, secrets = self.layout, self.secrets()
        infos = self.supervisor.processes()
        expected = sum(1 for _, c in self.programs() if c == "celery-worker")
        workers = set(health.celery_ping(layout, timeout_s=1.5, expect=expected or None))
        rows = []
        for name, component in self.programs():
            info = infos.get(name)
            state = info.state if info else "UNKNOWN"
            pid = info.pid if info and info.pid else None
            h = (
                self.instance_health(name, component, workers, secrets)
                if state == "RUNNING"
                else health.Health(False, state.lower())
            )
            rows.append(
                InstanceStatus(
                    component, name, h.role, pid, h.healthy and state == "RUNNING", state, h.answer
                )
            )
        return rows

    def instance_health(
        self, name: str, component: str, workers: set[str], secrets: LabSecrets
    ) -> health.Health:
        layout = self.layout
        index = int(name.rsplit("-", 1)[1]) - 1 if name[-1].isdigit() else 0
        if component == "postgres":
            return health.check_patroni_member(layout, index)
        if component == "pooler":
            return health.check_pooler(layout, secrets, index)
        if component == "redis":
            return health.check_redis(layout, index)
        if component == "sentinel":
            master, _good, answer = health.sentinel_view(layout, index)
            return health.Health(master is not None, answer)
        if component == "django":
            return health.check_http(f"http://127.0.0.1:{layout.port('django', index)}/readyz")
        if component == "celery-worker":
            answering = any(w.startswith(f"{name}@") for w in workers)
            return health.Health(answering, "answers ping" if answering else "no ping answer")
        if component == "celery-beat":
            return health.check_beat(layout, secrets, time.time())
        if component == "nginx":
            return health.check_http(f"{layout.app_url}/readyz")
        if component == "haproxy":
            return health.check_primary_service(layout, secrets)
        if component == "etcd":
            return health.check_etcd(layout)
        urls = {
            "prometheus": f"{layout.prometheus_url}/-/ready",
            "alertmanager": f"{layout.alertmanager_url}/-/ready",
            "alert-receiver": f"{layout.alert_receiver_url}/healthz",
            "redis-exporter": f"http://127.0.0.1:{layout.port('redis-exporter')}/metrics",
            "nginx-exporter": f"http://127.0.0.1:{layout.port('nginx-exporter')}/metrics",
            "pooler-exporter": f"http://127.0.0.1:{layout.port('pooler-exporter', index)}/metrics",
        }
        h = health.check_http(urls[component])
        return health.Health(h.healthy, h.answer[:60])

    # -- down --------------------------------------------------------------------------------

    def down(self, purge: bool = False) -> str:
        """Stop every process of the lab; with purge, delete its folder. Returns a summary."""
        root = self.layout.root
        was_running = self.is_running()
        if was_running and purge:
            # the data is deleted next: a graceful stop (the app's drain, Celery's warm
            # shutdown, Postgres' checkpoint) would keep nothing; the programs are killed at once
            # (15-40 s saved per lab on this machine) and the partition's chain still undone
            for line in self.repair_left_faults(kinds=("partition",)):
                self.progress(f"repaired: {line}")
            self.progress("purging: killing every program")
            daemon = self.supervisor.daemon_pid()
            if daemon is not None:  # stopped first, so that it restarts none of the programs
                _wait_gone(procs.kill_tree(daemon), 10)
        elif was_running:
            for line in self.repair_left_faults():  # a stopped process cannot stop cleanly
                self.progress(f"repaired: {line}")
            self.progress("stopping every program")
            # The app first (so Celery's warm shutdown still reaches its broker), then the
            # monitoring and the data tier.
            app = {*APP_TIER, "nginx"}
            programs = self.programs()
            try:
                self.supervisor.stop_many(
                    [n for n, c in programs if c in app], self.suite.scaled(45)
                )
                self.supervisor.stop_all()
            except Exception as exc:
                log.warning("supervisord stopAllProcesses failed: %s", exc)
            self.supervisor.shutdown(timeout_s=self.suite.scaled(30))
        leftovers = procs.lab_processes(root)
        if leftovers and not purge:
            self.progress(f"killing {len(leftovers)} leftover process(es)")
        if leftovers:
            procs.kill_all(leftovers)
            _wait_gone(leftovers, 10)
        still = [p for p in procs.lab_processes(root) if procs.alive(p)]
        if still:
            raise LabError(f"processes of the lab survived SIGKILL: {still}")
        if not was_running:
            # a partition's chain and cgroups are the machine's: they outlive the lab's processes
            for line in self.repair_left_faults(kinds=("partition",)):
                self.progress(f"repaired: {line}")
        if purge and root.exists():
            shutil.rmtree(root)
            return f"lab stopped and {root} deleted"
        if not was_running and not leftovers:
            return f"no lab running in {root}"
        return "lab stopped" + (
            f" ({len(leftovers)} leftover process(es) killed)" if leftovers and not purge else ""
        )

    def log_files(self, component: str) -> list[Path]:
        if component not in COMPONENTS:
            raise ConfigError(f"unknown component {component!r}; valid: {', '.join(COMPONENTS)}")
        names = [n for n, c in self.programs() if c == component] or [component]
        return [self.layout.log_dir / f"{n}.log" for n in names]


def _wait_gone(pids: list[int], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(procs.alive(p) for p in pids):
        time.sleep(0.1)
