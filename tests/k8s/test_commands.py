"""`hasuite up/down --target kind|cluster` and the plugin's set-up, against our boundary's fakes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from hasuite import cli
from hasuite.drivers.k8s.boundary import CommandResult
from hasuite.drivers.k8s.host import engine
from hasuite.drivers.k8s.provision import bootstrap, connect, kindhost, kindplan, options, updown
from hasuite.errors import ConfigError, HasuiteError

from .conftest import ROOT
from .test_driver import FakeApi, FakeRunner, make_api


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> FakeRunner:
    """The CLI's CommandRunner replaced by the recording fake (our boundary)."""
    fake = FakeRunner()
    for module in (updown, connect, kindhost):
        monkeypatch.setattr(module, "SubprocessRunner", lambda env=None: fake)
    # the host preparation (engine, tool builds, node image) has its own tests
    # (test_kind_host.py); here the host is a connected one with Docker running
    monkeypatch.setattr(kindhost, "prepare_kind_host", lambda o, r, p: kindhost.KindHost())
    monkeypatch.setattr(
        engine, "ensure_engine", lambda *a, **k: engine.Engine(host=None, ours=False)
    )
    monkeypatch.setattr(engine, "stop_own_engine", lambda **k: False)
    return fake


def flat(text: str) -> str:
    """Console output with rich's line wrapping undone."""
    return " ".join(text.split())


def opts(target: str = "kind", **kw: Any) -> options.KubeOptions:
    kw.setdefault("environ", {})
    return options.build_options(target, root=ROOT, **kw)


# -- CLI -------------------------------------------------------------------------------------


def test_cli_dry_run_prints_every_step_and_runs_nothing(
    runner: FakeRunner, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["up", "--target", "kind", "--dry-run"]) == 0
    err = flat(capsys.readouterr().err)
    assert runner.commands == []
    for expected in (
        "kind create cluster --name hasuite",
        "docker build -t hasuite/shop:dev env/app",
        "helm upgrade --install cert-manager",
        "kubectl --context kind-hasuite apply --server-side -k env/k8s",
        "rollout status deployment/django",
    ):
        assert expected in err
    assert cli.main(["down", "--target", "kind", "--dry-run"]) == 0
    assert "would run kind delete cluster --name hasuite" in flat(capsys.readouterr().err)
    assert runner.commands == []


def test_cli_up_and_down_kind(runner: FakeRunner, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["up", "--target", "kind", "--kind-workers", "4"]) == 0
    assert any(c[:3] == ("kind", "create", "cluster") for c in runner.commands)
    before = len(runner.commands)
    assert cli.main(["up", "--target", "kind"]) == 0  # idempotent: reuses the marked cluster
    assert not [c for c in runner.commands[before:] if c[:2] == ("kind", "create")]
    assert "reusing kind cluster 'hasuite'" in flat(capsys.readouterr().err)
    assert cli.main(["down", "--target", "kind"]) == 0
    assert runner.commands[-1] == ("kind", "delete", "cluster", "--name", "hasuite")


def test_cli_missing_tools_is_one_error_naming_each(
    runner: FakeRunner, capsys: pytest.CaptureFixture[str]
) -> None:
    runner.tools = {"kubectl"}
    assert cli.main(["up", "--target", "kind"]) == 2
    err = flat(capsys.readouterr().err)
    assert "missing: docker, kind, helm" in err
    assert "docs.docker.com" in err and "kind.sigs.k8s.io" in err and "helm.sh" in err
    assert runner.commands == []


def test_cli_foreign_kind_cluster_refused(
    runner: FakeRunner, capsys: pytest.CaptureFixture[str]
) -> None:
    runner.clusters, runner.marked = ["hasuite"], False
    assert cli.main(["down", "--target", "kind"]) == 2
    assert "not created by hasuite" in flat(capsys.readouterr().err)
    assert not [c for c in runner.commands if c[:2] == ("kind", "delete")]


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["up", "--target", "cluster", "--context", "prod"], "no context is allow-listed"),
        (
            ["up", "--target", "cluster", "--context", "prod", "--allow-context", "staging"],
            "not on the allow-list",
        ),
        (["up", "--target", "cluster", "--allow-context", "staging"], "needs --context"),
        (["down", "--target", "cluster", "--context", "prod"], "no context is allow-listed"),
        (["up", "--target", "kind", "--context", "staging"], "acts only on the cluster"),
        (["up", "--target", "kind", "--profile", "no-such"], "unknown stack profile 'no-such'"),
        (
            [
                "up",
                "--target",
                "cluster",
                "--context",
                "s",
                "--allow-context",
                "s",
                "--profile",
                "known-good",
            ],
            "never changes an existing cluster",
        ),
    ],
)
def test_cli_refuses_context_before_any_call(
    runner: FakeRunner, capsys: pytest.CaptureFixture[str], argv: list[str], match: str
) -> None:
    runner.tools = set()  # a tool check would fail differently: the refusal must come first
    assert cli.main([*argv, "--dry-run"]) == 2
    assert cli.main(argv) == 2
    assert match in flat(capsys.readouterr().err)
    assert runner.commands == []


def test_cli_cluster_up_is_a_read_only_check_and_down_does_nothing(
    runner: FakeRunner, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = tmp_path / "k8s.yaml"
    settings.write_text(yaml.safe_dump({"allowed_contexts": ["staging"], "context": "staging"}))
    assert cli.main(["up", "--target", "cluster", "--k8s-settings", str(settings)]) == 0
    assert runner.commands[0] == ("kubectl", "--context", "staging", "get", "--raw", "/readyz")
    assert all(c[:3] == ("kubectl", "--context", "staging") for c in runner.commands)
    assert not [c for c in runner.commands if {"apply", "delete", "create"} & set(c)]
    n = len(runner.commands)
    assert cli.main(["down", "--target", "cluster", "--k8s-settings", str(settings)]) == 0
    assert len(runner.commands) == n
    assert "never deletes anything" in flat(capsys.readouterr().err)


def test_unreachable_cluster_is_an_error_naming_the_step(runner: FakeRunner) -> None:
    def unreachable(argv, *, timeout_s, check=True, cwd=None):  # type: ignore[no-untyped-def]
        runner.commands.append(tuple(argv))
        return CommandResult(argv=tuple(argv), returncode=1, stderr="dial tcp: i/o timeout")

    runner.run = unreachable  # type: ignore[method-assign]
    o = opts("cluster", context="staging", allow=("staging",))
    with pytest.raises(HasuiteError, match=r"API server reachable failed: dial tcp.*credentials"):
        updown.bring_up(o)
    assert len(runner.commands) == 1


def test_local_up_and_down_delegate_to_the_lab(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    monkeypatch.setattr(cli, "cmd_lab_up", lambda args: seen.append("up") or 0)
    monkeypatch.setattr(cli, "cmd_lab_down", lambda args: seen.append(f"down {args.purge}") or 0)
    assert cli.main(["up"]) == 0 and cli.main(["down", "--target", "local", "--purge"]) == 0
    assert seen == ["up", "down True"]
    assert cli.main(["up", "--target", "local", "--dry-run"]) == 2


# -- settings file ---------------------------------------------------------------------------


def test_settings_file_merges_under_the_command_line(tmp_path: Path) -> None:
    f = tmp_path / "k8s.yaml"
    f.write_text("allowed_contexts: [a, b]\ncontext: a\nkind_name: nightly\nkind_workers: 5\n")
    o = opts("cluster", allow=("c",), settings_path=f)
    assert o.allowed_contexts == ("c", "a", "b") and o.resolved_context() == "a"
    o = opts("cluster", context="b", settings_path=f)
    assert o.resolved_context() == "b"
    k = opts("kind", settings_path=f)
    assert (k.kind_name, k.kind_workers, k.resolved_context()) == ("nightly", 5, "kind-nightly")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("allowed_context: [a]\n", "unknown key"),
        ("allowed_contexts: a\n", "must be a list"),
        ("kind_workers: 0\n", "integer >= 1"),
        ("- a\n", "expected a mapping"),
        ("a: [\n", "not valid YAML"),
    ],
)
def test_bad_settings_file_says_what(tmp_path: Path, text: str, match: str) -> None:
    f = tmp_path / "k8s.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=match):
        options.load_k8s_settings(f)
    with pytest.raises(ConfigError, match="cannot be read"):
        options.load_k8s_settings(tmp_path / "absent.yaml")


# -- bootstrap details -------------------------------------------------------------------------


def test_marker_follows_the_cluster_name(tmp_path: Path) -> None:
    cfg = yaml.safe_load(kindplan.render_kind_config(ROOT, "nightly", 3))
    control = [n for n in cfg["nodes"] if n["role"] == "control-plane"]
    assert control[0]["labels"][kindplan.MARKER_LABEL] == "nightly"
    runner = FakeRunner()
    plan = kindplan.KindPlan(cluster="nightly", root=ROOT)
    bootstrap.up(runner, plan, config_path=tmp_path / "kind.yaml")
    assert "hasuite.io/cluster: nightly" in (tmp_path / "kind.yaml").read_text()
    again = bootstrap.up(runner, plan, config_path=tmp_path / "kind.yaml")  # reuses it
    assert not [c for c in again if c[:2] == ("kind", "create")]
    query = next(c for c in runner.commands if "nodes" in c)
    assert f"{kindplan.MARKER_LABEL}=nightly" in query and "kind-nightly" in query


def test_unreadable_nodes_of_an_existing_cluster_are_refused() -> None:
    runner = FakeRunner(clusters=["hasuite"])

    def run(argv, *, timeout_s, check=True, cwd=None):  # type: ignore[no-untyped-def]
        runner.commands.append(tuple(argv))
        if argv[0] == "kubectl":
            return CommandResult(argv=tuple(argv), returncode=1, stderr="context not found")
        if argv[:2] == ["docker", "exec"]:  # no marker in its kubeadm config: not ours
            return CommandResult(argv=tuple(argv), returncode=1)
        return CommandResult(argv=tuple(argv), returncode=0, stdout="hasuite")

    runner.run = run  # type: ignore[method-assign]
    plan = kindplan.KindPlan(cluster="hasuite", root=ROOT)
    with pytest.raises(bootstrap.ClusterNotOursError, match="kind export kubeconfig"):
        bootstrap.down(runner, plan)
    assert not [c for c in runner.commands if c[:2] == ("kind", "delete")]


def test_a_cluster_left_by_an_interrupted_up_is_deleted_and_created_again(tmp_path: Path) -> None:
    """kind wrote our marker into the control-plane's kubeadm config, but the API never answered
    (interrupted before the kubeconfig was exported): the next up starts over, never fails."""
    runner = FakeRunner(clusters=["hasuite"])
    real_run = runner.run

    def run(argv, *, timeout_s, check=True, cwd=None):  # type: ignore[no-untyped-def]
        if (
            argv[0] == "kubectl"
            and "nodes" in argv
            and ("kind", "delete") not in {c[:2] for c in runner.commands}
        ):
            runner.commands.append(tuple(argv))
            return CommandResult(argv=tuple(argv), returncode=1, stderr="context not found")
        if argv[:2] == ["kind", "delete"]:
            runner.clusters.clear()
        return real_run(argv, timeout_s=timeout_s, check=check, cwd=cwd)

    runner.run = run  # type: ignore[method-assign]
    plan = kindplan.KindPlan(cluster="hasuite", root=ROOT, flavor="built", node_image="n:1")
    bootstrap.up(runner, plan, config_path=tmp_path / "kind.yaml")
    verbs = [c[:3] for c in runner.commands if c[0] == "kind"]
    assert verbs.index(("kind", "delete", "cluster")) < verbs.index(("kind", "create", "cluster"))
    probe = next(c for c in runner.commands if c[:2] == ("docker", "exec"))
    assert probe[2] == "hasuite-control-plane" and "hasuite.io/cluster=hasuite" in probe


def test_every_cluster_command_pins_the_context() -> None:
    plan = kindplan.KindPlan(cluster="hasuite", root=ROOT)
    steps = bootstrap.up(FakeRunner(), plan, config_path=Path("/nonexistent"), dry_run=True)
    steps += bootstrap.verify_cluster(FakeRunner(), "staging", dry_run=True)
    for argv in steps:
        if argv[0] == "kubectl":
            assert argv[1] == "--context" and argv[2] in {"kind-hasuite", "staging"}, argv
        if argv[:2] == ("helm", "upgrade"):
            assert argv[argv.index("--kube-context") + 1] == "kind-hasuite", argv
        if argv[0] == "kind" and argv[1] in {"create", "load", "delete"}:
            assert argv[argv.index("--name") + 1] == "hasuite", argv
    assert not Path("/nonexistent").exists()


def test_port_forward_binds_localhost_and_pins_the_context() -> None:
    pf = connect.PortForward(
        context="kind-hasuite", namespace="monitoring", service="p", port=9090, local_port=41000
    )
    argv = pf.argv()
    assert argv[:3] == ["kubectl", "--context", "kind-hasuite"]
    assert argv[argv.index("--address") + 1] == "127.0.0.1"
    assert pf.url == "http://127.0.0.1:41000"


def test_open_target_checks_first_and_builds_endpoints(runner: FakeRunner) -> None:
    made: list[FakeApi] = []

    def factory(ctx: str) -> FakeApi:
        made.append(make_api(ctx))
        return made[-1]

    with connect.open_target(opts("kind"), api_factory=factory, forward=False) as t:
        assert t.name == "kind" and t.context == "kind-hasuite"
        assert t.endpoints().app_url == connect.KIND_APP_URL
    refused = opts("cluster", context="prod", allow=("staging",))
    with pytest.raises(ConfigError, match="allow-list"), connect.open_target(refused):
        pass
    no_url = opts("cluster", context="staging", allow=("staging",))
    with (
        pytest.raises(ConfigError, match="--app-url"),
        connect.open_target(no_url, api_factory=factory, forward=False),
    ):
        pass
    assert [a.context for a in made] == ["kind-hasuite"]


def test_a_kind_run_uses_the_engine_the_nodes_run_on(
    runner: FakeRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The crash faults `docker exec` into kind's nodes: a run must reach hasuite's own dockerd
    as `up` did (DOCKER_HOST, given to its runner: the process's environment is left alone),
    and stop with what to do when no engine answers."""
    envs: list[Mapping[str, str] | None] = []

    def make(env: Mapping[str, str] | None = None) -> FakeRunner:
        envs.append(env)
        return runner

    monkeypatch.setattr(connect, "SubprocessRunner", make)
    monkeypatch.setattr(kindhost, "SubprocessRunner", make)
    own = engine.Engine(host="unix:///run/hasuite-docker.sock", ours=True)
    seen: list[Mapping[str, str]] = []
    monkeypatch.setattr(engine, "ensure_engine", lambda *a, **k: seen.append(k["environ"]) or own)
    before = os.environ.get("DOCKER_HOST")
    o = opts("kind", environ={"DOCKER_HOST": "unix:///nowhere.sock", "PATH": "/usr/bin"})
    with connect.open_target(o, api_factory=make_api, forward=False) as t:
        assert t.runner is runner
    assert seen == [o.environ]  # the entry point's DOCKER_HOST is the one tried first
    last = envs[-1]
    assert last is not None and last["DOCKER_HOST"] == "unix:///run/hasuite-docker.sock"
    assert last["PATH"].endswith("/usr/bin")
    assert os.environ.get("DOCKER_HOST") == before
    assert o.environ["DOCKER_HOST"] == "unix:///nowhere.sock"

    def no_engine(*a: object, **k: object) -> engine.Engine:
        raise engine.EngineError("no Docker daemon answers (docker info failed)")

    monkeypatch.setattr(engine, "ensure_engine", no_engine)
    with (
        pytest.raises(ConfigError, match="hasuite up --target kind --start-docker"),
        connect.open_target(opts("kind"), api_factory=make_api, forward=False),
    ):
        pass


def test_plugin_skips_real_cluster_tests_saying_how_to_run_them() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(ROOT / "tests" / "k8s" / "test_real_cluster.py"),
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "passed" not in out and " skipped" in out
    assert "pytest --target kind" in out and "--keep-cluster" in out


def test_workflow_pins_the_context_and_cleans_up_only_its_cluster() -> None:
    text = (ROOT / ".github/workflows/nightly-chaos.yml").read_text()
    kubectl_lines = [ln for ln in text.splitlines() if ln.strip().startswith("kubectl")]
    assert kubectl_lines and all("--context kind-hasuite" in ln for ln in kubectl_lines)
    wf = yaml.safe_load(text)
    runs = [s.get("run", "") for s in wf["jobs"]["chaos"]["steps"]]
    assert ".venv/bin/hasuite up --target kind" in runs
    assert runs[-1] == ".venv/bin/hasuite down --target kind"
    assert any("test_real_cluster.py --target kind" in r for r in runs)


@pytest.mark.parametrize(
    ("deployed", "wanted", "ok"),
    [
        (None, None, True),
        ("rollout-violated", None, True),  # judged against what runs (stack_of reads it)
        ("rollout-violated", "rollout-violated", True),
        (None, "rollout-violated", False),
        ("known-good", "rollout-violated", False),
    ],
)
def test_a_kind_run_with_a_profile_needs_the_cluster_to_run_it(
    deployed: str | None, wanted: str | None, ok: bool
) -> None:
    from hasuite.errors import HasuiteError

    if ok:
        cli._check_deployed_profile(deployed, wanted)
        return
    with pytest.raises(HasuiteError, match=f"up --target kind --profile {wanted}"):
        cli._check_deployed_profile(deployed, wanted)
