"""The Helm values of the official charts (env/k8s/values), rendered from env/stack.yaml:
redis-ha (Sentinel timing) and kube-prometheus-stack (scrape timing, Alertmanager's routing to
the suite's receiver). Written by :mod:`.render`.
"""

from __future__ import annotations

from typing import Any

import yaml

from hasuite.drivers.k8s.manifests.base import REDIS_RELEASE
from hasuite.drivers.k8s.names import ALERT_RECEIVER_URL
from hasuite.paths import project_dir
from hasuite.settings import StackSettings


def build_redis_ha_values(stack: StackSettings) -> dict[str, Any]:
    """redis-ha: master + 2 replicas + 3 Sentinels, Sentinel timing from env/stack.yaml."""
    r = stack.redis
    s = r.sentinel
    return {
        "fullnameOverride": REDIS_RELEASE,
        "replicas": 3,
        "hardAntiAffinity": True,
        "redis": {
            "masterGroupName": r.master_name,
            "config": {
                "min-replicas-to-write": r.min_replicas_to_write,
                "min-replicas-max-lag": r.min_replicas_max_lag,
                "appendonly": "yes" if r.appendonly else "no",
            },
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
        },
        "sentinel": {
            "quorum": s.quorum,
            "config": {
                "down-after-milliseconds": s.down_after_milliseconds,
                "failover-timeout": s.failover_timeout,
                "parallel-syncs": s.parallel_syncs,
            },
            "resources": {"requests": {"cpu": "20m", "memory": "32Mi"}},
        },
        # Redis exporter sidecar (job "redis", PodMonitor in env/k8s/base/monitoring).
        "exporter": {
            "enabled": True,
            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
        },
        # A second redis_exporter per pod pointed at the local Sentinel (job "sentinel").
        "extraContainers": [
            {
                "name": "sentinel-exporter",
                "image": "quay.io/oliver006/redis_exporter:v1.86.0",
                "args": ["--redis.addr=redis://localhost:26379", "--web.listen-address=:9355"],
                "ports": [{"name": "sentinel-exp", "containerPort": 9355}],
                "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
                "livenessProbe": {"httpGet": {"path": "/metrics", "port": 9355}},
            }
        ],
        "persistentVolume": {"enabled": False},
    }


def build_kps_values(
    stack: StackSettings, *, receiver_url: str = ALERT_RECEIVER_URL
) -> dict[str, Any]:
    """kube-prometheus-stack: scrape timing, Alertmanager -> the suite's webhook, kind targets."""
    m = stack.monitoring
    am_tmpl = project_dir() / "env" / "alerts" / "alertmanager.yml.tmpl"
    am_config = yaml.safe_load(am_tmpl.read_text().replace("{{WEBHOOK_URL}}", receiver_url))
    return {
        "alertmanager": {
            "config": am_config,
            "alertmanagerSpec": {"replicas": 1},
        },
        "prometheus": {
            "prometheusSpec": {
                "scrapeInterval": f"{m.scrape_interval}s",
                "evaluationInterval": f"{m.evaluation_interval}s",
                # Pick up every ServiceMonitor/PodMonitor/PrometheusRule, not only the release's.
                "ruleSelectorNilUsesHelmValues": False,
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
                "retention": "2d",
            }
        },
        # kind runs these bound to 127.0.0.1 inside the control-plane node: not scrapeable, and
        # their default alerts would fire forever.
        "kubeControllerManager": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeEtcd": {"enabled": False},
        "kubeProxy": {"enabled": False},
        "defaultRules": {
            "rules": {
                "kubeControllerManager": False,
                "kubeSchedulerAlerting": False,
                "kubeSchedulerRecording": False,
                "etcd": False,
                "kubeProxy": False,
            }
        },
        "grafana": {
            "adminPassword": "hasuite",
            "additionalDataSources": [
                {
                    "name": "Loki",
                    "type": "loki",
                    "url": "http://loki.monitoring.svc:3100",
                    "access": "proxy",
                }
            ],
            "sidecar": {"dashboards": {"enabled": True, "searchNamespace": "ALL"}},
        },
    }
