"""Offline checks of env/k8s against upstream: CRD schemas and Helm value paths.

Nothing here talks to a cluster; the upstream charts' values and CRDs come from files
(tests/k8s, the k8s-reference folder).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from hasuite.drivers.k8s.manifests.kustomize import load_docs
from hasuite.settings import deep_merge

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
