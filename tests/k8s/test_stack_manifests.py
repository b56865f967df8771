"""The stack's promises as written in env/k8s: settings from env/stack.yaml, HA invariants."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from hasuite.drivers.k8s import names
from hasuite.drivers.k8s.manifests import base, render
from hasuite.drivers.k8s.manifests.kustomize import containers_of, load_docs
from hasuite.settings import load_stack

from .conftest import K8S, ROOT, find

STACK = load_stack(ROOT / "env" / "stack.yaml")


def test_rendered_files_are_fresh() -> None:
    stale = render.stale_files(ROOT)
    assert not stale, f"re-run `python -m hasuite.drivers.k8s.manifests.render`; stale: {stale}"


def test_stale_detection_can_fail(tmp_path: Path) -> None:
    for rel in ("env/stack.yaml", "env/alerts/alertmanager.yml.tmpl"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text((ROOT / rel).read_text())
    (tmp_path / "env/alerts/rules").mkdir()
    # the overlay is rendered from the base's objects and its scripts
    shutil.copytree(ROOT / "env/k8s/base", tmp_path / "env/k8s/base")
    shutil.copytree(
        ROOT / "env/k8s/overlays/local-images/scripts",
        tmp_path / "env/k8s/overlays/local-images/scripts",
    )
    assert render.stale_files(tmp_path)  # nothing written yet: everything is stale
    render.write_all(tmp_path)
    assert not render.stale_files(tmp_path)
    stack = tmp_path / "env/stack.yaml"
    stack.write_text(stack.read_text().replace("ttl: 30", "ttl: 40", 1))
    stale = render.stale_files(tmp_path)
    assert Path("env/k8s/base/generated/postgresql.yaml") in stale
    assert Path("env/k8s/overlays/local-images/generated/postgres.yaml") in stale


def test_patroni_and_pooler_from_stack(objects: list[dict[str, Any]]) -> None:
    spec = find(objects, "postgresql", "shop-db")["spec"]
    assert spec["numberOfInstances"] == 3
    assert spec["patroni"]["ttl"] == STACK.patroni.ttl
    assert spec["patroni"]["loop_wait"] == STACK.patroni.loop_wait
    assert spec["patroni"]["retry_timeout"] == STACK.patroni.retry_timeout
    assert spec["enableConnectionPooler"] is True
    assert spec["connectionPooler"] == spec["connectionPooler"] | {
        "numberOfInstances": STACK.pooler.instances,
        "mode": "transaction",
    }


def test_sentinel_from_stack() -> None:
    values = yaml.safe_load((K8S / "values/redis-ha.yaml").read_text())
    s = STACK.redis.sentinel
    assert values["sentinel"]["quorum"] == s.quorum
    assert values["sentinel"]["config"]["down-after-milliseconds"] == s.down_after_milliseconds
    assert values["sentinel"]["config"]["failover-timeout"] == s.failover_timeout
    assert values["redis"]["masterGroupName"] == STACK.redis.master_name


def test_prometheus_rules_copied_from_shared_rules(objects: list[dict[str, Any]]) -> None:
    files = sorted((ROOT / "env/alerts/rules").glob("*.yml"))
    rules = [d for d in objects if d["kind"] == "PrometheusRule"]
    assert len(rules) == len(files)
    for path in files:
        rule = find(objects, "PrometheusRule", f"hasuite-{path.stem}")
        assert rule["spec"]["groups"] == yaml.safe_load(path.read_text())["groups"]


def test_alertmanager_routes_to_suite_receiver() -> None:
    values = yaml.safe_load((K8S / "values/kube-prometheus-stack.yaml").read_text())
    config = values["alertmanager"]["config"]
    receiver = next(r for r in config["receivers"] if r["name"] == config["route"]["receiver"])
    assert receiver["webhook_configs"][0]["url"] == names.ALERT_RECEIVER_URL
    assert values["prometheus"]["prometheusSpec"]["scrapeInterval"] == (
        f"{STACK.monitoring.scrape_interval}s"
    )
    for component in ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy"):
        assert values[component]["enabled"] is False


def test_django_drains_before_sigkill(objects: list[dict[str, Any]]) -> None:
    dep = find(objects, "Deployment", "django")
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod["terminationGracePeriodSeconds"] > pre_stop + STACK.django.gunicorn_graceful_timeout
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    assert dep["spec"]["replicas"] == STACK.django.replicas == 3
    assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(c)
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert pod["topologySpreadConstraints"]


def test_the_hpa_spans_the_app_replicas_to_its_maximum(objects: list[dict[str, Any]]) -> None:
    spec = find(objects, "HorizontalPodAutoscaler", "django")["spec"]
    assert spec["scaleTargetRef"]["name"] == "django"
    assert (spec["minReplicas"], spec["maxReplicas"]) == (STACK.django.replicas, 6)
    cpu = spec["metrics"][0]["resource"]
    assert cpu["name"] == "cpu" and cpu["target"]["averageUtilization"] == 60
    # the seeded HPA-SCALES violation: a maximum equal to the minimum cannot scale
    seeded = base.build_django_hpa(load_stack(profile="hpa-scales-violated"))["spec"]
    assert seeded["maxReplicas"] == seeded["minReplicas"] == STACK.django.replicas


def test_every_container_requests_cpu(objects: list[dict[str, Any]]) -> None:
    missing = [
        f"{d['kind']}/{d['metadata']['name']}:{c['name']}"
        for d in objects
        for c in containers_of(d)
        if "cpu" not in c.get("resources", {}).get("requests", {})
    ]
    assert not missing


def test_beat_is_single_and_recreated(objects: list[dict[str, Any]]) -> None:
    beat = find(objects, "Deployment", "celery-beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}


def test_celery_worker_liveness_pings_itself(objects: list[dict[str, Any]]) -> None:
    worker = find(objects, "Deployment", "celery-worker")
    assert worker["spec"]["replicas"] == 3
    (c,) = worker["spec"]["template"]["spec"]["containers"]
    probe = c["livenessProbe"]
    assert "inspect ping" in " ".join(probe["exec"]["command"])
    assert "celery@${POD_NAME}" in probe["exec"]["command"][-1]
    assert "--hostname=celery@$(POD_NAME)" in c["args"]
    # A Redis failover must not restart every worker.
    budget = probe["periodSeconds"] * probe["failureThreshold"]
    assert budget * 1000 > 3 * STACK.redis.sentinel.down_after_milliseconds


def test_nginx_exporter_scrapes_stub_status_listener(objects: list[dict[str, Any]]) -> None:
    conf = find(objects, "ConfigMap", "nginx-config")["data"]["nginx.conf"]
    status = re.search(r"listen ([\d.]+):(\d+);\s*location = (/\S+)", conf)
    assert status, "no stub_status server in nginx.conf"
    host, port, path = status.groups()
    dep = find(objects, "Deployment", "nginx")
    exporter = next(
        c for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] == "exporter"
    )
    assert f"--nginx.scrape-uri=http://{host}:{port}{path}" in exporter["args"]
    assert "livenessProbe" in exporter and "readinessProbe" in exporter
    assert dep["spec"]["replicas"] == 2


def test_selectors_match_pods(objects: list[dict[str, Any]]) -> None:
    pods = [
        d["spec"]["template"]["metadata"]["labels"]
        for d in objects
        if d["kind"] in {"Deployment", "StatefulSet"}
    ]
    for doc in objects:
        if doc["kind"] == "Service":
            sel = doc["spec"]["selector"]
        elif doc["kind"] == "PodDisruptionBudget":
            sel = doc["spec"]["selector"]["matchLabels"]
        else:
            continue
        assert any(sel.items() <= p.items() for p in pods), (
            f"{doc['metadata']['name']} selects nothing"
        )


def test_monitors_cover_every_job_of_the_rules(objects: list[dict[str, Any]]) -> None:
    jobs_in_rules = set()
    for path in (ROOT / "env/alerts/rules").glob("*.yml"):
        jobs_in_rules |= set(re.findall(r'job="([^"]+)"', path.read_text()))
    jobs = set()
    for doc in objects:
        if doc["kind"] not in {"ServiceMonitor", "PodMonitor"}:
            continue
        endpoints = doc["spec"].get("endpoints") or doc["spec"].get("podMetricsEndpoints")
        for ep in endpoints:
            jobs |= {r["replacement"] for r in ep["relabelings"] if r["targetLabel"] == "job"}
            assert any(r["targetLabel"] == "instance" for r in ep["relabelings"])
    assert jobs_in_rules <= jobs, f"no monitor sets job for {jobs_in_rules - jobs}"


def test_images_pinned_in_charts_yaml(objects: list[dict[str, Any]], charts: dict) -> None:
    pinned = set(charts["images"].values())
    used = {c["image"] for d in objects for c in containers_of(d)}
    for values in (K8S / "values").glob("*.yaml"):
        for c in (yaml.safe_load(values.read_text()) or {}).get("extraContainers", []):
            used.add(c["image"])
    assert used <= pinned, f"images not pinned in charts.yaml: {used - pinned}"
    assert not [i for i in pinned if i.endswith(":latest") or ":" not in i]


def test_kind_config(charts: dict) -> None:
    (cfg,) = load_docs(ROOT / "env/kind/cluster.yaml")
    roles = [n["role"] for n in cfg["nodes"]]
    assert roles == ["control-plane", "worker", "worker", "worker"]
    traefik = yaml.safe_load((K8S / "values/traefik.yaml").read_text())
    node_ports = {p["nodePort"] for p in traefik["ports"].values()}
    mapped = {m["containerPort"] for m in cfg["nodes"][0]["extraPortMappings"]}
    assert mapped == node_ports
    assert "@sha256:" in charts["kind"]["node_image"]
    assert charts["kind"]["node_image"].split(":v")[1].startswith(str(charts["kubernetes"]))


def test_workflow_pins_kind_and_fails_on_fail(charts: dict) -> None:
    wf = yaml.safe_load((ROOT / ".github/workflows/nightly-chaos.yml").read_text())
    steps = wf["jobs"]["chaos"]["steps"]
    kind_step = next(s for s in steps if "kind-action" in s.get("uses", ""))
    assert re.search(r"@v\d+\.\d+\.\d+$", kind_step["uses"])
    assert kind_step["with"]["install_only"] is True  # hasuite creates the (marked) cluster
    assert kind_step["with"]["version"] == charts["kind"]["version"]
    text = (ROOT / ".github/workflows/nightly-chaos.yml").read_text()
    assert "--target kind" in text and "upload-artifact" in text
    assert any(s.get("if") == "failure()" for s in steps)


def test_nginx_closes_idle_upstream_connections_before_gunicorn(
    objects: list[dict[str, Any]],
) -> None:
    """gunicorn closing a pooled connection as nginx reuses it fails the request (POSTs too)."""
    conf = find(objects, "ConfigMap", "nginx-config")["data"]["nginx.conf"]
    upstream = re.search(r"upstream shop \{(.*?)\}", conf, re.S)
    assert upstream, "no upstream block in nginx.conf"
    idle = re.search(r"keepalive_timeout (\d+)s;", upstream.group(1))
    assert idle, "the upstream keeps connections without its own keepalive_timeout"
    env = find(objects, "ConfigMap", "shop-env")["data"]
    assert int(idle.group(1)) == STACK.nginx.upstream_keepalive_timeout
    assert int(env["SHOP_GUNICORN_KEEPALIVE"]) == STACK.django.gunicorn_keepalive
    assert int(idle.group(1)) < int(env["SHOP_GUNICORN_KEEPALIVE"])
