"""Every object in env/k8s against the Kubernetes schemas (strict) and the CRDs' schemas."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from hasuite.drivers.k8s.manifests.kustomize import assemble, load_docs, object_key
from hasuite.drivers.k8s.manifests.schemas import (
    crd_schemas,
    merge_values,
    strict_schema,
    unknown_value_paths,
)

from .conftest import K8S, ROOT

kv = pytest.importorskip(
    "kubernetes_validate",
    reason="kubernetes-validate not installed: pip install 'kubernetes-validate>=1.31' to enable",
)
jsonschema = pytest.importorskip(
    "jsonschema", reason="jsonschema not installed: pip install 'jsonschema>=4.18' to enable"
)

#: Kinds that are custom resources: validated against the CRDs, not the built-in schemas.
CUSTOM_KINDS = {
    "postgresql",
    "PrometheusRule",
    "ServiceMonitor",
    "PodMonitor",
    "Certificate",
    "ClusterIssuer",
    "IngressRoute",
}


def _k8s_version() -> str:
    return str(yaml.safe_load((K8S / "charts.yaml").read_text())["kubernetes"])


def _kv_error(doc: dict[str, Any]) -> str | None:
    try:
        kv.validate(doc, _k8s_version(), strict=True)
    except kv.ValidationError as exc:
        return f"{exc.message} at {list(exc.path)}"
    return None


def test_builtin_objects_valid_strict(objects: list[dict[str, Any]]) -> None:
    checked, errors = 0, []
    for doc in objects:
        if doc["kind"] in CUSTOM_KINDS:
            continue
        err = _kv_error(doc)
        checked += 1
        if err:
            errors.append(f"{doc['kind']}/{doc['metadata']['name']}: {err}")
    assert not errors, "\n".join(errors)
    assert checked >= 15


def test_strict_validation_rejects_unknown_and_misplaced_fields(
    objects: list[dict[str, Any]],
) -> None:
    """The check can fail: a typo'd field and a wrong type are both caught."""
    deploy = next(d for d in objects if d["kind"] == "Deployment")
    typo = copy.deepcopy(deploy)
    typo["spec"]["template"]["spec"]["terminationGracePeriod"] = 30
    assert _kv_error(typo)
    wrong = copy.deepcopy(deploy)
    wrong["spec"]["replicas"] = "three"
    assert _kv_error(wrong)


def test_every_kind_is_known(objects: list[dict[str, Any]]) -> None:
    for doc in objects:
        if doc["kind"] in CUSTOM_KINDS:
            continue
        kv.validate(doc, _k8s_version(), strict=True)  # raises SchemaNotFoundError if unknown


def _crd_validators(reference: Path) -> dict[tuple[str, str], Any]:
    schemas = crd_schemas(sorted(reference.glob("*/crds/*.yaml")))
    return {k: jsonschema.Draft7Validator(strict_schema(s)) for k, s in schemas.items()}


def test_custom_resources_valid_against_crds(
    objects: list[dict[str, Any]], reference: Path
) -> None:
    validators = _crd_validators(reference)
    checked, errors = 0, []
    for doc in objects:
        if doc["kind"] not in CUSTOM_KINDS:
            continue
        key = (doc["apiVersion"], doc["kind"])
        assert key in validators, f"no CRD in the reference for {key}"
        for err in validators[key].iter_errors(doc):
            errors.append(f"{doc['kind']}/{doc['metadata']['name']}: {err.message}")
        checked += 1
    assert not errors, "\n".join(errors)
    assert checked == sum(1 for d in objects if d["kind"] in CUSTOM_KINDS) >= 15


def test_crd_validation_can_fail(objects: list[dict[str, Any]], reference: Path) -> None:
    validators = _crd_validators(reference)
    pg = copy.deepcopy(next(d for d in objects if d["kind"] == "postgresql"))
    pg["spec"]["patroni"]["ttl_seconds"] = 30  # unknown field: pruned by the API server
    assert list(validators[(pg["apiVersion"], "postgresql")].iter_errors(pg))
    mon = copy.deepcopy(next(d for d in objects if d["kind"] == "PodMonitor"))
    mon["spec"]["podMetricsEndpoints"][0]["interval"] = "5 seconds"  # bad duration pattern
    assert list(validators[(mon["apiVersion"], "PodMonitor")].iter_errors(mon))


def test_no_duplicate_objects(objects: list[dict[str, Any]]) -> None:
    keys = [object_key(d) for d in objects]
    assert len(keys) == len(set(keys))


def _kustomize_cmd() -> list[str] | None:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        probe = subprocess.run(
            ["kubectl", "kustomize", "--help"], capture_output=True, timeout=30, check=False
        )
        if probe.returncode == 0:
            return ["kubectl", "kustomize"]
    return None


def test_kustomize_build_matches_python_assembly(objects: list[dict[str, Any]]) -> None:
    cmd = _kustomize_cmd()
    if cmd is None:
        pytest.skip(
            "no kustomize binary (kustomize or kubectl) on PATH; the pure-Python assembly was "
            "used instead. Install kubectl (https://kubernetes.io/docs/tasks/tools/) to compare"
        )
    out = subprocess.run(
        [*cmd, str(K8S)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    built = {object_key(d): d for d in yaml.safe_load_all(out) if d}
    ours = {object_key(d): d for d in objects}
    assert set(built) == set(ours)
    for key, doc in ours.items():
        assert built[key] == doc, f"{key} differs between kustomize and the Python assembly"


def test_python_assembly_refuses_unsupported_kustomize_features(tmp_path: Path) -> None:
    from hasuite.errors import ConfigError

    (tmp_path / "kustomization.yaml").write_text("resources: []\npatches: []\n")
    with pytest.raises(ConfigError, match="not supported"):
        assemble(tmp_path)


# --------------------------------------------------------------------------------------------
# Helm values against each chart's defaults and values.schema.json
# --------------------------------------------------------------------------------------------

#: Sub-trees the charts pass through unchanged (any key is legitimate below them).
FREE_FORM: dict[str, tuple[tuple[str, ...], ...]] = {
    "kube-prometheus-stack": (("alertmanager", "config"), ("grafana",)),
    # "Any valid redis config options in this section will be applied to each server"
    "redis-ha": (("redis", "config"),),
}


def _documented_in_comments(defaults_text: str, key: str) -> bool:
    """Keys the chart documents as commented-out examples (e.g. grafana's adminPassword)."""
    return any(
        line.strip().lstrip("#").strip().startswith(f"{key}:")
        for line in defaults_text.splitlines()
        if line.strip().startswith("#")
    )


def _chart_entries() -> list[dict[str, Any]]:
    return yaml.safe_load((K8S / "charts.yaml").read_text())["charts"]


@pytest.mark.parametrize("entry", _chart_entries(), ids=lambda e: e["chart"])
def test_values_keys_exist_in_chart_defaults(entry: dict[str, Any], reference: Path) -> None:
    ours = yaml.safe_load((K8S / entry["values"]).read_text())
    defaults_path = reference / entry["chart"] / "values.yaml"
    defaults = yaml.safe_load(defaults_path.read_text())
    unknown = unknown_value_paths(ours, defaults, free_form=FREE_FORM.get(entry["chart"], ()))
    assert not unknown, f"{entry['values']}: keys absent from {defaults_path}: {unknown}"
    schema_path = reference / entry["chart"] / "values.schema.json"
    if schema_path.is_file():
        schema = json.loads(schema_path.read_text())
        errors = [
            f"{list(e.path)}: {e.message}"
            for e in jsonschema.Draft7Validator(schema).iter_errors(merge_values(defaults, ours))
        ]
        assert not errors, f"{entry['values']} vs {schema_path}:\n" + "\n".join(errors)


def test_grafana_subchart_values(reference: Path) -> None:
    """Grafana comes with kube-prometheus-stack: its keys must exist in either chart."""
    ours = yaml.safe_load((K8S / "values/kube-prometheus-stack.yaml").read_text())["grafana"]
    kps = yaml.safe_load((reference / "kube-prometheus-stack/values.yaml").read_text())["grafana"]
    text = (reference / "grafana/values.yaml").read_text()
    grafana = yaml.safe_load(text)
    unknown = set(unknown_value_paths(ours, kps)) & set(unknown_value_paths(ours, grafana))
    unknown = {p for p in unknown if not _documented_in_comments(text, p.split(".")[-1])}
    assert not unknown


def test_values_check_catches_a_typo(reference: Path) -> None:
    defaults = yaml.safe_load((reference / "traefik/values.yaml").read_text())
    assert unknown_value_paths({"service": {"type": "NodePort"}}, defaults) == ["service.type"]
    assert unknown_value_paths({"service": {"spec": {"type": "NodePort"}}}, defaults) == []
    defaults = yaml.safe_load((reference / "redis-ha/values.yaml").read_text())
    assert unknown_value_paths({"sentinel": {"quorom": 2}}, defaults) == ["sentinel.quorom"]


def test_chart_versions_match_reference(reference: Path) -> None:
    for entry in _chart_entries():
        chart_file = reference / entry["chart"] / "Chart.yaml"
        if not chart_file.is_file():  # cert-manager ships a template; version set at release
            assert entry["version"] in (reference / "README.md").read_text()
            continue
        assert yaml.safe_load(chart_file.read_text())["version"] == entry["version"]


def test_reference_examples_still_parse(reference: Path) -> None:
    """Sanity: the reference minimal manifest validates with our CRD machinery (no false FAIL)."""
    validators = _crd_validators(reference)
    doc = load_docs(reference / "postgres-operator/manifests/minimal-postgres-manifest.yaml")[0]
    assert not list(validators[(doc["apiVersion"], doc["kind"])].iter_errors(doc))


def test_root_is_checkout() -> None:
    assert (ROOT / "env" / "stack.yaml").is_file()
