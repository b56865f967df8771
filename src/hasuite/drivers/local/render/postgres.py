"""The database tier of the lab: etcd (Patroni's DCS), the Patroni members, HAProxy in front of
the leader, and PgBouncer."""

from __future__ import annotations

from hasuite.drivers.local.layout import (
    DB_NAME,
    DB_USER,
    POSTGRES_MEMBERS,
)
from hasuite.drivers.local.render.common import (
    PATRONI_VENV,
    PG_BIN_DIR,
    Program,
    RenderContext,
    chown_tree,
    template,
    write,
)


def render_etcd(r: RenderContext) -> list[Program]:
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


def render_patroni(r: RenderContext) -> list[Program]:
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
                restart_delay=r.stack.lab.restart_delay_of("postgres"),
            )
        )
    return out


def render_haproxy(r: RenderContext) -> list[Program]:
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


def render_pgbouncer(r: RenderContext) -> list[Program]:
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
