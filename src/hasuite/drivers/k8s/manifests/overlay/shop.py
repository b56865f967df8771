"""The shop's own objects (env/k8s/base) for the overlay: operator/registry-only kinds dropped,
every container the stack image with the command its upstream image's entrypoint would run."""

from __future__ import annotations

import copy
from typing import Any

from hasuite.drivers.k8s.names import (
    EXPORTER_PORT,
    PLACEHOLDER,
    STUB_STATUS_PORT,
)

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
