"""Shared fixtures for the offline Kubernetes checks (no cluster is ever contacted)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from hasuite.drivers.k8s.manifests import assemble

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "env" / "k8s"
REFERENCE = ROOT.parent / "shared" / "k8s-reference"
REFERENCE_SKIP = (
    f"upstream reference data absent ({REFERENCE}); place the k8s-reference folder (charts' "
    "values.yaml/values.schema.json and CRDs, see its MANIFEST.txt) beside the checkout to enable"
)


@pytest.fixture(scope="session")
def objects() -> list[dict[str, Any]]:
    return assemble(K8S)


@pytest.fixture(scope="session")
def charts() -> dict[str, Any]:
    return yaml.safe_load((K8S / "charts.yaml").read_text())


@pytest.fixture(scope="session")
def reference() -> Path:
    if not REFERENCE.is_dir():
        pytest.skip(REFERENCE_SKIP)
    return REFERENCE


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for doc in objects:
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"no {kind}/{name} in env/k8s")
