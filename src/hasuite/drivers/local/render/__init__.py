"""Render the lab's configuration files from env/local/templates and env/stack.yaml.

One module per component group (:mod:`.postgres`, :mod:`.redis`, :mod:`.app`, :mod:`.monitoring`),
what they share in :mod:`.common`, supervisord's file in :mod:`.supervisord`; :func:`render_lab`
calls the renderers in start order.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hasuite.drivers.local.layout import LabLayout, LabSecrets
from hasuite.drivers.local.render.app import render_app, render_nginx, render_nginx_upstream
from hasuite.drivers.local.render.common import (
    PATRONI_VENV,
    PG_BIN_DIR,
    Program,
    RenderContext,
    app_env,
    service_user,
    write,
)
from hasuite.drivers.local.render.monitoring import (
    render_alert_rules,
    render_alertmanager,
    render_monitoring,
    render_prometheus,
)
from hasuite.drivers.local.render.postgres import (
    render_etcd,
    render_haproxy,
    render_patroni,
    render_pgbouncer,
)
from hasuite.drivers.local.render.redis import render_redis
from hasuite.drivers.local.render.supervisord import render_supervisord

__all__ = [
    "PATRONI_VENV",
    "PG_BIN_DIR",
    "Program",
    "app_env",
    "render_alert_rules",
    "render_alertmanager",
    "render_lab",
    "render_nginx_upstream",
    "render_prometheus",
    "render_supervisord",
    "service_user",
]


def render_lab(layout: LabLayout, secrets: LabSecrets, project: Path) -> list[Program]:
    """Write every config file of the lab; return the supervised programs (one renderer per
    component, in start order)."""
    conf, data, logs, run = layout.conf_dir, layout.data_dir, layout.log_dir, layout.run_dir
    for d in (conf, data, logs, run, layout.root / "tmp"):
        d.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.root, 0o755)
    os.chmod(data, 0o755)
    r = RenderContext(
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


_RENDERERS = (
    render_etcd,
    render_patroni,
    render_haproxy,
    render_pgbouncer,
    render_redis,
    render_app,
    render_nginx,
    render_monitoring,
)
