"""Offline reading and checking of env/k8s: kustomize assembly, CRD schemas, Helm value paths.

Nothing here talks to a cluster. ``assemble`` is a pure-Python stand-in for ``kustomize build``
that supports exactly what env/k8s uses (``resources:`` files and folders, ``namespace:``) and
refuses anything else, so it can never silently differ from the real build; tests compare the two
when a kustomize binary (``kubectl kustomize`` or ``kustomize``) is available.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from hasuite.errors import ConfigError
from hasuite.settings import deep_merge

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


# --------------------------------------------------------------------------------------------
# CRD schemas
# --------------------------------------------------------------------------------------------


def crd_schemas(crd_files: list[Path]) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema for every served version of the CRDs given."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for path in crd_files:
        for doc in load_docs(path):
            if doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                if not version.get("served", True):
                    continue
                api_version = f"{spec['group']}/{version['name']}"
                out[(api_version, spec["names"]["kind"])] = version["schema"]["openAPIV3Schema"]
    return out


def strict_schema(schema: Any) -> Any:
    """A copy where every object schema with ``properties`` rejects unknown fields.

    The API server prunes unknown fields of a structural CRD schema (kubectl warns or fails with
    field validation): a typo would be lost silently, so offline it is an error. Objects marked
    ``x-kubernetes-preserve-unknown-fields`` or with their own ``additionalProperties`` stay open.
    ``metadata`` is left to the API server (CRD schemas do not describe it).
    """
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for key, value in node.items():
                if key == "properties" and isinstance(value, dict):
                    for name, sub in value.items():
                        if name != "metadata":
                            walk(sub)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(schema)
    return schema


# --------------------------------------------------------------------------------------------
# Helm values
# --------------------------------------------------------------------------------------------


def leaf_paths(values: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every key path of a values tree down to non-mapping values (lists are leaves)."""
    if isinstance(values, Mapping) and values:
        for key, value in values.items():
            yield from leaf_paths(value, (*prefix, str(key)))
    else:
        yield prefix


def unknown_value_paths(
    ours: Mapping[str, Any],
    defaults: Mapping[str, Any],
    *,
    free_form: tuple[tuple[str, ...], ...] = (),
) -> list[str]:
    """Key paths of ``ours`` that the chart's default values do not have (likely typos).

    Descent stops (anything below is accepted) where the default is an empty mapping or null
    (free-form maps such as ``resources: {}``, ``podLabels: {}``), a non-mapping (lists and
    strings: the value replaces it), or the path is listed in ``free_form`` (maps the chart
    passes through, e.g. Alertmanager's ``config``).
    """
    bad = []
    for path in leaf_paths(ours):
        node: Any = defaults
        for depth, key in enumerate(path):
            here = path[: depth + 1]
            if any(here[: len(ff)] == ff for ff in free_form if len(ff) <= len(here)):
                break
            if not isinstance(node, Mapping):
                break
            if not node:
                break
            if key not in node:
                bad.append(".".join(path[: depth + 1]))
                break
            node = node[key]
            if node is None:
                break
    return sorted(set(bad))


def merge_values(defaults: Mapping[str, Any], ours: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's merge: maps merge recursively, anything else is replaced (the same rule as a
    profile of env/stack.yaml: :func:`hasuite.settings.deep_merge`)."""
    return deep_merge(defaults, ours)


def containers_of(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Containers (and init containers) of a workload's pod template, or []."""
    spec = doc.get("spec", {})
    if doc.get("kind") == "Job" or doc.get("kind") in {"Deployment", "StatefulSet", "DaemonSet"}:
        pod = spec.get("template", {}).get("spec", {})
    else:
        return []
    return list(pod.get("initContainers", [])) + list(pod.get("containers", []))


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
