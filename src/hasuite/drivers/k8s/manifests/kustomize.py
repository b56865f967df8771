"""env/k8s read offline: a pure-Python ``kustomize build`` and the objects' keys and containers.

Nothing here talks to a cluster. ``assemble`` is a pure-Python stand-in for ``kustomize build``
that supports exactly what env/k8s uses (``resources:`` files and folders, ``namespace:``) and
refuses anything else, so it can never silently differ from the real build; tests compare the two
when a kustomize binary (``kubectl kustomize`` or ``kustomize``) is available. The CRD schemas
and Helm value paths are checked in :mod:`.schemas`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from hasuite.errors import ConfigError

SUPPORTED_KUSTOMIZATION_KEYS = {"apiVersion", "kind", "resources", "namespace"}

#: Kinds kustomize knows to be cluster-scoped (it does not stamp a namespace on them).
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "APIService",
}


def load_docs(path: Path) -> list[dict[str, Any]]:
    """The non-empty YAML documents of one file."""
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def assemble(folder: Path) -> list[dict[str, Any]]:
    """The objects ``kustomize build folder`` would emit (for the subset env/k8s uses)."""
    kfile = folder / "kustomization.yaml"
    if not kfile.is_file():
        raise ConfigError(f"{folder} has no kustomization.yaml")
    kust = yaml.safe_load(kfile.read_text()) or {}
    unsupported = sorted(set(kust) - SUPPORTED_KUSTOMIZATION_KEYS)
    if unsupported:
        raise ConfigError(
            f"{kfile}: keys {unsupported} are not supported by the pure-Python assembly "
            f"(supported: {sorted(SUPPORTED_KUSTOMIZATION_KEYS)}); keep env/k8s within them "
            "or validate with a real kustomize build only"
        )
    out: list[dict[str, Any]] = []
    for entry in kust.get("resources", []):
        target = folder / entry
        if target.is_dir():
            out.extend(assemble(target))
        elif target.is_file():
            out.extend(load_docs(target))
        else:
            raise ConfigError(f"{kfile}: resource {entry!r} does not exist")
    namespace = kust.get("namespace")
    if namespace:
        for doc in out:
            if doc.get("kind") not in CLUSTER_SCOPED:
                doc.setdefault("metadata", {})["namespace"] = namespace
    return out


def object_key(doc: Mapping[str, Any]) -> tuple[str, str, str, str]:
    meta = doc.get("metadata", {})
    return (doc["apiVersion"], doc["kind"], meta.get("namespace", ""), meta["name"])


def containers_of(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Containers (and init containers) of a workload's pod template, or []."""
    spec = doc.get("spec", {})
    if doc.get("kind") == "Job" or doc.get("kind") in {"Deployment", "StatefulSet", "DaemonSet"}:
        pod = spec.get("template", {}).get("spec", {})
    else:
        return []
    return list(pod.get("initContainers", [])) + list(pod.get("containers", []))
