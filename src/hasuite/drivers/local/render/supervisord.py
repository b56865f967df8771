"""supervisord's configuration: one ``[program:...]`` per rendered program."""

from __future__ import annotations

from hasuite.drivers.local.layout import (
    LabLayout,
)
from hasuite.drivers.local.render.common import (
    Program,
)


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
