"""The local-images overlay: the whole shop stack from the one image built on this machine.

For a machine without a registry (env/k8s/overlays/local-images): the Spilo image, Zalando's
pooler image and the official charts cannot be pulled there, so each is replaced by a plain
manifest that plays the same role with the same names and labels, and every container runs
:data:`~hasuite.drivers.k8s.stackimage.PLACEHOLDER` (pinned to the built tag before apply):

- PostgreSQL: a StatefulSet of Patroni members on Patroni's Kubernetes DCS (configmaps), with
  Spilo's labels (``application=spilo``, ``cluster-name=shop-db``, ``spilo-role=master|replica``
  set by Patroni itself) and Zalando's secret names, so the driver's role resolution is the same;
- PgBouncer: a Deployment with the operator pooler's labels and Service name;
- Redis: a StatefulSet of Redis + Sentinel pods labelled like the redis-ha chart, with the
  per-pod ``redis-announce-N`` Services the shop's settings name;
- Prometheus and Alertmanager: plain Deployments under the Service names of
  kube-prometheus-stack, scraping by pod discovery with the scrape contract's job labels
  (env/alerts/README.md) and the shared rule files;
- the shop's own objects (env/k8s/base): the same Deployments, probes, PDB and HPA, with the
  image and its command set (the upstream images have entrypoints, ours does not); nginx is the
  ingress (NodePort 30080, mapped to 127.0.0.1:8080 by env/kind/cluster.yaml).

Not here (said in env/k8s/README.md): Traefik, cert-manager, Grafana, Loki and Alloy, and the
operators. Settings come from env/stack.yaml like the chart flavor's.
"""

# size: one builder per role of the overlay (Patroni, PgBouncer, Redis, monitoring) plus the
# transform of the base objects; each is a plain data mapping of env/stack.yaml.
from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from hasuite.drivers.k8s.manifests import assemble, preferred_spread
from hasuite.drivers.k8s.names import (
    ALERT_RECEIVER_URL,
    EXPORTER_PORT,
    NAMESPACE,
    PG_CLUSTER,
    STUB_STATUS_PORT,
)
from hasuite.drivers.k8s.stackimage import EXPORTER_FILE, PLACEHOLDER, VENV
from hasuite.settings import StackSettings

__all__ = [
    "CONFIG_HASH_ANNOTATION",
    "INGRESS_NODE_PORT",
    "OVERLAY_GENERATED",
    "PRODUCTION",
    "PROFILE_ANNOTATION",
    "build_overlay",
    "patroni_dynamic_config",
    "transform_base",
]

OVERLAY_GENERATED = Path("env/k8s/overlays/local-images/generated")

MONITORING = "monitoring"
#: On the shop's Namespace: the env/stack.yaml profile the overlay was rendered with (what a run
#: on the cluster judges against; ``production`` for none).
PROFILE_ANNOTATION = "hasuite.io/stack-profile"
PRODUCTION = "production"
#: On each workload's pod template: a digest of the ConfigMaps and Secrets it mounts or reads,
#: so a changed setting (a profile) rolls the pods that use it (a ConfigMap change alone does
#: not restart anything).
CONFIG_HASH_ANNOTATION = "hasuite.io/config-hash"
INGRESS_NODE_PORT = 30080
PG_LABELS = {"application": "spilo", "cluster-name": PG_CLUSTER}
POOLER_LABELS = {"application": "db-connection-pooler", "cluster-name": PG_CLUSTER}
REDIS_LABELS = {"app": "redis-ha"}
REDIS_SET = "redis-ha-server"
REDIS_HEADLESS = "redis-ha-headless"
#: Test-only credentials (public, like env/k8s/base/app/secrets.yaml): kind only.
TEST_PASSWORDS = {
    "shop": "hasuite-kind-shop",
    "postgres": "hasuite-kind-su",
    "standby": "hasuite-kind-repl",
}
#: Kinds the base has that need an operator or a registry image: left out of the overlay.
DROPPED_KINDS = {
    "postgresql",
    "PrometheusRule",
    "ServiceMonitor",
    "PodMonitor",
    "Certificate",
    "IngressRoute",
}
#: Base objects replaced by the overlay's own (the pgbouncer exporter runs beside PgBouncer).
DROPPED_NAMES = {("Deployment", "pgbouncer-exporter"), ("Service", "pgbouncer-exporter")}
#: Base container -> (command, user): the entrypoint each upstream image would have run.
COMMANDS: dict[str, tuple[list[str], int | None]] = {
    "django": (
        ["gunicorn", "-c", "/app/gunicorn.conf.py", "--chdir", "/app", "shop.wsgi:application"],
        10001,
    ),
    "worker": (["celery"], 10001),
    "beat": (["celery"], 10001),
    # the database comes up with the rest of the overlay (one apply): wait for it, within the
    # Job's activeDeadlineSeconds, instead of failing into the Job's exponential back-off
    "migrate": (
        [
            "sh",
            "-c",
            "until python manage.py migrate --noinput; do echo 'migrate: retrying in 3 s'; "
            "sleep 3; done",
        ],
        10001,
    ),
    "nginx": (["nginx", "-c", "/etc/nginx/hasuite/nginx.conf", "-g", "daemon off;"], None),
    "exporter": (
        [
            "prometheus-nginx-exporter",
            f"-nginx.scrape-uri=http://127.0.0.1:{STUB_STATUS_PORT}/stub_status",
            f"-web.listen-address=:{EXPORTER_PORT}",
        ],
        None,
    ),
    "receiver": (["python3", "/code/receiver.py"], None),
}


def _meta(name: str, labels: dict[str, str] | None = None, ns: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if ns:
        meta["namespace"] = ns
    if labels:
        meta["labels"] = dict(labels)
    return meta


def _env(
    name: str,
    value: str | None = None,
    *,
    field: str | None = None,
    secret: tuple[str, str] | None = None,
) -> dict[str, Any]:
    if field:
        return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": field}}}
    if secret:
        return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret[0], "key": secret[1]}}}
    return {"name": name, "value": value or ""}


SCRIPTS = Path("env/k8s/overlays/local-images/scripts")


def _script(root: Path, name: str) -> str:
    return (root / SCRIPTS / name).read_text()


def _secret_name(user: str) -> str:
    return f"{user}.{PG_CLUSTER}.credentials.postgresql.acid.zalan.do"


def _container(name: str, command: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "image": PLACEHOLDER,
        "imagePullPolicy": "Never",
        "command": command,
        **extra,
    }


# -- the base's objects ------------------------------------------------------------------------


def transform_base(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The base's objects for the overlay: operator/registry-only kinds dropped, every image the
    stack image with the command its upstream image's entrypoint would have run."""
    out = []
    for doc in docs:
        if doc["kind"] in DROPPED_KINDS:
            continue
        if (doc["kind"], doc["metadata"]["name"]) in DROPPED_NAMES:
            continue
        doc = copy.deepcopy(doc)
        spec = doc.get("spec", {})
        pod = spec.get("template", {}).get("spec")
        if pod:
            for c in pod.get("containers", []):
                command, user = COMMANDS.get(c["name"], (None, None))
                if command is None:
                    what = f"{doc['kind']}/{doc['metadata']['name']}"
                    raise ValueError(f"{what}: no command for container {c['name']}")
                c["image"] = PLACEHOLDER
                c["imagePullPolicy"] = "Never"
                c["command"] = command
                if c["name"] in ("nginx", "exporter"):
                    c.pop("args", None)  # the upstream image's arguments are in the command
                if user is not None:
                    c.setdefault("securityContext", {})["runAsUser"] = user
        out.append(doc)
    return out


# -- PostgreSQL: Patroni on its Kubernetes DCS --------------------------------------------------


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
            "metadata": _meta(_secret_name(user), PG_LABELS),
            "type": "Opaque",
            "stringData": {"username": user, "password": password},
        }
        for user, password in TEST_PASSWORDS.items()
    ]
    env = [
        _env("POD_NAME", field="metadata.name"),
        _env("POD_IP", field="status.podIP"),
        _env("PATRONI_NAME", field="metadata.name"),
        _env("PATRONI_KUBERNETES_NAMESPACE", field="metadata.namespace"),
        _env("PATRONI_KUBERNETES_POD_IP", field="status.podIP"),
        _env("PATRONI_RESTAPI_CONNECT_ADDRESS", "$(POD_IP):8008"),
        _env("PATRONI_POSTGRESQL_CONNECT_ADDRESS", "$(POD_IP):5432"),
        _env("PATRONI_SUPERUSER_USERNAME", "postgres"),
        _env("PATRONI_SUPERUSER_PASSWORD", secret=(_secret_name("postgres"), "password")),
        _env("PATRONI_REPLICATION_USERNAME", "standby"),
        _env("PATRONI_REPLICATION_PASSWORD", secret=(_secret_name("standby"), "password")),
        _env("SHOP_DB_PASSWORD", secret=(_secret_name("shop"), "password")),
    ]
    container = _container(
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
        "metadata": _meta(PG_CLUSTER, PG_LABELS),
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
        _service(
            PG_CLUSTER,
            {**PG_LABELS, "spilo-role": "master"},
            [("postgresql", 5432)],
            labels=PG_LABELS,
        ),
        _service(
            f"{PG_CLUSTER}-repl",
            {**PG_LABELS, "spilo-role": "replica"},
            [("postgresql", 5432)],
            labels=PG_LABELS,
        ),
    ]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(sa, PG_LABELS)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": _meta(sa, PG_LABELS),
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _meta(sa, PG_LABELS),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": sa},
            "subjects": [{"kind": "ServiceAccount", "name": sa}],
        },
        *secrets,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta(f"{PG_CLUSTER}-patroni", PG_LABELS),
            "data": {
                "patroni.yml": _patroni_config(stack),
                "entrypoint.sh": _script(root, "patroni-entrypoint.sh"),
                "post-bootstrap.sh": _script(root, "post-bootstrap.sh"),
            },
        },
        statefulset,
        *services,
    ]


def _service(
    name: str,
    selector: dict[str, str],
    ports: list[tuple[str, int]],
    *,
    labels: dict[str, str] | None = None,
    headless: bool = False,
    node_port: int | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": selector,
        "ports": [{"name": n, "port": p, "targetPort": p} for n, p in ports],
    }
    if headless:
        spec["clusterIP"] = "None"
        spec["publishNotReadyAddresses"] = True
    if node_port is not None:
        spec["type"] = "NodePort"
        spec["ports"][0]["nodePort"] = node_port
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, labels or selector),
        "spec": spec,
    }


# -- PgBouncer ---------------------------------------------------------------------------------


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
    password = _env("SHOP_DB_PASSWORD", secret=(_secret_name("shop"), "password"))
    pgbouncer = _container(
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
    exporter = _container(
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
        env=[_env("PGBOUNCER_EXPORTER_PASSWORD", secret=(_secret_name("shop"), "password"))],
        ports=[{"name": "exporter", "containerPort": 9127}],
        resources={"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "96Mi"}},
    )
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name, POOLER_LABELS),
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
            "metadata": _meta(name, POOLER_LABELS),
            "data": {
                "pgbouncer.ini": _pgbouncer_ini(stack),
                "entrypoint.sh": _script(root, "pgbouncer-entrypoint.sh"),
            },
        },
        deployment,
        _service(name, POOLER_LABELS, [("postgresql", 5432)]),
    ]


# -- Redis and Sentinel ------------------------------------------------------------------------


# size: the Redis pods' objects as data (config, four containers, Services), one field per line.
def build_redis(stack: StackSettings, root: Path) -> list[dict[str, Any]]:
    """Redis + Sentinel pods (the redis-ha chart's labels and container names)."""
    r = stack.redis
    s = r.sentinel
    redis_conf = "\n".join(
        [
            "bind 0.0.0.0",
            "port 6379",
            "protected-mode no",
            "dir /data",
            f"min-replicas-to-write {r.min_replicas_to_write}",
            f"min-replicas-max-lag {r.min_replicas_max_lag}",
            "",
        ]
    )
    sentinel_conf = "\n".join(
        [
            "port 26379",
            "protected-mode no",
            "dir /data",
            "sentinel resolve-hostnames yes",
            "sentinel announce-hostnames yes",
            "sentinel announce-ip @ME@",
            f"sentinel monitor {r.master_name} @MASTER@ 6379 {s.quorum}",
            f"sentinel down-after-milliseconds {r.master_name} {s.down_after_milliseconds}",
            f"sentinel failover-timeout {r.master_name} {s.failover_timeout}",
            f"sentinel parallel-syncs {r.master_name} {s.parallel_syncs}",
            "",
        ]
    )
    common_env = [_env("POD_NAME", field="metadata.name"), _env("POD_IP", field="status.podIP")]
    mounts = [
        {"name": "data", "mountPath": "/data"},
        {"name": "config", "mountPath": "/etc/redis-config"},
    ]
    containers = [
        _container(
            "redis",
            ["sh", "/etc/redis-config/redis-start.sh"],
            env=common_env,
            ports=[{"name": "redis", "containerPort": 6379}],
            readinessProbe={
                "exec": {"command": ["redis-cli", "ping"]},
                "periodSeconds": 2,
                "timeoutSeconds": 2,
            },
            resources={"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
            volumeMounts=mounts,
        ),
        _container(
            "sentinel",
            ["sh", "/etc/redis-config/sentinel-start.sh"],
            env=common_env,
            ports=[{"name": "sentinel", "containerPort": 26379}],
            readinessProbe={
                "exec": {"command": ["redis-cli", "-p", "26379", "ping"]},
                "periodSeconds": 2,
                "timeoutSeconds": 2,
            },
            resources={"requests": {"cpu": "20m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
            volumeMounts=mounts,
        ),
        _container(
            "redis-exporter",
            [
                "prometheus-redis-exporter",
                "-redis.addr=redis://127.0.0.1:6379",
                "-web.listen-address=:9121",
            ],
            ports=[{"name": "redis-exp", "containerPort": 9121}],
            resources={"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
        ),
        _container(
            "sentinel-exporter",
            [
                "prometheus-redis-exporter",
                "-redis.addr=redis://127.0.0.1:26379",
                "-web.listen-address=:9355",
            ],
            ports=[{"name": "sentinel-exp", "containerPort": 9355}],
            resources={"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
        ),
    ]
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _meta(REDIS_SET, REDIS_LABELS),
        "spec": {
            "replicas": 3,
            "serviceName": REDIS_HEADLESS,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": REDIS_LABELS},
            "template": {
                "metadata": {"labels": REDIS_LABELS},
                "spec": {
                    "affinity": preferred_spread(REDIS_LABELS),
                    "terminationGracePeriodSeconds": 10,
                    "containers": containers,
                    "volumes": [
                        {"name": "data", "emptyDir": {}},
                        {"name": "config", "configMap": {"name": "redis-ha-config"}},
                    ],
                },
            },
        },
    }
    announce = [
        _service(
            f"redis-announce-{i}",
            {**REDIS_LABELS, "statefulset.kubernetes.io/pod-name": f"{REDIS_SET}-{i}"},
            [("redis", 6379), ("sentinel", 26379)],
            labels=REDIS_LABELS,
        )
        for i in range(3)
    ]
    for svc in announce:
        svc["spec"]["publishNotReadyAddresses"] = True
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta("redis-ha-config", REDIS_LABELS),
            "data": {
                "redis.conf": redis_conf,
                "sentinel.conf": sentinel_conf,
                "known-master.sh": _script(root, "known-master.sh"),
                "redis-start.sh": _script(root, "redis-start.sh"),
                "sentinel-start.sh": _script(root, "sentinel-start.sh"),
            },
        },
        statefulset,
        _service(
            REDIS_HEADLESS, REDIS_LABELS, [("redis", 6379), ("sentinel", 26379)], headless=True
        ),
        *announce,
    ]


# -- Prometheus and Alertmanager ---------------------------------------------------------------

#: job -> (pod label selector, container port name, metrics path): the scrape contract.
SCRAPE: dict[str, tuple[dict[str, str], str, str]] = {
    "patroni": (PG_LABELS, "patroni", "/metrics"),
    "pgbouncer": (POOLER_LABELS, "exporter", "/metrics"),
    "redis": (REDIS_LABELS, "redis-exp", "/metrics"),
    "sentinel": (REDIS_LABELS, "sentinel-exp", "/metrics"),
    "django": ({"app.kubernetes.io/component": "django"}, "http", "/metrics"),
    "celery-worker": ({"app.kubernetes.io/component": "celery-worker"}, "metrics", "/metrics"),
    "nginx": ({"app.kubernetes.io/component": "nginx"}, "metrics", "/metrics"),
}


def _label_meta(key: str) -> str:
    return "__meta_kubernetes_pod_label_" + "".join(c if c.isalnum() else "_" for c in key)


def _prometheus_config(stack: StackSettings) -> str:
    jobs = [
        {
            "job_name": job,
            "metrics_path": path,
            "file_sd_configs": [{"files": [f"/sd/{job}.json"], "refresh_interval": "5s"}],
        }
        for job, (_labels, _port, path) in SCRAPE.items()
    ]
    config = {
        "global": {
            "scrape_interval": f"{stack.monitoring.scrape_interval}s",
            "evaluation_interval": f"{stack.monitoring.evaluation_interval}s",
        },
        "rule_files": ["/etc/prometheus/rules/*.yml"],
        "alerting": {
            "alertmanagers": [
                {"static_configs": [{"targets": ["kube-prometheus-stack-alertmanager:9093"]}]}
            ]
        },
        "scrape_configs": jobs,
    }
    return yaml.safe_dump(config, sort_keys=False)


def _discovery_jobs() -> str:
    return json.dumps(
        {job: {"labels": labels, "port": port} for job, (labels, port, _path) in SCRAPE.items()},
        sort_keys=True,
    )


# size: Prometheus and Alertmanager with their RBAC, config and Services, as data.
def build_monitoring(stack: StackSettings, root: Path) -> list[dict[str, Any]]:
    """Prometheus (pod discovery in ``shop``, the shared rules) and Alertmanager (the shared
    routing, to the suite's receiver), under kube-prometheus-stack's Service names."""
    rules = {p.name: p.read_text() for p in sorted((root / "env/alerts/rules").glob("*.yml"))}
    am = (
        (root / "env/alerts/alertmanager.yml.tmpl")
        .read_text()
        .replace("{{WEBHOOK_URL}}", ALERT_RECEIVER_URL)
    )
    prom_labels = {"app": "prometheus"}
    am_labels = {"app": "alertmanager"}
    prometheus = _container(
        "prometheus",
        [
            "prometheus",
            "--config.file=/etc/prometheus/config/prometheus.yml",
            "--storage.tsdb.path=/prometheus",
            "--storage.tsdb.retention.time=6h",
            "--web.listen-address=:9090",
            "--web.enable-lifecycle",
        ],
        ports=[{"name": "http", "containerPort": 9090}],
        readinessProbe={"httpGet": {"path": "/-/ready", "port": "http"}, "periodSeconds": 5},
        resources={"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        volumeMounts=[
            {"name": "config", "mountPath": "/etc/prometheus/config"},
            {"name": "rules", "mountPath": "/etc/prometheus/rules"},
            {"name": "data", "mountPath": "/prometheus"},
            {"name": "sd", "mountPath": "/sd"},
        ],
    )
    discovery = _container(
        "discovery",
        ["python3", "/etc/prometheus/discovery/pod-discovery.py"],
        env=[
            _env("DISCOVER_NAMESPACE", NAMESPACE),
            _env("DISCOVER_DIR", "/sd"),
            _env("DISCOVER_JOBS", _discovery_jobs()),
            _env("DISCOVER_INTERVAL_S", str(stack.monitoring.scrape_interval)),
        ],
        resources={"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
        volumeMounts=[
            {"name": "sd", "mountPath": "/sd"},
            {"name": "discovery", "mountPath": "/etc/prometheus/discovery"},
        ],
    )
    alertmanager = _container(
        "alertmanager",
        [
            "prometheus-alertmanager",
            "--config.file=/etc/alertmanager/alertmanager.yml",
            "--storage.path=/alertmanager",
            "--web.listen-address=:9093",
            "--cluster.listen-address=",
        ],
        ports=[{"name": "http", "containerPort": 9093}],
        readinessProbe={"httpGet": {"path": "/-/ready", "port": "http"}, "periodSeconds": 5},
        resources={"requests": {"cpu": "20m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        volumeMounts=[
            {"name": "config", "mountPath": "/etc/alertmanager"},
            {"name": "data", "mountPath": "/alertmanager"},
        ],
    )

    def deployment(
        name: str,
        labels: dict[str, str],
        containers: list[dict[str, Any]],
        volumes: list[dict[str, Any]],
        sa: str | None = None,
    ) -> dict[str, Any]:
        spec: dict[str, Any] = {"containers": containers, "volumes": volumes}
        if sa:
            spec["serviceAccountName"] = sa
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta(name, labels, MONITORING),
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": spec},
            },
        }

    sa = "prometheus"
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": MONITORING}},
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _meta(sa, prom_labels, MONITORING),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": _meta("prometheus-discovery", prom_labels, NAMESPACE),
            "rules": [
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _meta("prometheus-discovery", prom_labels, NAMESPACE),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "prometheus-discovery",
            },
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": MONITORING}],
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta("prometheus-config", prom_labels, MONITORING),
            "data": {"prometheus.yml": _prometheus_config(stack)},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta("prometheus-rules", prom_labels, MONITORING),
            "data": rules,
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta("alertmanager-config", am_labels, MONITORING),
            "data": {"alertmanager.yml": am},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta("prometheus-discovery", prom_labels, MONITORING),
            "data": {"pod-discovery.py": _script(root, "pod-discovery.py")},
        },
        deployment(
            "prometheus",
            prom_labels,
            [prometheus, discovery],
            [
                {"name": "config", "configMap": {"name": "prometheus-config"}},
                {"name": "rules", "configMap": {"name": "prometheus-rules"}},
                {"name": "discovery", "configMap": {"name": "prometheus-discovery"}},
                {"name": "data", "emptyDir": {}},
                {"name": "sd", "emptyDir": {}},
            ],
            sa,
        ),
        deployment(
            "alertmanager",
            am_labels,
            [alertmanager],
            [
                {"name": "config", "configMap": {"name": "alertmanager-config"}},
                {"name": "data", "emptyDir": {}},
            ],
        ),
        {
            **_service("kube-prometheus-stack-prometheus", prom_labels, [("http", 9090)]),
            "metadata": _meta("kube-prometheus-stack-prometheus", prom_labels, MONITORING),
        },
        {
            **_service("kube-prometheus-stack-alertmanager", am_labels, [("http", 9093)]),
            "metadata": _meta("kube-prometheus-stack-alertmanager", am_labels, MONITORING),
        },
    ]


# -- the whole overlay -------------------------------------------------------------------------


def shop_ns(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``docs`` in the shop's namespace unless they name their own."""
    return [
        {**d, "metadata": {**d["metadata"], "namespace": d["metadata"].get("namespace", NAMESPACE)}}
        for d in docs
    ]


def build_overlay(
    stack: StackSettings, root: Path, generated: Sequence[dict[str, Any]] = ()
) -> dict[str, list[dict[str, Any]]]:
    """file name (under the overlay's generated/) -> its documents, in apply order.

    ``generated``: the base's generated objects as just rendered; they replace the committed
    ones of the same kind and name, so one render is never built on a stale base.
    """
    fresh = {(d["kind"], d["metadata"]["name"]): d for d in generated}
    base = transform_base(
        [fresh.get((d["kind"], d["metadata"]["name"]), d) for d in assemble(root / "env/k8s/base")]
    )
    ingress = _service(
        "shop-ingress",
        {"app.kubernetes.io/name": "shop", "app.kubernetes.io/component": "nginx"},
        [("http", 8080)],
        node_port=INGRESS_NODE_PORT,
    )
    namespace = _meta(NAMESPACE)
    namespace["annotations"] = {PROFILE_ANNOTATION: stack.profile or PRODUCTION}
    return with_config_hash(
        {
            "namespaces.yaml": [{"apiVersion": "v1", "kind": "Namespace", "metadata": namespace}],
            "postgres.yaml": shop_ns(build_postgres(stack, root)),
            "pooler.yaml": shop_ns(build_pooler(stack, root)),
            "redis.yaml": shop_ns(build_redis(stack, root)),
            "monitoring.yaml": build_monitoring(stack, root),
            "shop.yaml": shop_ns([*base, ingress]),
        }
    )


_REF_KEYS = {
    "configMap": "ConfigMap",
    "configMapRef": "ConfigMap",
    "configMapKeyRef": "ConfigMap",
    "secret": "Secret",
    "secretRef": "Secret",
    "secretKeyRef": "Secret",
}


def _config_refs(node: Any) -> set[tuple[str, str]]:
    """(kind, name) of every ConfigMap and Secret a pod template mounts or reads."""
    found: set[tuple[str, str]] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _REF_KEYS and isinstance(value, dict):
                name = value.get("name") or value.get("secretName")
                if name:
                    found.add((_REF_KEYS[key], str(name)))
            found |= _config_refs(value)
    elif isinstance(node, list):
        for item in node:
            found |= _config_refs(item)
    return found


def with_config_hash(files: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """``files`` with :data:`CONFIG_HASH_ANNOTATION` on every Deployment's and StatefulSet's
    pod template (Jobs are left alone: their template cannot change once created)."""
    docs = [d for file_docs in files.values() for d in file_docs]
    content = {
        (d["metadata"].get("namespace"), d["kind"], d["metadata"]["name"]): json.dumps(
            {k: d.get(k) for k in ("data", "stringData")}, sort_keys=True
        )
        for d in docs
        if d["kind"] in ("ConfigMap", "Secret")
    }
    for d in docs:
        if d["kind"] not in ("Deployment", "StatefulSet"):
            continue
        template = d["spec"]["template"]
        ns = d["metadata"].get("namespace")
        used = sorted(
            content.get((ns, kind, name), "") for kind, name in _config_refs(template["spec"])
        )
        digest = hashlib.sha256("\n".join(used).encode()).hexdigest()[:16]
        template.setdefault("metadata", {}).setdefault("annotations", {})[
            CONFIG_HASH_ANNOTATION
        ] = digest
    return files
