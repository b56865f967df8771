"""The local-images overlay (env/k8s/overlays/local-images), offline: schemas, the driver's
contract (names, labels, containers), the scrape contract, and the image pinning.

Its real run is `hasuite up --target kind --node-image built` (tests/k8s/test_real_cluster.py).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from hasuite.drivers.k8s.images import stackimage
from hasuite.drivers.k8s.images.build import BuildError
from hasuite.drivers.k8s.manifests.kustomize import assemble
from hasuite.drivers.k8s.manifests.overlay.monitoring import SCRAPE
from hasuite.drivers.k8s.manifests.overlay.shop import transform_base
from hasuite.drivers.k8s.names import NAMESPACE, PLACEHOLDER
from hasuite.drivers.k8s.runtime.members import COMPONENTS

from .conftest import K8S, ROOT

OVERLAY = K8S / "overlays" / "local-images"


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    return assemble(OVERLAY)


def _pods(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] in {"Deployment", "StatefulSet", "Job"}]


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    pod: dict[str, Any] = doc["spec"]["template"]["spec"]
    return [*pod.get("initContainers", []), *pod["containers"]]


def test_builtin_objects_valid_strict(docs: list[dict[str, Any]]) -> None:
    kv = pytest.importorskip("kubernetes_validate")
    import yaml

    version = str(yaml.safe_load((K8S / "charts.yaml").read_text())["kubernetes"])
    errors = []
    for doc in docs:
        try:
            kv.validate(doc, version, strict=True)
        except kv.ValidationError as exc:
            errors.append(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message}")
    assert not errors, errors


def test_no_custom_resources_and_no_registry_images(docs: list[dict[str, Any]]) -> None:
    kinds = {d["kind"] for d in docs}
    assert not kinds & {"postgresql", "PrometheusRule", "ServiceMonitor", "IngressRoute"}
    images = {c["image"] for d in _pods(docs) for c in _containers(d)}
    assert images == {PLACEHOLDER}
    assert all(c["imagePullPolicy"] == "Never" for d in _pods(docs) for c in _containers(d))


def test_every_component_of_the_driver_has_pods_with_its_labels(
    docs: list[dict[str, Any]],
) -> None:
    """The driver finds pods by COMPONENTS' selectors in namespace shop: each must match a
    workload of the overlay, as it matches Spilo's and the charts' pods in the chart flavor."""
    templates = [
        d["spec"]["template"]["metadata"]["labels"]
        for d in _pods(docs)
        if d["metadata"].get("namespace") == NAMESPACE
    ]
    for component, (selector, _container) in COMPONENTS.items():
        wanted = dict(kv.split("=") for kv in selector.split(","))
        assert any(wanted.items() <= t.items() for t in templates), component


def test_redis_pods_have_the_sentinel_container_the_driver_asks(
    docs: list[dict[str, Any]],
) -> None:
    (redis,) = [d for d in docs if d["metadata"]["name"] == "redis-ha-server"]
    names = {c["name"] for c in _containers(redis)}
    assert {"redis", "sentinel"} <= names
    env = (ROOT / "env/k8s/base/generated/shop-env.yaml").read_text()
    for name in re.findall(r"(redis-announce-\d)\.shop\.svc", env):
        assert any(d["kind"] == "Service" and d["metadata"]["name"] == name for d in docs), name


def test_services_select_pods(docs: list[dict[str, Any]]) -> None:
    templates = [d["spec"]["template"]["metadata"]["labels"] for d in _pods(docs)]
    for doc in docs:
        if doc["kind"] != "Service":
            continue
        sel = doc["spec"]["selector"]
        assert any(sel.items() <= live.items() for t in templates for live in _at_runtime(t)), (
            f"Service {doc['metadata']['name']} selects nothing"
        )


def _at_runtime(template: dict[str, str]) -> list[dict[str, str]]:
    """The labels pods carry once running: a StatefulSet's pod-name, Patroni's role label."""
    if template.get("app") == "redis-ha":
        return [
            {**template, "statefulset.kubernetes.io/pod-name": f"redis-ha-server-{i}"}
            for i in range(3)
        ]
    if template.get("application") == "spilo":
        return [{**template, "spilo-role": role} for role in ("master", "replica")]
    return [template]


def test_the_scrape_config_sets_every_job_of_the_rules_on_a_named_port(
    docs: list[dict[str, Any]],
) -> None:
    jobs_in_rules = set()
    for path in (ROOT / "env/alerts/rules").glob("*.yml"):
        jobs_in_rules |= set(re.findall(r'job="([^"]+)"', path.read_text()))
    assert jobs_in_rules <= set(SCRAPE), jobs_in_rules - set(SCRAPE)
    for job, (labels, port, _path) in SCRAPE.items():
        matching = [
            d
            for d in _pods(docs)
            if labels.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        ports = {p["name"] for d in matching for c in _containers(d) for p in c.get("ports", [])}
        assert port in ports, f"job {job}: no pod with a port named {port}"


def test_the_base_objects_keep_their_probes_and_get_a_command() -> None:
    base = assemble(K8S / "base")
    out = {(d["kind"], d["metadata"]["name"]): d for d in transform_base(base)}
    django = out[("Deployment", "django")]
    (c,) = _containers(django)
    assert c["command"][0] == "gunicorn" and c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["securityContext"]["runAsUser"] == 10001
    assert ("HorizontalPodAutoscaler", "django") in out
    assert ("PodDisruptionBudget", "django") in out
    assert not any(k == "PrometheusRule" for k, _ in out)


def test_a_base_container_without_a_known_command_is_an_error() -> None:
    base = assemble(K8S / "base")
    for d in base:
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "django":
            d["spec"]["template"]["spec"]["containers"][0]["name"] = "surprise"
    with pytest.raises(ValueError, match="no command for container surprise"):
        transform_base(base)


def test_pin_image_sets_the_built_tag(docs: list[dict[str, Any]]) -> None:
    import copy

    pinned = stackimage.pin_image(copy.deepcopy(docs), "hasuite.local/stack:abc123")
    images = {c["image"] for d in _pods(pinned) for c in _containers(d)}
    assert images == {"hasuite.local/stack:abc123"}
    with pytest.raises(BuildError, match="nothing to pin"):
        stackimage.pin_image([{"kind": "ConfigMap", "metadata": {"name": "x"}}], "x:1")


def test_the_image_inputs_exist_and_key_the_cache() -> None:
    packages = stackimage.stack_packages(ROOT)
    assert {"postgresql-15", "pgbouncer", "redis-server", "nginx", "prometheus"} <= set(packages)
    requirements = stackimage.stack_requirements(ROOT)
    assert any(r.startswith("patroni[kubernetes]") for r in requirements)
    assert any(r.startswith("Django==") for r in requirements)


def test_the_built_flavor_installs_the_stack_unless_cluster_only(tmp_path: Any) -> None:
    from hasuite.drivers.k8s.provision import kindplan

    manifest = tmp_path / "stack.yaml"
    plan = kindplan.KindPlan(
        root=ROOT,
        flavor="built",
        node_image="hasuite/kind-node:x",
        stack_image="hasuite.local/stack:abc",
        stack_manifest=manifest,
    )
    steps = kindplan.plan_install(plan, create=True, config_path=tmp_path / "kind.yaml")
    argvs = [" ".join(s.argv) for s in steps]
    assert "kind load docker-image hasuite.local/stack:abc --name hasuite" in argvs
    assert any(a.endswith(f"-f {manifest}") and " apply " in a for a in argvs)
    assert any("delete -f env/kind/addons/ingress-standin.yaml" in a for a in argvs)
    assert not any("deployment/ingress-standin" in a for a in argvs)
    assert any("statefulset/shop-db" in a for a in argvs)
    assert any("job/shop-migrate" in a for a in argvs)
    only = kindplan.plan_install(
        kindplan.KindPlan(root=ROOT, flavor="built", node_image="hasuite/kind-node:x"),
        create=True,
        config_path=tmp_path / "kind.yaml",
    )
    argvs = [" ".join(s.argv) for s in only]
    assert any("apply -f env/kind/addons/ingress-standin.yaml" in a for a in argvs)
    assert not any("local-images" in a or "stack" in a for a in argvs)


def test_the_overlay_scripts_parse() -> None:
    import subprocess

    scripts = sorted((OVERLAY / "scripts").iterdir())
    assert {p.suffix for p in scripts} == {".sh", ".py"}
    for path in scripts:
        if path.suffix == ".sh":
            proc = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True)
            assert proc.returncode == 0, f"{path.name}: {proc.stderr}"
        else:
            compile(path.read_text(), str(path), "exec")


@pytest.mark.parametrize(
    ("known", "pod", "master"),
    [
        ("", "redis-ha-server-1", "redis-announce-0"),  # a fresh cluster: pod 0 is the master
        ("redis-announce-2", "redis-ha-server-0", "redis-announce-2"),  # a restart into a
        ("redis-announce-0", "redis-ha-server-0", "redis-announce-0"),  # running cluster
    ],
)
def test_the_start_scripts_find_the_master_under_set_e(
    tmp_path: Any, known: str, pod: str, master: str
) -> None:
    """The Redis and Sentinel start scripts source known-master.sh under `set -eu`: it must
    succeed whether or not a Sentinel knows a master (a pod restarted into a running cluster
    crash-looped with exit 1 when the last test in the file was false)."""
    import os
    import subprocess

    stub = tmp_path / "redis-cli"
    stub.write_text(f"#!/bin/sh\necho '{known}'\n" if known else "#!/bin/sh\nexit 1\n")
    stub.chmod(0o755)
    script = OVERLAY / "scripts" / "known-master.sh"
    proc = subprocess.run(
        ["sh", "-c", f'set -eu; . "{script}"; echo "me=$me master=$master"'],
        capture_output=True,
        text=True,
        env={"PATH": f"{tmp_path}:{os.environ['PATH']}", "POD_NAME": pod},
        timeout=10,
    )
    assert proc.returncode == 0, proc.stderr
    me = "redis-announce-" + pod.rsplit("-", 1)[-1]
    assert proc.stdout.strip() == f"me={me} master={master}"


def test_pod_discovery_keeps_running_pods_with_the_named_port() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "pod_discovery", OVERLAY / "scripts" / "pod-discovery.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    def pod(name: str, phase: str, ip: str | None, labels: dict[str, str]) -> dict[str, Any]:
        return {
            "metadata": {"name": name, "labels": labels},
            "status": {"phase": phase, "podIP": ip},
            "spec": {"containers": [{"ports": [{"name": "patroni", "containerPort": 8008}]}]},
        }

    pods = [
        pod("shop-db-0", "Running", "10.0.0.1", {"application": "spilo"}),
        pod("shop-db-1", "Pending", None, {"application": "spilo"}),
        pod("other", "Running", "10.0.0.9", {"app": "x"}),
    ]
    got = mod.targets_of(pods, {"application": "spilo"}, "patroni")
    assert got == [
        {"targets": ["10.0.0.1:8008"], "labels": {"instance": "shop-db-0", "pod": "shop-db-0"}}
    ]
    assert mod.targets_of(pods, {"application": "spilo"}, "metrics") == []


def test_the_production_render_is_the_committed_overlay(docs: list[dict[str, Any]]) -> None:
    from hasuite.drivers.k8s.manifests.render import overlay_docs
    from hasuite.settings import load_stack

    assert overlay_docs(load_stack(), ROOT) == docs


def _by_name(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def _config_hash(doc: dict[str, Any]) -> str:
    from hasuite.drivers.k8s.manifests.overlay.compose import CONFIG_HASH_ANNOTATION

    return str(doc["spec"]["template"]["metadata"]["annotations"][CONFIG_HASH_ANNOTATION])


def test_a_profile_renders_its_settings_and_rolls_only_the_pods_they_reach(
    docs: list[dict[str, Any]],
) -> None:
    """A profile (a seeded violation on kind) changes the objects its settings reach; a changed
    ConfigMap changes the config hash of the pods that mount it, and of no other."""
    from hasuite.drivers.k8s.manifests.render import overlay_docs
    from hasuite.drivers.k8s.names import PROFILE_ANNOTATION
    from hasuite.settings import load_stack

    prod = _by_name(docs)
    assert prod[("Namespace", NAMESPACE)]["metadata"]["annotations"] == {
        PROFILE_ANNOTATION: "production"
    }
    redis = _by_name(overlay_docs(load_stack(profile="redis-failover-violated"), ROOT))
    assert redis[("Namespace", NAMESPACE)]["metadata"]["annotations"] == {
        PROFILE_ANNOTATION: "redis-failover-violated"
    }
    changed = {k for k, d in redis.items() if d != prod[k]} - {("Namespace", NAMESPACE)}
    assert ("StatefulSet", "redis-ha-server") in changed
    assert not {k for k in changed if k[0] in ("Deployment", "Job")}
    assert _config_hash(redis[("StatefulSet", "redis-ha-server")]) != _config_hash(
        prod[("StatefulSet", "redis-ha-server")]
    )
    rollout = _by_name(overlay_docs(load_stack(profile="rollout-violated"), ROOT))

    def django(d: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
        pod: dict[str, Any] = d[("Deployment", "django")]["spec"]["template"]["spec"]
        return next(c for c in pod["containers"] if c["name"] == "django")

    assert "preStop" in django(prod)["lifecycle"]
    assert "preStop" not in django(rollout).get("lifecycle", {})
    assert rollout[("StatefulSet", "redis-ha-server")] == prod[("StatefulSet", "redis-ha-server")]


def test_patroni_dynamic_settings_are_written_to_the_dcs_after_the_members_run(
    tmp_path: Any,
) -> None:
    import json

    from hasuite.drivers.k8s.manifests.overlay.patroni import patroni_dynamic_config
    from hasuite.drivers.k8s.provision import kindplan
    from hasuite.settings import load_stack

    config = json.dumps(patroni_dynamic_config(load_stack(profile="pg-failover-violated")))
    plan = kindplan.KindPlan(
        root=ROOT,
        flavor="built",
        node_image="hasuite/kind-node:x",
        stack_image="hasuite.local/stack:abc",
        stack_manifest=tmp_path / "stack.yaml",
        patroni_config=config,
    )
    phases = [s.phase for s in kindplan.plan_built_stack(plan)]
    dcs = phases.index("Patroni's dynamic configuration")
    assert phases[dcs - 1] == "wait for statefulset/shop-db"
    step = kindplan.plan_built_stack(plan)[dcs]
    assert step.argv[-2:] == ("configmap/shop-db-config", f"config={config}")
    assert json.loads(config)["ttl"] == 60


def test_what_the_suite_reads_runs_on_the_control_plane_and_the_stack_on_workers(
    docs: list[dict[str, Any]],
) -> None:
    """A hold-down stops a worker's kubelet, and with it every port-forward to its pods: the
    alerts and metrics the verdicts are read through must not sit there."""
    from hasuite.drivers.k8s.manifests.overlay.compose import CONTROL_PLANE, OBSERVER_WORKLOADS

    placed = {
        (d["metadata"].get("namespace"), d["metadata"]["name"]): d["spec"]["template"]["spec"]
        for d in _pods(docs)
    }
    for where in OBSERVER_WORKLOADS:
        assert placed[where].get("nodeSelector") == {CONTROL_PLANE: ""}, where
        assert placed[where]["tolerations"][0]["key"] == CONTROL_PLANE
    others = [w for w, spec in placed.items() if w not in OBSERVER_WORKLOADS]
    assert others and not [w for w in others if "nodeSelector" in placed[w]]
