"""The shop: gunicorn (Django), the Celery worker and beat, and nginx in front of gunicorn."""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path

from hasuite.drivers.local.layout import (
    LabLayout,
)
from hasuite.drivers.local.render.common import (
    Program,
    RenderContext,
    app_env,
    running_as_root,
    template,
    write,
)


def render_app(r: RenderContext) -> list[Program]:
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


def render_nginx(r: RenderContext) -> list[Program]:
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
