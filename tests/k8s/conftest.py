"""Shared fixtures for the offline Kubernetes checks (no cluster is ever contacted)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from hasuite.drivers.k8s.manifests.kustomize import assemble

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "env" / "k8s"
REFERENCE = ROOT.parent / "shared" / "k8s-reference"
REFERENCE_SKIP = (
    f"upstream reference data absent ({REFERENCE}); place the k8s-reference folder (charts' "
    "values.yaml/values.schema.json and CRDs, see its MANIFEST.txt) beside the checkout to enable"
)


@pytest.fixture(autouse=True)
def _ingress_ports_not_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline tests of `up` must not depend on 127.0.0.1:8080/8443 being free on this machine
    (a kind cluster may hold them); test_kind_host checks the port check with its own port."""
    from hasuite.drivers.k8s.provision import bootstrap

    monkeypatch.setattr(bootstrap, "INGRESS_PORTS", ())


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
