"""Prometheus and Alertmanager in the overlay: plain Deployments under kube-prometheus-stack's
Service names, scraping by pod discovery with the scrape contract's job labels
(env/alerts/README.md) and the shared rule files, routing to the suite's receiver."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from hasuite.drivers.k8s.manifests.overlay.objects import (
    PG_LABELS,
    POOLER_LABELS,
    REDIS_LABELS,
    env_var,
    image_container,
    object_meta,
    script,
    service,
)
from hasuite.drivers.k8s.names import (
    ALERT_RECEIVER_URL,
    NAMESPACE,
)
from hasuite.settings import StackSettings

MONITORING = "monitoring"


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
    prometheus = image_container(
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
    discovery = image_container(
        "discovery",
        ["python3", "/etc/prometheus/discovery/pod-discovery.py"],
        env=[
            env_var("DISCOVER_NAMESPACE", NAMESPACE),
            env_var("DISCOVER_DIR", "/sd"),
            env_var("DISCOVER_JOBS", _discovery_jobs()),
            env_var("DISCOVER_INTERVAL_S", str(stack.monitoring.scrape_interval)),
        ],
        resources={"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
        volumeMounts=[
            {"name": "sd", "mountPath": "/sd"},
            {"name": "discovery", "mountPath": "/etc/prometheus/discovery"},
        ],
    )
    alertmanager = image_container(
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
            "metadata": object_meta(name, labels, MONITORING),
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
            "metadata": object_meta(sa, prom_labels, MONITORING),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": object_meta("prometheus-discovery", prom_labels, NAMESPACE),
            "rules": [
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": object_meta("prometheus-discovery", prom_labels, NAMESPACE),
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
            "metadata": object_meta("prometheus-config", prom_labels, MONITORING),
            "data": {"prometheus.yml": _prometheus_config(stack)},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": object_meta("prometheus-rules", prom_labels, MONITORING),
            "data": rules,
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": object_meta("alertmanager-config", am_labels, MONITORING),
            "data": {"alertmanager.yml": am},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": object_meta("prometheus-discovery", prom_labels, MONITORING),
            "data": {"pod-discovery.py": script(root, "pod-discovery.py")},
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
            **service("kube-prometheus-stack-prometheus", prom_labels, [("http", 9090)]),
            "metadata": object_meta("kube-prometheus-stack-prometheus", prom_labels, MONITORING),
        },
        {
            **service("kube-prometheus-stack-alertmanager", am_labels, [("http", 9093)]),
            "metadata": object_meta("kube-prometheus-stack-alertmanager", am_labels, MONITORING),
        },
    ]
