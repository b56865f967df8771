"""Redis and Sentinel in the overlay: a StatefulSet of Redis + Sentinel pods labelled like the
redis-ha chart, with the per-pod ``redis-announce-N`` Services the shop's settings name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hasuite.drivers.k8s.manifests.base import preferred_spread
from hasuite.drivers.k8s.manifests.overlay.objects import (
    REDIS_LABELS,
    env_var,
    image_container,
    object_meta,
    script,
    service,
)
from hasuite.settings import StackSettings

REDIS_SET = "redis-ha-server"
REDIS_HEADLESS = "redis-ha-headless"


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
            # the redis-ha chart's values: an RDB snapshot after 900 s with a change, and the
            # append-only file only when the settings ask for it (env/stack.yaml redis.appendonly)
            "save 900 1",
            f"appendonly {'yes' if r.appendonly else 'no'}",
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
    common_env = [
        env_var("POD_NAME", field="metadata.name"),
        env_var("POD_IP", field="status.podIP"),
    ]
    mounts = [
        {"name": "data", "mountPath": "/data"},
        {"name": "config", "mountPath": "/etc/redis-config"},
    ]
    containers = [
        image_container(
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
        image_container(
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
        image_container(
            "redis-exporter",
            [
                "prometheus-redis-exporter",
                "-redis.addr=redis://127.0.0.1:6379",
                "-web.listen-address=:9121",
            ],
            ports=[{"name": "redis-exp", "containerPort": 9121}],
            resources={"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
        ),
        image_container(
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
        "metadata": object_meta(REDIS_SET, REDIS_LABELS),
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
        service(
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
            "metadata": object_meta("redis-ha-config", REDIS_LABELS),
            "data": {
                "redis.conf": redis_conf,
                "sentinel.conf": sentinel_conf,
                "known-master.sh": script(root, "known-master.sh"),
                "redis-start.sh": script(root, "redis-start.sh"),
                "sentinel-start.sh": script(root, "sentinel-start.sh"),
            },
        },
        statefulset,
        service(
            REDIS_HEADLESS, REDIS_LABELS, [("redis", 6379), ("sentinel", 26379)], headless=True
        ),
        *announce,
    ]
