"""The overlay's shared pieces: the labels of the roles the driver resolves, and small builders
of the objects every role file uses (metadata, env entries, a container of the stack image,
Services, the scripts of env/k8s/overlays/local-images/scripts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hasuite.drivers.k8s.names import (
    PG_CLUSTER,
    PLACEHOLDER,
)

PG_LABELS = {"application": "spilo", "cluster-name": PG_CLUSTER}
POOLER_LABELS = {"application": "db-connection-pooler", "cluster-name": PG_CLUSTER}
REDIS_LABELS = {"app": "redis-ha"}


def object_meta(
    name: str, labels: dict[str, str] | None = None, ns: str | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if ns:
        meta["namespace"] = ns
    if labels:
        meta["labels"] = dict(labels)
    return meta


def env_var(
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


def script(root: Path, name: str) -> str:
    return (root / SCRIPTS / name).read_text()


def secret_name(user: str) -> str:
    return f"{user}.{PG_CLUSTER}.credentials.postgresql.acid.zalan.do"


def image_container(name: str, command: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "image": PLACEHOLDER,
        "imagePullPolicy": "Never",
        "command": command,
        **extra,
    }


def service(
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
        "metadata": object_meta(name, labels or selector),
        "spec": spec,
    }
