"""The Redis master, its replicas and the Sentinels."""

from __future__ import annotations

from hasuite.drivers.local.layout import (
    REDIS_INSTANCES,
    SENTINELS,
)
from hasuite.drivers.local.render.common import (
    Program,
    RenderContext,
    template,
    write,
)


def render_redis(r: RenderContext) -> list[Program]:
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
                    appendonly="yes" if r.stack.redis.appendonly else "no",
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
                restart_delay=r.stack.lab.restart_delay_of("redis"),
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
