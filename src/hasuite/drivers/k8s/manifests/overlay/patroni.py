"""PostgreSQL in the overlay: Patroni members (StatefulSet ``shop-db``) on Patroni's Kubernetes
DCS (configmaps), with Spilo's labels (``application=spilo``, ``cluster-name=shop-db``,
``spilo-role=master|replica`` set by Patroni itself) and Zalando's secret names, so the driver's
role resolution is the same as on the chart flavor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from hasuite.drivers.k8s.manifests.base import preferred_spread
from hasuite.drivers.k8s.manifests.overlay.objects import (
    PG_LABELS,
    env_var,
    image_container,
    object_meta,
    script,
    secret_name,
    service,
)
from hasuite.drivers.k8s.names import (
    PG_CLUSTER,
)
from hasuite.settings import StackSettings

#: Test-only credentials (public, like env/k8s/base/app/secrets.yaml): kind only.
TEST_PASSWORDS = {
    "shop": "hasuite-kind-shop",
    "postgres": "hasuite-kind-su",
    "standby": "hasuite-kind-repl",
}


def patroni_dynamic_config(stack: StackSettings) -> dict[str, Any]:
    """Patroni's dynamic configuration (bootstrap.dcs): kept in the DCS after the cluster's
    bootstrap, so a later change must be written there (the ``shop-db-config`` annotation)."""
    p = stack.patroni
    return {
        "ttl": p.ttl,
        "loop_wait": p.loop_wait,
        "retry_timeout": p.retry_timeout,
        "maximum_lag_on_failover": p.maximum_lag_on_failover,
        "postgresql": {
            "use_pg_rewind": p.use_pg_rewind,
            "use_slots": True,
            "parameters": {
                "max_connections": 200,
                "wal_level": "replica",
                "hot_standby": "on",
                "wal_log_hints": "on",
                "max_wal_senders": 10,
                "max_replication_slots": 10,
                "wal_keep_size": "128MB",
                "password_encryption": "scram-sha-256",
            },
        },
    }


def _patroni_config(stack: StackSettings) -> str:
    config = {
        "scope": PG_CLUSTER,
        "kubernetes": {
            "labels": PG_LABELS,
            "role_label": "spilo-role",
            "leader_label_value": "master",
            "follower_label_value": "replica",
            "standby_leader_label_value": "master",
            "use_endpoints": False,
        },
        "restapi": {"listen": "0.0.0.0:8008"},
        "bootstrap": {
            "dcs": patroni_dynamic_config(stack),
            "initdb": [{"encoding": "UTF8"}, "data-checksums"],
            "post_bootstrap": "sh /etc/patroni/post-bootstrap.sh",
        },
        "postgresql": {
            "listen": "0.0.0.0:5432",
            "data_dir": "/home/postgres/pgdata/pgroot/data",
            "bin_dir": "/usr/lib/postgresql/15/bin",
            "pgpass": "/tmp/pgpass",
            "pg_hba": [
                "local all all trust",
                "host replication standby 0.0.0.0/0 scram-sha-256",
                "host all all 0.0.0.0/0 scram-sha-256",
            ],
        },
    }
    return yaml.safe_dump(config, sort_keys=False)


# size: the Patroni members' objects as data (RBAC, secrets, config, StatefulSet, Services),
# one field per line; splitting it would scatter one StatefulSet over helpers.
def build_postgres(stack: StackSettings, root: Path) -> list[dict[str, Any]]:
    """Patroni members (StatefulSet ``shop-db``) with their RBAC, config and Services."""
    sa = PG_CLUSTER
    rules = [
        {
            "apiGroups": [""],
            "resources": ["configmaps", "endpoints", "services"],
            "verbs": [
                "create",
                "get",
                "list",
                "patch",
                "update",
                "watch",
                "delete",
                "deletecollection",
            ],
        },
        {
            "apiGroups": [""],
            "resources": ["pods"],
            "verbs": ["get", "list", "patch", "update", "watch"],
        },
    ]
    secrets = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": object_meta(secret_name(user), PG_LABELS),
            "type": "Opaque",
            "stringData": {"username": user, "password": password},
        }
        for user, password in TEST_PASSWORDS.items()
    ]
    env = [
        env_var("POD_NAME", field="metadata.name"),
        env_var("POD_IP", field="status.podIP"),
        env_var("PATRONI_NAME", field="metadata.name"),
        env_var("PATRONI_KUBERNETES_NAMESPACE", field="metadata.namespace"),
        env_var("PATRONI_KUBERNETES_POD_IP", field="status.podIP"),
        env_var("PATRONI_RESTAPI_CONNECT_ADDRESS", "$(POD_IP):8008"),
        env_var("PATRONI_POSTGRESQL_CONNECT_ADDRESS", "$(POD_IP):5432"),
        env_var("PATRONI_SUPERUSER_USERNAME", "postgres"),
        env_var("PATRONI_SUPERUSER_PASSWORD", secret=(secret_name("postgres"), "password")),
        env_var("PATRONI_REPLICATION_USERNAME", "standby"),
        env_var("PATRONI_REPLICATION_PASSWORD", secret=(secret_name("standby"), "password")),
        env_var("SHOP_DB_PASSWORD", secret=(secret_name("shop"), "password")),
    ]
    container = image_container(
        "postgres",
        ["sh", "/etc/patroni/entrypoint.sh"],
        env=env,
        ports=[
            {"name": "postgresql", "containerPort": 5432},
            {"name": "patroni", "containerPort": 8008},
        ],
        readinessProbe={
            "httpGet": {"path": "/readiness", "port": "patroni"},
            "periodSeconds": 2,
            "timeoutSeconds": 2,
            "failureThreshold": 2,
        },
        livenessProbe={
            "httpGet": {"path": "/liveness", "port": "patroni"},
            "periodSeconds": 10,
            "timeoutSeconds": 3,
            "failureThreshold": 6,
            "initialDelaySeconds": 30,
        },
        resources={"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        volumeMounts=[
            {"name": "pgdata", "mountPath": "/home/postgres/pgdata"},
            {"name": "config", "mountPath": "/etc/patroni"},
        ],
    )
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": object_meta(PG_CLUSTER, PG_LABELS),
        "spec": {
            "replicas": 3,
            "serviceName": PG_CLUSTER,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": PG_LABELS},
            "template": {
                "metadata": {"labels": PG_LABELS},
                "spec": {
                    "serviceAccountName": sa,
                    "terminationGracePeriodSeconds": stack.patroni.termination_grace_s,
                    "affinity": preferred_spread(PG_LABELS),
                    "containers": [container],
                    "volumes": [
                        {"name": "pgdata", "emptyDir": {}},
                        {"name": "config", "configMap": {"name": f"{PG_CLUSTER}-patroni"}},
                    ],
                },
            },
        },
    }
    services = [
        service(
            PG_CLUSTER,
            {**PG_LABELS, "spilo-role": "master"},
            [("postgresql", 5432)],
            labels=PG_LABELS,
        ),
        service(
            f"{PG_CLUSTER}-repl",
            {**PG_LABELS, "spilo-role": "replica"},
            [("postgresql", 5432)],
            labels=PG_LABELS,
        ),
    ]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": object_meta(sa, PG_LABELS)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": object_meta(sa, PG_LABELS),
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": object_meta(sa, PG_LABELS),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": sa},
            "subjects": [{"kind": "ServiceAccount", "name": sa}],
        },
        *secrets,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": object_meta(f"{PG_CLUSTER}-patroni", PG_LABELS),
            "data": {
                "patroni.yml": _patroni_config(stack),
                "entrypoint.sh": script(root, "patroni-entrypoint.sh"),
                "post-bootstrap.sh": script(root, "post-bootstrap.sh"),
            },
        },
        statefulset,
        *services,
    ]
