"""PgBouncer in the overlay: a Deployment with the operator pooler's labels and Service name,
and the lab's PgBouncer exporter beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hasuite.drivers.k8s.manifests.base import preferred_spread
from hasuite.drivers.k8s.manifests.overlay.objects import (
    POOLER_LABELS,
    env_var,
    image_container,
    object_meta,
    script,
    secret_name,
    service,
)
from hasuite.drivers.k8s.names import (
    EXPORTER_FILE,
    NAMESPACE,
    PG_CLUSTER,
    VENV,
)
from hasuite.settings import StackSettings


def _pgbouncer_ini(stack: StackSettings) -> str:
    p = stack.pooler
    return "\n".join(
        [
            "[databases]",
            f"shop = host={PG_CLUSTER}.{NAMESPACE}.svc port=5432 dbname=shop",
            "",
            "[pgbouncer]",
            "listen_addr = 0.0.0.0",
            "listen_port = 5432",
            "unix_socket_dir =",
            "auth_type = scram-sha-256",
            "auth_file = /tmp/pgbouncer/userlist.txt",
            "admin_users = shop",
            "stats_users = shop",
            f"pool_mode = {p.pool_mode}",
            f"default_pool_size = {p.default_pool_size}",
            f"max_client_conn = {p.max_client_conn}",
            f"server_connect_timeout = {p.server_connect_timeout}",
            f"server_login_retry = {p.server_login_retry}",
            f"query_wait_timeout = {p.query_wait_timeout}",
            f"server_check_delay = {p.server_check_delay}",
            "ignore_startup_parameters = extra_float_digits,options",
            "logfile =",
            "pidfile =",
            "",
        ]
    )


def build_pooler(stack: StackSettings, root: Path) -> list[dict[str, Any]]:
    """PgBouncer (the operator pooler's names and labels) and its exporter beside it."""
    name = f"{PG_CLUSTER}-pooler"
    password = env_var("SHOP_DB_PASSWORD", secret=(secret_name("shop"), "password"))
    pgbouncer = image_container(
        "pgbouncer",
        ["sh", "/etc/pgbouncer-config/entrypoint.sh"],
        env=[password],
        ports=[{"name": "pgbouncer", "containerPort": 5432}],
        readinessProbe={
            "tcpSocket": {"port": "pgbouncer"},
            "periodSeconds": 2,
            "timeoutSeconds": 2,
        },
        resources={"requests": {"cpu": "50m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
        volumeMounts=[{"name": "config", "mountPath": "/etc/pgbouncer-config"}],
    )
    exporter = image_container(
        "exporter",
        [
            f"{VENV}/bin/python",
            EXPORTER_FILE,
            "--listen-port",
            "9127",
            "--pgbouncer-port",
            "5432",
            "--user",
            "shop",
            "--listen-addr",
            "0.0.0.0",
        ],
        env=[env_var("PGBOUNCER_EXPORTER_PASSWORD", secret=(secret_name("shop"), "password"))],
        ports=[{"name": "exporter", "containerPort": 9127}],
        resources={"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "96Mi"}},
    )
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": object_meta(name, POOLER_LABELS),
        "spec": {
            "replicas": stack.pooler.instances,
            "selector": {"matchLabels": POOLER_LABELS},
            "template": {
                "metadata": {"labels": POOLER_LABELS},
                "spec": {
                    "affinity": preferred_spread(POOLER_LABELS),
                    "containers": [pgbouncer, exporter],
                    "volumes": [{"name": "config", "configMap": {"name": name}}],
                },
            },
        },
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": object_meta(name, POOLER_LABELS),
            "data": {
                "pgbouncer.ini": _pgbouncer_ini(stack),
                "entrypoint.sh": script(root, "pgbouncer-entrypoint.sh"),
            },
        },
        deployment,
        service(name, POOLER_LABELS, [("postgresql", 5432)]),
    ]
