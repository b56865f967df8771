"""The base's rendered objects (env/k8s/base/generated), one builder per file, each a plain data
mapping of env/stack.yaml: the app's settings, the Django Deployment and its HPA, nginx.conf,
the Zalando ``postgresql`` CR and the PrometheusRules. Written by :mod:`.render`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from hasuite.drivers.k8s.names import NAMESPACE, PG_CLUSTER, STUB_STATUS_PORT
from hasuite.settings import StackSettings

PG_TEAM = "shop"
REDIS_RELEASE = "redis"
APP_IMAGE = "hasuite/shop:dev"
#: Slack on top of preStop + gunicorn's graceful timeout before kubelet sends SIGKILL.
GRACE_SLACK_S = 5
NGINX_PORT = 8080


def termination_grace_s(stack: StackSettings) -> int:
    """preStop sleep + gunicorn graceful timeout + slack: gunicorn is never SIGKILLed mid-drain."""
    # preStop sleep (endpoints/ingress stop sending first) + gunicorn's graceful timeout + slack
    return stack.django.prestop_delay_s + stack.django.gunicorn_graceful_timeout + GRACE_SLACK_S


def _labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "shop", "app.kubernetes.io/component": component}


def build_shop_env(stack: StackSettings) -> dict[str, Any]:
    """The app's non-secret settings as a ConfigMap (envFrom in every app container)."""
    sentinels = ",".join(f"{REDIS_RELEASE}-announce-{i}.{NAMESPACE}.svc:26379" for i in range(3))
    data = {
        "SHOP_ALLOWED_HOSTS": "*",
        "SHOP_DB_HOST": f"{PG_CLUSTER}-pooler.{NAMESPACE}.svc",
        "SHOP_DB_PORT": "5432",
        "SHOP_DB_NAME": "shop",
        "SHOP_DB_USER": "shop",
        "SHOP_REDIS_SENTINELS": sentinels,
        **stack.app_env(),
        "SHOP_WORKER_METRICS_PORT": "9808",
        "SHOP_WORKER_METRICS_ADDR": "0.0.0.0",
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "shop-env", "labels": _labels("config")},
        "data": data,
    }


# size: one Deployment manifest as data, field by field from env/stack.yaml.
def build_django(stack: StackSettings) -> dict[str, Any]:
    """The Django Deployment: gunicorn, probes, graceful drain, spread over nodes."""
    labels = _labels("django")
    http = {"port": "http"}
    container = {
        "name": "django",
        "image": APP_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": 8000}],
        "envFrom": [{"configMapRef": {"name": "shop-env"}}],
        "env": [
            {
                "name": "SHOP_GUNICORN_NAME",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
            },
            {
                "name": "SHOP_SECRET_KEY",
                "valueFrom": {"secretKeyRef": {"name": "shop-secrets", "key": "secret-key"}},
            },
            {
                "name": "SHOP_PROBE_TOKEN",
                "valueFrom": {"secretKeyRef": {"name": "shop-secrets", "key": "probe-token"}},
            },
            {
                "name": "SHOP_DB_PASSWORD",
                "valueFrom": {
                    "secretKeyRef": {
                        "name": f"shop.{PG_CLUSTER}.credentials.postgresql.acid.zalan.do",
                        "key": "password",
                    }
                },
            },
        ],
        # /healthz touches no backend: a database or Redis outage must not restart the app.
        "startupProbe": {
            "httpGet": {"path": "/healthz", **http},
            "periodSeconds": 2,
            "failureThreshold": 30,
            "timeoutSeconds": 2,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", **http},
            "periodSeconds": 10,
            "failureThreshold": 3,
            "timeoutSeconds": 3,
        },
        # /readyz checks the database and Redis: a pod that cannot serve leaves the Service.
        "readinessProbe": {
            "httpGet": {"path": "/readyz", **http},
            "periodSeconds": 2,
            "failureThreshold": 2,
            "successThreshold": 1,
            "timeoutSeconds": 3,
        },
        # Endpoint removal is asynchronous: keep serving while nginx/Traefik stop sending, then
        # gunicorn gets SIGTERM and drains for up to its graceful timeout.
        **(
            {"lifecycle": {"preStop": {"sleep": {"seconds": stack.django.prestop_delay_s}}}}
            if stack.django.prestop_delay_s > 0
            else {}
        ),
        "resources": {
            "requests": {"cpu": "200m", "memory": "256Mi"},
            "limits": {"memory": "512Mi"},
        },
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "django", "labels": labels},
        "spec": {
            "replicas": stack.django.replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": labels},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": termination_grace_s(stack),
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "DoNotSchedule",
                            # the tainted control-plane node is no domain: counted with its 0
                            # pods (the default, Ignore), it made a 3rd pod on 2 workers (or a
                            # 4th, when the HPA scales, on 3) unschedulable (seen on kind)
                            "nodeTaintsPolicy": "Honor",
                            "labelSelector": {"matchLabels": labels},
                        }
                    ],
                    "affinity": preferred_spread(labels),
                    "containers": [container],
                },
            },
        },
    }


def build_django_hpa(stack: StackSettings) -> dict[str, Any]:
    """HPA-SCALES: the app's CPU-based HorizontalPodAutoscaler, from `replicas` (its minimum) to
    `hpa_max_replicas`. It needs metrics-server and a CPU request on every container of the pod
    (build_django)."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "django", "labels": _labels("django")},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "django"},
            "minReplicas": stack.django.replicas,
            "maxReplicas": stack.django.hpa_max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": stack.django.hpa_cpu_utilization,
                        },
                    },
                }
            ],
            "behavior": {
                "scaleUp": {
                    "stabilizationWindowSeconds": 0,
                    "policies": [{"type": "Pods", "value": 2, "periodSeconds": 15}],
                },
                # The HPA-SCALES promise allows this window + 60 s for the return to the minimum.
                "scaleDown": {
                    "stabilizationWindowSeconds": 120,
                    "policies": [{"type": "Pods", "value": 1, "periodSeconds": 30}],
                },
            },
        },
    }


def build_nginx_config(stack: StackSettings) -> dict[str, Any]:
    """nginx.conf: the shop behind the django Service; stub_status for the exporter sidecar."""
    n = stack.nginx
    conf = f"""worker_processes 1;
pid /tmp/nginx.pid;
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
    access_log /dev/stdout;
    client_body_temp_path /tmp/body;
    proxy_temp_path /tmp/proxy;
    fastcgi_temp_path /tmp/fastcgi;
    uwsgi_temp_path /tmp/uwsgi;
    scgi_temp_path /tmp/scgi;
    upstream shop {{
        server django.{NAMESPACE}.svc:8000 max_fails={n.max_fails} fail_timeout={n.fail_timeout}s;
        keepalive 16;
        keepalive_timeout {n.upstream_keepalive_timeout}s;
    }}
    server {{
        listen {NGINX_PORT};
        location = /nginx-healthz {{ access_log off; return 200 "ok\\n"; }}
        location / {{
            proxy_pass http://shop;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_next_upstream {n.proxy_next_upstream};
            proxy_next_upstream_tries 3;
            proxy_connect_timeout {n.proxy_connect_timeout}s;
            proxy_read_timeout {n.proxy_read_timeout}s;
        }}
    }}
    # Read by the nginx-prometheus-exporter sidecar (its --nginx.scrape-uri must match).
    server {{
        listen 127.0.0.1:{STUB_STATUS_PORT};
        location = /stub_status {{ access_log off; stub_status; }}
    }}
}}
"""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "nginx-config", "labels": _labels("nginx")},
        "data": {"nginx.conf": conf},
    }


def build_postgresql(stack: StackSettings) -> dict[str, Any]:
    """The Zalando ``postgresql`` CR: 3 Spilo members, Patroni timing, pooler in front."""
    p = stack.patroni
    return {
        "apiVersion": "acid.zalan.do/v1",
        "kind": "postgresql",
        "metadata": {"name": PG_CLUSTER, "labels": _labels("postgres")},
        "spec": {
            "teamId": PG_TEAM,
            "numberOfInstances": 3,
            "volume": {"size": "2Gi"},
            "users": {"shop": ["createdb"]},
            "databases": {"shop": "shop"},
            "postgresql": {"version": "18"},
            "patroni": {
                "ttl": p.ttl,
                "loop_wait": p.loop_wait,
                "retry_timeout": p.retry_timeout,
                "maximum_lag_on_failover": p.maximum_lag_on_failover,
            },
            "enableConnectionPooler": True,
            "connectionPooler": {
                "numberOfInstances": stack.pooler.instances,
                "mode": stack.pooler.pool_mode,
                "resources": {
                    "requests": {"cpu": "100m", "memory": "64Mi"},
                    "limits": {"cpu": "500m", "memory": "128Mi"},
                },
            },
            "resources": {
                "requests": {"cpu": "250m", "memory": "512Mi"},
                "limits": {"cpu": "1", "memory": "1Gi"},
            },
        },
    }


def build_prometheus_rules(rules_dir: Path) -> list[dict[str, Any]]:
    """One PrometheusRule per rule file; spec.groups copied unchanged."""
    docs = []
    for path in sorted(rules_dir.glob("*.yml")):
        groups = (yaml.safe_load(path.read_text()) or {}).get("groups", [])
        docs.append(
            {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "PrometheusRule",
                "metadata": {
                    "name": f"hasuite-{path.stem}",
                    "labels": {"app.kubernetes.io/part-of": "hasuite", "source": path.name},
                },
                "spec": {"groups": groups},
            }
        )
    return docs


def preferred_spread(labels: dict[str, str]) -> dict[str, Any]:
    """Pods with ``labels`` preferably on different nodes (a soft anti-affinity)."""
    return {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "podAffinityTerm": {
                        "topologyKey": "kubernetes.io/hostname",
                        "labelSelector": {"matchLabels": labels},
                    },
                }
            ]
        }
    }


def base_generated(stack: StackSettings) -> dict[str, list[dict[str, Any]]]:
    return {
        "shop-env.yaml": [build_shop_env(stack)],
        "django.yaml": [build_django(stack)],
        "django-hpa.yaml": [build_django_hpa(stack)],
        "nginx-config.yaml": [build_nginx_config(stack)],
        "postgresql.yaml": [build_postgresql(stack)],
    }
