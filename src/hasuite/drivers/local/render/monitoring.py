"""Prometheus (scrape targets, alert rules), Alertmanager, the exporters and the alert receiver."""

from __future__ import annotations

from pathlib import Path

import yaml

from hasuite.drivers.local.layout import (
    LabLayout,
)
from hasuite.drivers.local.render.common import (
    Program,
    RenderContext,
    template,
    write,
)


# size: the exporters, Prometheus, Alertmanager and the receiver as one block of
# programs with their ports.
def render_monitoring(r: RenderContext) -> list[Program]:
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
