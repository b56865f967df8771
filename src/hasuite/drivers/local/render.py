"""Render the lab's configuration files from env/local/templates and env/stack.yaml."""

from __future__ import annotations

import os
import pwd
import shutil
import sys
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

import yaml

from hasuite.drivers.local.layout import (
    DB_NAME,
    DB_USER,
    POSTGRES_MEMBERS,
    REDIS_INSTANCES,
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
class _Render:
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


def render_lab(layout: LabLayout, secrets: LabSecrets, project: Path) -> list[Program]:
    """Write every config file of the lab; return the supervised programs (one renderer per
    component, in start order)."""
    conf, data, logs, run = layout.conf_dir, layout.data_dir, layout.log_dir, layout.run_dir
    for d in (conf, data, logs, run, layout.root / "tmp"):
        d.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.root, 0o755)
    os.chmod(data, 0o755)
    r = _Render(
        layout=layout,
        secrets=secrets,
        project=project,
        stack=layout.stack,
        user=service_user(),
        conf=conf,
        data=data,
        logs=logs,
        run=run,
        venv_bin=Path(sys.executable).parent,
        lab_env={"HASUITE_LAB_ROOT": str(layout.root)},
    )
    programs: list[Program] = []
    for render in _RENDERERS:
        programs += render(r)
    write(conf / "supervisord.conf", render_supervisord(layout, programs))
    return programs


def _render_etcd(r: _Render) -> list[Program]:
    """etcd: the DCS of Patroni (one node, like a small DCS on Kubernetes)."""
    out: list[Program] = []
    etcd_data = r.data / "etcd"
    out.append(
        Program(
            name="etcd",
            component="etcd",
            command=(
                f"etcd --name etcd1 --data-dir {etcd_data} "
                f"--listen-client-urls http://127.0.0.1:{r.layout.port('etcd')} "
                f"--advertise-client-urls http://127.0.0.1:{r.layout.port('etcd')} "
                f"--listen-peer-urls http://127.0.0.1:{r.layout.port('etcd-peer')} "
                f"--initial-advertise-peer-urls http://127.0.0.1:{r.layout.port('etcd-peer')} "
                f"--initial-cluster etcd1=http://127.0.0.1:{r.layout.port('etcd-peer')} "
                "--enable-v2=false --log-level warn"
            ),
            priority=100,
        )
    )
    return out


def _render_patroni(r: _Render) -> list[Program]:
    """Patroni members (each manages one PostgreSQL 15)."""
    out: list[Program] = []
    socket_dir = r.run / "pg"
    socket_dir.mkdir(exist_ok=True)
    chown_tree(socket_dir, r.user)
    patroni_tmpl = template(r.project, "patroni.yml.tmpl")
    for i in range(POSTGRES_MEMBERS):
        name = f"postgres-{i + 1}"
        pgdata = r.layout.pg_data(i)
        if not pgdata.exists():
            pgdata.mkdir(mode=0o700, parents=True)
            chown_tree(pgdata, r.user)
        cfg = r.conf / f"patroni-{i + 1}.yml"
        write(
            cfg,
            patroni_tmpl.substitute(
                scope="hasuite",
                name=name,
                rest_port=r.layout.port("patroni", i),
                etcd_port=r.layout.port("etcd"),
                ttl=r.stack.patroni.ttl,
                loop_wait=r.stack.patroni.loop_wait,
                retry_timeout=r.stack.patroni.retry_timeout,
                maximum_lag_on_failover=r.stack.patroni.maximum_lag_on_failover,
                use_pg_rewind="true" if r.stack.patroni.use_pg_rewind else "false",
                pg_port=r.layout.port("postgres", i),
                data_dir=pgdata,
                bin_dir=PG_BIN_DIR,
                pgpass=socket_dir / f"pgpass-{i + 1}",
                socket_dir=socket_dir,
                superuser_password=r.secrets.superuser_password,
                replication_password=r.secrets.replication_password,
                rewind_password=r.secrets.rewind_password,
            ),
            owner=r.user,
            mode=0o600,
        )
        out.append(
            Program(
                name=name,
                component="postgres",
                command=f"{PATRONI_VENV / 'bin' / 'patroni'} {cfg}",
                user=r.user,
                env={**r.lab_env, "HOME": str(socket_dir)},
                stopwaitsecs=max(r.stack.patroni.termination_grace_s, 1),
                priority=200,
                restart_delay=r.stack.lab.postgres_restart_delay,
            )
        )
    return out


def _render_haproxy(r: _Render) -> list[Program]:
    """HAProxy: the primary "Service" and the pooler "Service"."""
    out: list[Program] = []
    check_ms = r.stack.lab.haproxy_check_interval_ms
    primary_servers = "\n".join(
        f"    server postgres-{i + 1} 127.0.0.1:{r.layout.port('postgres', i)} "
        f"check port {r.layout.port('patroni', i)}"
        for i in range(POSTGRES_MEMBERS)
    )
    pooler_servers = "\n".join(
        f"    server pooler-{i + 1} 127.0.0.1:{r.layout.port('pooler', i)} check"
        for i in range(r.stack.pooler.instances)
    )
    haproxy_cfg = r.conf / "haproxy.cfg"
    write(
        haproxy_cfg,
        template(r.project, "haproxy.cfg.tmpl").substitute(
            stats_port=r.layout.port("haproxy-stats"),
            primary_port=r.layout.port("haproxy-primary"),
            pooler_port=r.layout.port("haproxy-pooler"),
            check_ms=check_ms,
            fall=r.stack.lab.haproxy_fall,
            rise=r.stack.lab.haproxy_rise,
            primary_servers=primary_servers,
            pooler_servers=pooler_servers,
        ),
    )
    out.append(
        Program(
            name="haproxy",
            component="haproxy",
            command=f"haproxy -db -f {haproxy_cfg}",
            env=r.lab_env,
            priority=150,
        )
    )
    return out


def _render_pgbouncer(r: _Render) -> list[Program]:
    """PgBouncer instances (transaction mode)."""
    out: list[Program] = []
    userlist = r.conf / "pgbouncer-users.txt"
    write(
        userlist,
        f'"{DB_USER}" "{r.secrets.app_password}"\n"postgres" "{r.secrets.superuser_password}"\n',
        owner=r.user,
        mode=0o600,
    )
    pgb_tmpl = template(r.project, "pgbouncer.ini.tmpl")
    for i in range(r.stack.pooler.instances):
        name = f"pooler-{i + 1}"
        ini = r.conf / f"{name}.ini"
        write(
            ini,
            pgb_tmpl.substitute(
                name=name,
                dbname=DB_NAME,
                primary_port=r.layout.port("haproxy-primary"),
                port=r.layout.port("pooler", i),
                auth_file=userlist,
                admin_user="postgres",
                pool_mode=r.stack.pooler.pool_mode,
                default_pool_size=r.stack.pooler.default_pool_size,
                max_client_conn=r.stack.pooler.max_client_conn,
                server_connect_timeout=r.stack.pooler.server_connect_timeout,
                server_login_retry=r.stack.pooler.server_login_retry,
                query_wait_timeout=r.stack.pooler.query_wait_timeout,
                server_check_delay=r.stack.pooler.server_check_delay,
            ),
            owner=r.user,
            mode=0o600,
        )
        out.append(
            Program(
                name=name,
                component="pooler",
                command=f"pgbouncer {ini}",
                user=r.user,
                env=r.lab_env,
                priority=250,
            )
        )
    return out


def _render_redis(r: _Render) -> list[Program]:
    """Redis master + replicas, and Sentinels. Their files are written once: Redis and Sentinel
    rewrite them as the topology changes, like the chart's persisted config.
    """
    out: list[Program] = []
    redis_tmpl = template(r.project, "redis.conf.tmpl")
    for i in range(REDIS_INSTANCES):
        name = f"redis-{i + 1}"
        rdir = r.data / name
        rdir.mkdir(parents=True, exist_ok=True)
        cfg = r.conf / f"{name}.conf"
        if not cfg.exists():
            replicaof = "" if i == 0 else f"replicaof 127.0.0.1 {r.layout.port('redis', 0)}"
            write(
                cfg,
                redis_tmpl.substitute(
                    name=name,
                    port=r.layout.port("redis", i),
                    data_dir=rdir,
                    min_replicas_to_write=r.stack.redis.min_replicas_to_write,
                    min_replicas_max_lag=r.stack.redis.min_replicas_max_lag,
                    replicaof=replicaof,
                ),
            )
        out.append(
            Program(
                name=name,
                component="redis",
                command=f"redis-server {cfg}",
                env=r.lab_env,
                priority=100,
                restart_delay=r.stack.lab.redis_restart_delay,
            )
        )
    sent_tmpl = template(r.project, "sentinel.conf.tmpl")
    sen = r.stack.redis.sentinel
    for i in range(SENTINELS):
        name = f"sentinel-{i + 1}"
        sdir = r.data / name
        sdir.mkdir(parents=True, exist_ok=True)
        cfg = r.conf / f"{name}.conf"
        if not cfg.exists():
            write(
                cfg,
                sent_tmpl.substitute(
                    name=name,
                    port=r.layout.port("sentinel", i),
                    data_dir=sdir,
                    master_name=r.stack.redis.master_name,
                    master_port=r.layout.port("redis", 0),
                    quorum=sen.quorum,
                    down_after_milliseconds=sen.down_after_milliseconds,
                    failover_timeout=sen.failover_timeout,
                    parallel_syncs=sen.parallel_syncs,
                ),
            )
        out.append(
            Program(
                name=name,
                component="sentinel",
                command=f"redis-sentinel {cfg}",
                env=r.lab_env,
                priority=120,
            )
        )
    return out


def _render_app(r: _Render) -> list[Program]:
    """The app: gunicorn instances, Celery workers and one beat. Started after migrations."""
    out: list[Program] = []
    app_dir = r.project / "env" / "app"
    env = {**r.lab_env, **app_env(r.layout, r.secrets)}
    gconf = app_dir / "gunicorn.conf.py"
    graceful = r.stack.django.gunicorn_graceful_timeout
    for i in range(r.stack.django.replicas):
        name = f"django-{i + 1}"
        out.append(
            Program(
                name=name,
                component="django",
                command=f"{r.venv_bin / 'gunicorn'} -c {gconf} --no-control-socket "
                "shop.wsgi:application",
                directory=app_dir,
                env={**env, "SHOP_BIND": f"127.0.0.1:{r.layout.port('django', i)}"},
                stopwaitsecs=graceful + 5,
                priority=600,
                autostart=False,
                startsecs=2,
            )
        )
    for i in range(r.stack.celery.workers):
        name = f"celery-worker-{i + 1}"
        out.append(
            Program(
                name=name,
                component="celery-worker",
                command=(
                    f"{r.venv_bin / 'celery'} -A shop worker -n {name}@%%h "
                    f"--concurrency {r.stack.celery.concurrency} --loglevel INFO"
                ),
                directory=app_dir,
                env={
                    **env,
                    "SHOP_WORKER_METRICS_PORT": str(r.layout.port("celery-worker-metrics", i)),
                },
                stopwaitsecs=30,
                priority=650,
                autostart=False,
                startsecs=2,
            )
        )
    # beat's schedule file is a cache of what it sent; a fresh lab starts without it (and a file
    # left by another dbm backend would keep that backend)
    for old in r.data.glob("celerybeat-schedule*"):
        old.unlink()
    for i in range(r.stack.celery.beat_replicas):
        # One beat is the promise (BEAT-SINGLETON); more than one is a seeded violation.
        suffix = "" if i == 0 else f"-{i + 1}"
        out.append(
            Program(
                name=f"celery-beat{suffix}",
                component="celery-beat",
                command=(
                    f"{r.venv_bin / 'celery'} -A shop beat --loglevel INFO "
                    f"--schedule {r.data / f'celerybeat-schedule{suffix}'}"
                ),
                directory=app_dir,
                env=env,
                priority=700,
                autostart=False,
                startsecs=2,
            )
        )
    return out


def _render_nginx(r: _Render) -> list[Program]:
    """nginx in front of the app instances."""
    out: list[Program] = []
    tmp = r.layout.root / "tmp" / "nginx"
    tmp.mkdir(parents=True, exist_ok=True)
    os.chmod(tmp, 0o1777)
    upstream_file = render_nginx_upstream(r.layout)
    nginx_conf = r.conf / "nginx.conf"
    write(
        nginx_conf,
        template(r.project, "nginx.conf.tmpl").substitute(
            user_directive="user nobody nogroup;" if running_as_root() else "",
            run_dir=r.run,
            log_dir=r.logs,
            tmp_dir=tmp,
            upstream_file=upstream_file,
            port=r.layout.port("nginx"),
            status_port=r.layout.port("nginx-status"),
            proxy_next_upstream=r.stack.nginx.proxy_next_upstream,
            proxy_connect_timeout=r.stack.nginx.proxy_connect_timeout,
            proxy_read_timeout=r.stack.nginx.proxy_read_timeout,
            upstream_keepalive_timeout=r.stack.nginx.upstream_keepalive_timeout,
        ),
    )
    out.append(
        Program(
            name="nginx",
            component="nginx",
            command=f"nginx -c {nginx_conf} -p {r.layout.root}",
            env=r.lab_env,
            stopsignal="QUIT",
            priority=800,
        )
    )
    return out


def _render_monitoring(r: _Render) -> list[Program]:
    """Monitoring: exporters, Prometheus, Alertmanager and the webhook receiver."""
    out: list[Program] = []
    out.append(
        Program(
            name="redis-exporter",
            component="redis-exporter",
            command=(
                "prometheus-redis-exporter -redis.addr= "
                f"-web.listen-address 127.0.0.1:{r.layout.port('redis-exporter')}"
            ),
            env=r.lab_env,
            priority=900,
        )
    )
    out.append(
        Program(
            name="nginx-exporter",
            component="nginx-exporter",
            command=(
                "prometheus-nginx-exporter -nginx.scrape-uri "
                f"http://127.0.0.1:{r.layout.port('nginx-status')}/stub_status "
                f"-web.listen-address 127.0.0.1:{r.layout.port('nginx-exporter')}"
            ),
            env=r.lab_env,
            priority=900,
        )
    )
    for i in range(r.stack.pooler.instances):
        out.append(
            Program(
                name=f"pooler-exporter-{i + 1}",
                component="pooler-exporter",
                command=(
                    f"{r.venv_bin / 'python'} -m hasuite.drivers.local.pgbouncer_exporter "
                    f"--listen-port {r.layout.port('pooler-exporter', i)} "
                    f"--pgbouncer-port {r.layout.port('pooler', i)}"
                ),
                env={**r.lab_env, "PGBOUNCER_EXPORTER_PASSWORD": r.secrets.superuser_password},
                priority=900,
            )
        )
    prom_conf = render_prometheus(r.layout, r.project)
    out.append(
        Program(
            name="prometheus",
            component="prometheus",
            command=(
                f"prometheus --config.file={prom_conf} --storage.tsdb.path={r.data / 'prometheus'} "
                f"--web.listen-address=127.0.0.1:{r.layout.port('prometheus')} "
                "--web.enable-lifecycle --storage.tsdb.retention.time=2d --log.level=warn"
            ),
            env=r.lab_env,
            priority=900,
        )
    )
    am_conf = render_alertmanager(r.layout, r.project)
    out.append(
        Program(
            name="alertmanager",
            component="alertmanager",
            command=(
                f"prometheus-alertmanager --config.file={am_conf} "
                f"--storage.path={r.data / 'alertmanager'} "
                f"--web.listen-address=127.0.0.1:{r.layout.port('alertmanager')} "
                "--cluster.listen-address= --log.level=warn"
            ),
            env=r.lab_env,
            priority=900,
        )
    )
    out.append(
        Program(
            name="alert-receiver",
            component="alert-receiver",
            command=(
                f"{r.venv_bin / 'python'} -m hasuite.drivers.local.receiver "
                f"--port {r.layout.port('alert-receiver')} --out {r.layout.alert_record}"
            ),
            env=r.lab_env,
            priority=850,
        )
    )
    return out


_RENDERERS = (
    _render_etcd,
    _render_patroni,
    _render_haproxy,
    _render_pgbouncer,
    _render_redis,
    _render_app,
    _render_nginx,
    _render_monitoring,
)


def render_nginx_upstream(layout: LabLayout, removed: Collection[int] = ()) -> Path:
    """Write nginx's app upstream; instances in ``removed`` are marked ``down``.

    nginx plays the Service/ingress: on Kubernetes a terminating pod leaves the endpoints before
    its containers get SIGTERM (preStop). The lab's rollout marks an instance down and reloads
    nginx (SIGHUP) before stopping it, and lists it again once it is ready.
    """
    stack = layout.stack
    lines = []
    for i in range(stack.django.replicas):
        down = " down" if i in removed else ""
        lines.append(
            f"server 127.0.0.1:{layout.port('django', i)} max_fails={stack.nginx.max_fails} "
            f"fail_timeout={stack.nginx.fail_timeout}s{down};"
        )
    path = layout.conf_dir / "nginx-upstream.conf"
    tmp = path.with_suffix(".tmp")
    write(tmp, "\n".join(lines) + "\n")
    tmp.replace(path)
    return path


def render_alert_rules(rule_files: list[Path], out_dir: Path, for_s: int) -> list[Path]:
    """Copies of the shared rule files with every alerting rule's ``for:`` set to ``for_s``.

    Only for seeded violations (stack profile ``alerts-violated``): the shared files stay the
    one source; the lab's Prometheus then loads these copies instead.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for path in rule_files:
        doc = yaml.safe_load(path.read_text()) or {}
        for group in doc.get("groups", []) or []:
            for rule in group.get("rules", []) or []:
                if "alert" in rule:
                    rule["for"] = f"{for_s}s"
        target = out_dir / path.name
        write(target, f"# rendered from {path} with for: {for_s}s\n" + yaml.safe_dump(doc))
        out.append(target)
    return out


def render_prometheus(layout: LabLayout, project: Path) -> Path:
    mon = layout.stack.monitoring
    rules_dir = project / "env" / "alerts" / "rules"
    rule_files = sorted(rules_dir.glob("*.yml")) if rules_dir.is_dir() else []
    if mon.alert_for_override_s > 0:
        rule_files = render_alert_rules(
            rule_files, layout.conf_dir / "alert-rules", mon.alert_for_override_s
        )

    def static(job: str, targets: list[str], extra: str = "") -> str:
        tlist = ", ".join(f"'{t}'" for t in targets)
        return f"  - job_name: {job}\n{extra}    static_configs:\n      - targets: [{tlist}]\n"

    def multi_target(job: str, targets: list[str]) -> str:
        # redis_exporter's multi-target mode: one exporter process, one target per scrape.
        extra = (
            "    metrics_path: /scrape\n"
            "    relabel_configs:\n"
            "      - {source_labels: [__address__], target_label: __param_target}\n"
            "      - {source_labels: [__address__], target_label: instance}\n"
            f"      - {{target_label: __address__, replacement: "
            f"'127.0.0.1:{layout.port('redis-exporter')}'}}\n"
        )
        return static(job, targets, extra)

    st = layout.stack
    jobs = [
        static("patroni", [f"127.0.0.1:{layout.port('patroni', i)}" for i in range(3)]),
        multi_target("redis", [f"127.0.0.1:{layout.port('redis', i)}" for i in range(3)]),
        multi_target("sentinel", [f"127.0.0.1:{layout.port('sentinel', i)}" for i in range(3)]),
        static(
            "django",
            [f"127.0.0.1:{layout.port('django', i)}" for i in range(st.django.replicas)],
        ),
        static(
            "celery-worker",
            [
                f"127.0.0.1:{layout.port('celery-worker-metrics', i)}"
                for i in range(st.celery.workers)
            ],
        ),
        static(
            "pgbouncer",
            [f"127.0.0.1:{layout.port('pooler-exporter', i)}" for i in range(st.pooler.instances)],
        ),
        static("nginx", [f"127.0.0.1:{layout.port('nginx-exporter')}"]),
        static("prometheus", [f"127.0.0.1:{layout.port('prometheus')}"]),
        static("alertmanager", [f"127.0.0.1:{layout.port('alertmanager')}"]),
    ]
    path = layout.conf_dir / "prometheus.yml"
    write(
        path,
        template(project, "prometheus.yml.tmpl").substitute(
            scrape_interval=mon.scrape_interval,
            evaluation_interval=mon.evaluation_interval,
            scrape_timeout=max(1, min(mon.scrape_interval - 1, 4)),
            alertmanager_port=layout.port("alertmanager"),
            rule_files="\n".join(f"  - {p}" for p in rule_files) or "  []",
            scrape_configs="".join(jobs),
        ),
    )
    return path


ALERTMANAGER_FALLBACK = """\
route:
  receiver: suite
  group_by: [alertname, instance]
  group_wait: 1s
  group_interval: 5s
  repeat_interval: 1h
receivers:
  - name: suite
    webhook_configs:
      - url: '{{WEBHOOK_URL}}'
        send_resolved: true
"""


def render_alertmanager(layout: LabLayout, project: Path) -> Path:
    src = project / "env" / "alerts" / "alertmanager.yml.tmpl"
    text = src.read_text() if src.is_file() else ALERTMANAGER_FALLBACK
    path = layout.conf_dir / "alertmanager.yml"
    write(path, text.replace("{{WEBHOOK_URL}}", layout.alert_receiver_url + "/"))
    return path


def _env_line(env: dict[str, str]) -> str:
    def quote(v: str) -> str:
        return '"' + v.replace("%", "%%").replace('"', '\\"') + '"'

    return ",".join(f"{k}={quote(v)}" for k, v in sorted(env.items()))


def render_supervisord(layout: LabLayout, programs: list[Program]) -> str:
    default_delay = layout.stack.lab.restart_delay
    markers = layout.run_dir / "pg"
    for old in markers.glob("started-*"):
        old.unlink()
    parts = [
        f"""\
; supervisord plays kubelet: it restarts a killed instance. Rendered by hasuite lab up.
[unix_http_server]
file={layout.supervisor_socket}
chmod=0700

[supervisord]
logfile={layout.log_dir / "supervisord.log"}
logfile_maxbytes=10MB
logfile_backups=1
pidfile={layout.supervisor_pidfile}
childlogdir={layout.log_dir}
loglevel=info
minfds=4096

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{layout.supervisor_socket}
"""
    ]
    for p in programs:
        command = p.command
        delay = p.restart_delay or default_delay
        if delay:
            # A crashed pod does not come back at once (rescheduling, container start): wait
            # before every start but the first. The marker is cleared when the lab is rendered.
            marker = markers / f"started-{p.name}"
            command = (
                f"/bin/sh -c '[ -e {marker} ] && sleep {delay}; touch {marker}; exec {command}'"
            )
        lines = [
            f"[program:{p.name}]",
            f"command={command}",
            f"autostart={'true' if p.autostart else 'false'}",
            "autorestart=true",
            f"startsecs={p.startsecs}",
            "startretries=1000",
            f"stopsignal={p.stopsignal}",
            f"stopwaitsecs={p.stopwaitsecs}",
            "stopasgroup=true",
            "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={layout.log_dir / (p.name + '.log')}",
            "stdout_logfile_maxbytes=20MB",
            "stdout_logfile_backups=1",
            f"priority={p.priority}",
        ]
        # Every program starts in its own folder or the lab root, never in the folder hasuite was
        # started from: a checkout in a private folder (0700, e.g. under /root or mktemp -d) is
        # not enterable for the `postgres` user, and Patroni then fails to bootstrap.
        lines.append(f"directory={p.directory or layout.root}")
        if p.user:
            lines.append(f"user={p.user}")
        if p.env:
            lines.append(f"environment={_env_line(p.env)}")
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)
