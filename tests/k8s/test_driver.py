"""The kind/cluster driver and the kind bootstrap against fakes of OUR boundary (no cluster)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hasuite.drivers.k8s.boundary import CommandResult, HpaStatus, PodInfo
from hasuite.drivers.k8s.provision import bootstrap, kindplan
from hasuite.drivers.k8s.runtime.target import KubeTarget
from hasuite.errors import ConfigError, InjectionError
from hasuite.target import Target

from .conftest import ROOT


@dataclass
class FakeApi:
    context: str
    pods: dict[str, list[PodInfo]] = field(default_factory=dict)
    calls: list[tuple] = field(default_factory=list)
    master_ip: str = "10.0.0.11"
    annotations: dict[str, str] = field(default_factory=dict)
    logs: dict[tuple[str, str], str] = field(default_factory=dict)
    #: (pod, container) -> what an exec there prints (an Exception: raised); else the master
    answers: dict[tuple[str, str], str | Exception] = field(default_factory=dict)
    #: (kind, name) -> annotations of Patroni's leader lock; unset: the ConfigMap's lock names
    #: the pod labelled spilo-role=master (Patroni's lock and labels agree, as in steady state)
    locks: dict[tuple[str, str], dict[str, str]] | None = None

    def list_pods(self, namespace: str, selector: str) -> list[PodInfo]:
        self.calls.append(("list", namespace, selector))
        return list(self.pods.get(selector.split(",")[0], []))

    def delete_pod(self, namespace: str, name: str, *, grace_period_s: int | None) -> None:
        self.calls.append(("delete", namespace, name, grace_period_s))

    def restart_deployment(self, namespace: str, name: str, *, at: str) -> None:
        self.calls.append(("restart", namespace, name))

    def namespace_annotations(self, namespace: str) -> dict[str, str]:
        self.calls.append(("annotations", namespace))
        return dict(self.annotations)

    def object_annotations(self, namespace: str, kind: str, name: str) -> dict[str, str] | None:
        self.calls.append(("object", namespace, kind, name))
        if self.locks is not None:
            return self.locks.get((kind, name))
        if (kind, name) != ("configmap", "shop-db-leader"):
            return None
        masters = [
            p.name
            for p in self.pods.get("application=spilo", [])
            if p.labels.get("spilo-role") == "master"
        ]
        return {"leader": masters[0]} if masters else {}

    def pod_log(
        self, namespace: str, pod: str, container: str, *, previous: bool, tail_lines: int
    ) -> str:
        self.calls.append(("log", namespace, pod, container, previous))
        return self.logs.get((pod, container), "")

    def read_hpa(self, namespace: str, name: str) -> HpaStatus:
        return HpaStatus(
            name=name,
            current_replicas=3,
            desired_replicas=5,
            min_replicas=3,
            max_replicas=6,
            current_cpu_percent=91,
        )

    def exec_in_pod(self, namespace, pod, container, argv, *, timeout_s) -> str:  # type: ignore[no-untyped-def]
        self.calls.append(("exec", pod, container, tuple(argv)))
        answer = self.answers.get((pod, container), f"{self.master_ip}\n6379\n")
        if isinstance(answer, Exception):
            raise answer
        return answer


def spilo(name: str, role: str, node: str) -> PodInfo:
    return PodInfo(
        name=name,
        namespace="shop",
        node=node,
        ready=True,
        ip="10.0.1.1",
        labels={"application": "spilo", "spilo-role": role},
        container_ids=(f"{name}-c1",),
    )


def make_api(context: str) -> FakeApi:
    return FakeApi(
        context=context,
        pods={
            "application=spilo": [
                spilo("shop-db-0", "replica", "hasuite-worker"),
                spilo("shop-db-1", "master", "hasuite-worker2"),
                spilo("shop-db-2", "replica", "hasuite-worker3"),
            ],
            "app=redis-ha": [
                PodInfo(
                    name=f"redis-server-{i}",
                    namespace="shop",
                    ready=True,
                    ip=f"10.0.0.1{i}",
                    node="hasuite-worker",
                )
                for i in range(3)
            ],
        },
    )


@dataclass
class FakeRunner:
    tools: set[str] = field(default_factory=lambda: {"docker", "kind", "kubectl", "helm"})
    clusters: list[str] = field(default_factory=list)
    marked: bool = True
    commands: list[tuple[str, ...]] = field(default_factory=list)

    def which(self, tool: str) -> str | None:
        return f"/usr/bin/{tool}" if tool in self.tools else None

    def run(
        self, argv: Sequence[str], *, timeout_s: float, check: bool = True, cwd: str | None = None
    ) -> CommandResult:
        assert timeout_s > 0
        self.commands.append(tuple(argv))
        out = ""
        if tuple(argv[:3]) == ("kind", "get", "clusters"):
            out = "\n".join(self.clusters)
        elif argv[0] == "kubectl" and "nodes" in argv:
            out = "node/hasuite-control-plane" if self.marked else ""
        elif tuple(argv[:3]) == ("kind", "create", "cluster"):
            self.clusters.append(argv[4])
        elif "crictl" in argv and "inspect" in argv:  # a container's pid
            out = str(4000 + len(self.commands))
        return CommandResult(argv=tuple(argv), returncode=0, stdout=out)


def kind_target(**kw) -> tuple[KubeTarget, FakeApi, FakeRunner]:  # type: ignore[no-untyped-def]
    made: list[FakeApi] = []
    runner = FakeRunner()

    def factory(ctx: str) -> FakeApi:
        made.append(make_api(ctx))
        return made[-1]

    t = KubeTarget.create(
        target="kind",
        context="kind-hasuite",
        api_factory=factory,
        runner=runner,
        clock=lambda: (1.0, 1000.0),
        **kw,
    )
    return t, made[0], runner


def test_is_a_target() -> None:
    t, _, _ = kind_target()
    assert isinstance(t, Target)


def test_roles_resolved_from_labels_and_sentinel() -> None:
    t, api, _ = kind_target()
    pg = {i.name: i.role for i in t.instances("postgres")}
    assert pg == {"shop-db-0": "replica", "shop-db-1": "leader", "shop-db-2": "replica"}
    redis = {i.name: i.role for i in t.instances("redis")}
    assert redis == {
        "redis-server-0": "replica",
        "redis-server-1": "master",
        "redis-server-2": "replica",
    }
    assert any(c[0] == "exec" and c[2] == "sentinel" for c in api.calls)


@pytest.mark.parametrize(
    ("address", "master"),
    [
        ("redis-announce-2", "redis-server-2"),  # the local-images overlay announces names
        ("redis-announce-2.shop.svc.cluster.local", "redis-server-2"),
        ("10.0.0.10", "redis-server-0"),  # a Sentinel that gives the pod's own IP
        ("10.96.0.77", None),  # an address of no pod: no master, never a guess
    ],
)
def test_the_redis_master_is_the_pod_the_sentinels_address_names(
    address: str, master: str | None
) -> None:
    t, api, _ = kind_target()
    api.master_ip = address
    masters = [i.name for i in t.instances("redis") if i.role == "master"]
    assert masters == ([master] if master else [])


def test_kind_crash_goes_through_the_container_runtime() -> None:
    t, api, runner = kind_target()
    inj = t.crash("postgres", role="leader")
    assert inj.action == "crash" and inj.instances == ("shop-db-1",) and inj.role == "leader"
    assert runner.commands == [
        (
            "docker",
            "exec",
            "hasuite-worker2",
            "crictl",
            "--timeout",
            "20s",
            "stop",
            "--timeout",
            "0",
            "shop-db-1-c1",
        )
    ]
    assert not [c for c in api.calls if c[0] == "delete"]


def test_stop_is_a_graceful_delete() -> None:
    t, api, runner = kind_target()
    inj = t.stop("postgres", role="leader")
    assert inj.action == "stop"
    assert ("delete", "shop", "shop-db-1", None) in api.calls
    assert runner.commands == []


def test_cluster_crash_is_recorded_as_grace_zero_delete_not_crash() -> None:
    made: list[FakeApi] = []
    t = KubeTarget.create(
        target="cluster",
        context="staging",
        allowed_contexts=("staging",),
        api_factory=lambda c: made.append(make_api(c)) or made[-1],
    )
    inj = t.crash("postgres", role="leader")
    assert inj.action == "delete-grace-0"
    assert ("delete", "shop", "shop-db-1", 0) in made[0].calls


def test_dry_run_plans_but_does_not_act() -> None:
    t, api, runner = kind_target(dry_run=True)
    t.crash("postgres", role="leader")
    t.rollout("django")
    assert [p.verb for p in t.planned] == ["crash", "rollout"]
    assert all("[kind-hasuite]" in p.detail for p in t.planned)
    assert runner.commands == []
    assert not [c for c in api.calls if c[0] in {"delete", "restart"}]


def test_rollout_and_hpa() -> None:
    t, api, _ = kind_target()
    inj = t.rollout("django")
    assert ("restart", "shop", "django") in api.calls and inj.action == "rollout"
    assert t.observe_hpa().desired_replicas == 5
    with pytest.raises(InjectionError, match="not a Deployment"):
        t.rollout("postgres")


def test_missing_role_is_an_injection_error_with_what_was_seen() -> None:
    t, api, _ = kind_target()
    api.pods["application=spilo"] = [spilo("shop-db-0", "replica", "w")]
    with pytest.raises(InjectionError, match=r"found 0 \(pods: shop-db-0 replica\)"):
        t.crash("postgres", role="leader")


@pytest.mark.parametrize(
    ("target", "context", "allowed", "match"),
    [
        ("cluster", "prod", (), "no context is allow-listed"),
        ("cluster", "prod", ("staging",), "not on the allow-list"),
        ("kind", "kind-other", (), "acts only on the cluster it created"),
        ("kind", "staging", ("staging",), "acts only on the cluster it created"),
    ],
)
def test_refused_context_makes_no_api_call(target, context, allowed, match) -> None:  # type: ignore[no-untyped-def]
    def factory(ctx: str) -> FakeApi:
        raise AssertionError("the API must not be touched for a refused context")

    with pytest.raises(ConfigError, match=match):
        KubeTarget.create(
            target=target, context=context, allowed_contexts=allowed, api_factory=factory
        )


# -- bootstrap -------------------------------------------------------------------------------


def plan() -> kindplan.KindPlan:
    return kindplan.KindPlan(cluster="hasuite", root=ROOT)


def test_missing_tools_named_with_how_to_get_them(tmp_path: Path) -> None:
    runner = FakeRunner(tools={"docker"})
    with pytest.raises(bootstrap.MissingToolsError) as err:
        bootstrap.up(runner, plan(), config_path=tmp_path / "kind.yaml")
    msg = str(err.value)
    assert "missing: kind, kubectl, helm" in msg and "helm.sh" in msg and "kind.sigs.k8s.io" in msg
    assert runner.commands == []


def test_up_creates_then_installs_in_dependency_order(tmp_path: Path) -> None:
    runner = FakeRunner()
    done = bootstrap.up(runner, plan(), config_path=tmp_path / "kind.yaml")
    create = next(c for c in done if c[:3] == ("kind", "create", "cluster"))
    assert "--image" in create and "@sha256:" in create[create.index("--image") + 1]
    releases = [c[3] for c in done if c[:3] == ("helm", "upgrade", "--install")]
    assert releases.index("cert-manager") < releases.index("traefik")
    assert releases.index("kube-prometheus-stack") < releases.index("redis")
    assert releases.index("postgres-operator") < len(releases)
    order = [c[:2] for c in done]
    assert order.index(("docker", "build")) < order.index(("kind", "load"))
    apply = done.index(next(c for c in done if "-k" in c))
    assert apply > max(i for i, c in enumerate(done) if c[:2] == ("helm", "upgrade"))
    for cmd in done:
        if cmd[0] == "kubectl":
            assert cmd[1:3] == ("--context", "kind-hasuite")
        if cmd[:2] == ("helm", "upgrade"):
            assert cmd[cmd.index("--kube-context") + 1] == "kind-hasuite"
            assert "--wait" in cmd and "--timeout" in cmd
    cfg = (tmp_path / "kind.yaml").read_text()
    assert cfg.count("role: worker") == 3 and "hasuite.io/cluster" in cfg


def test_up_is_idempotent_and_reuses_our_cluster(tmp_path: Path) -> None:
    runner = FakeRunner(clusters=["hasuite"])
    done = bootstrap.up(runner, plan(), config_path=tmp_path / "kind.yaml")
    assert not [c for c in done if c[:2] == ("kind", "create")]


def test_foreign_cluster_of_the_same_name_is_refused(tmp_path: Path) -> None:
    runner = FakeRunner(clusters=["hasuite"], marked=False)
    with pytest.raises(bootstrap.ClusterNotOursError, match="did not create it"):
        bootstrap.up(runner, plan(), config_path=tmp_path / "kind.yaml")
    assert not [c for c in runner.commands if c[0] in {"helm", "docker"} and c[1] != "info"]
    with pytest.raises(bootstrap.ClusterNotOursError):
        bootstrap.down(runner, plan())
    assert not [c for c in runner.commands if c[:2] == ("kind", "delete")]


def test_down_deletes_only_our_cluster() -> None:
    assert bootstrap.down(FakeRunner(), plan()) == []
    runner = FakeRunner(clusters=["hasuite"])
    assert bootstrap.down(runner, plan()) == [("kind", "delete", "cluster", "--name", "hasuite")]


def test_worker_count_is_configurable() -> None:
    cfg = kindplan.render_kind_config(ROOT, "x", 5)
    assert cfg.count("role: worker") == 5 and "name: x" in cfg
    with pytest.raises(ConfigError):
        kindplan.render_kind_config(ROOT, "x", 0)


@pytest.mark.parametrize(
    ("annotations", "profile"),
    [
        ({}, None),  # a stack hasuite did not install: production settings
        ({"hasuite.io/stack-profile": "production"}, None),
        ({"hasuite.io/stack-profile": "rollout-violated"}, "rollout-violated"),
    ],
)
def test_the_deployed_profile_comes_from_the_shop_namespace(
    annotations: dict[str, str], profile: str | None
) -> None:
    from hasuite.session.targets import stack_of

    t, api, _ = kind_target()
    api.annotations = annotations
    assert t.stack_profile() == profile
    assert stack_of(t).profile == profile
    if profile == "rollout-violated":
        assert stack_of(t).django.prestop_delay_s == 0


def test_shutdown_lines_are_the_graceful_ones_of_the_previous_run() -> None:
    t, api, _ = kind_target()
    graceful = (
        "[INFO] Booting worker with pid: 9\n[INFO] Handling signal: term\n"
        "[INFO] Worker exiting (pid: 9)\n[INFO] Shutting down: Master\n"
    )
    api.logs = {("django-a", "django"): graceful, ("django-b", "django"): "[INFO] Booting\n"}
    assert len(t.shutdown_lines("django-a", "django")) == 2
    assert t.shutdown_lines("django-b", "django") == []
    assert ("log", "shop", "django-b", "django", True) in api.calls
