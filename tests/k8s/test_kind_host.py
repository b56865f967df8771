"""The kind target's host preparation, offline: OCI wrapper, engine choice, flavor, kind config."""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path

import pytest
import yaml

from hasuite.drivers.k8s.boundary import CommandResult
from hasuite.drivers.k8s.host import engine, oci_wrapper
from hasuite.drivers.k8s.images import build, gobuild, kindbuild
from hasuite.drivers.k8s.images.pins import K8S_PROGRAMS, BuildPins
from hasuite.drivers.k8s.provision import bootstrap, kindhost, kindplan, options

from .conftest import ROOT

# CapBnd of this project's VMs: every capability up to 40 except CAP_SYS_RESOURCE (24)
VM_STATUS = "Name:\tx\nCapBnd:\t000001fffeffffff\n"
FULL_STATUS = "Name:\tx\nCapBnd:\t000001ffffffffff\n"


def test_bounding_set_parsing_finds_the_missing_capability() -> None:
    assert engine.missing_capabilities(VM_STATUS, 40) == ["CAP_SYS_RESOURCE"]
    assert engine.missing_capabilities(FULL_STATUS, 40) == []
    # a kernel with fewer capabilities does not count the unknown ones as missing
    assert engine.missing_capabilities("CapBnd:\t0000003ffeffffff\n", 37) == ["CAP_SYS_RESOURCE"]


def test_wrapper_targets_create_bundles_and_exec_process_files(tmp_path: Path) -> None:
    create = ["--root", "/r", "--log", "l", "create", "--bundle", str(tmp_path), "--pid-file", "p"]
    assert oci_wrapper.find_target(create) == ("config", str(tmp_path / "config.json"))
    assert oci_wrapper.find_target(["run", f"--bundle={tmp_path}", "id"]) == (
        "config",
        str(tmp_path / "config.json"),
    )
    assert oci_wrapper.find_target(["exec", "--process", "/tmp/p.json", "--detach", "id"]) == (
        "process",
        "/tmp/p.json",
    )
    assert oci_wrapper.find_target(["start", "id"]) is None
    assert oci_wrapper.find_target(["--root", "/r", "delete", "id"]) is None


def test_wrapper_drops_capabilities_and_clamps_rlimits_in_place(tmp_path: Path) -> None:
    config = {
        "process": {
            "capabilities": {
                k: ["CAP_SYS_ADMIN", "CAP_SYS_RESOURCE", "CAP_NET_ADMIN"]
                for k in ("bounding", "effective", "permitted")
            },
            "rlimits": [
                {"type": "RLIMIT_NOFILE", "hard": 1048576, "soft": 1048576},
                {"type": "RLIMIT_CORE", "hard": 2**64 - 1, "soft": 0},
            ],
        }
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    allowed = oci_wrapper.read_bounding_set(VM_STATUS)
    oci_wrapper.rewrite(str(path), "config", allowed, {"RLIMIT_NOFILE": 20000, "RLIMIT_CORE": -1})
    process = json.loads(path.read_text())["process"]
    assert process["capabilities"]["bounding"] == ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"]
    assert process["capabilities"]["effective"] == ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"]
    nofile, core = process["rlimits"]
    assert nofile == {"type": "RLIMIT_NOFILE", "hard": 20000, "soft": 20000}
    assert core["hard"] == 2**64 - 1  # unlimited is allowed where the host has no limit


def test_wrapper_leaves_a_fitting_process_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "process.json"
    path.write_text(json.dumps({"capabilities": {"bounding": ["CAP_CHOWN"]}, "rlimits": []}))
    before = path.stat().st_mtime_ns
    oci_wrapper.rewrite(str(path), "process", {"CAP_CHOWN"}, {"RLIMIT_NOFILE": 10})
    assert path.stat().st_mtime_ns == before


def test_host_limits_are_read_from_this_process() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert oci_wrapper.host_hard_limits()["RLIMIT_NOFILE"] in (hard, -1)


def test_dockerd_has_its_own_socket_and_root_and_the_wrapper_only_when_needed() -> None:
    plain = engine.dockerd_argv(wrapper=None)
    assert "unix:///run/hasuite-docker.sock" in plain and "/var/lib/hasuite-docker/data" in plain
    assert "--default-runtime" not in plain
    wrapped = engine.dockerd_argv(wrapper=Path("/w/hasuite-runc"))
    assert wrapped[-4:] == [
        "--add-runtime",
        "hasuite-runc=/w/hasuite-runc",
        "--default-runtime",
        "hasuite-runc",
    ]


class NoDaemon:
    """docker is installed, no daemon answers."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def run(self, argv, *, timeout_s, check=True, cwd=None):  # type: ignore[no-untyped-def]
        self.calls.append(tuple(argv))
        return CommandResult(argv=tuple(argv), returncode=1, stderr="Cannot connect")

    def which(self, tool: str) -> str | None:
        return f"/usr/bin/{tool}"


def test_no_daemon_and_no_opt_in_is_an_error_saying_how(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(engine, "OWN_SOCKET", tmp_path / "absent.sock")
    with pytest.raises(engine.EngineError, match="--start-docker"):
        engine.ensure_engine(NoDaemon(), allow_start=False, environ={})


def test_own_daemon_needs_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(engine, "OWN_SOCKET", tmp_path / "absent.sock")
    monkeypatch.setattr(engine.os, "geteuid", lambda: 1000)
    with pytest.raises(engine.EngineError, match="needs root"):
        engine.ensure_engine(NoDaemon(), allow_start=True, environ={})


def test_ci_true_is_an_opt_in() -> None:
    assert engine.opted_in(False, {"CI": "true"})
    assert not engine.opted_in(False, {"CI": "false"})
    assert engine.opted_in(True, {})


def test_a_running_daemon_is_used_as_it_is() -> None:
    class Running(NoDaemon):
        def run(self, argv, *, timeout_s, check=True, cwd=None):  # type: ignore[no-untyped-def]
            self.calls.append(tuple(argv))
            return CommandResult(argv=tuple(argv), returncode=0, stdout='{"ServerVersion":"27.1"}')

    got = engine.ensure_engine(Running(), allow_start=False, environ={})
    assert got == engine.Engine(host=None, ours=False, version="27.1")
    assert got.env() == {}


def test_stop_own_engine_without_state_stops_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(engine, "STATE_FILE", tmp_path / "state.json")
    assert engine.stop_own_engine() is False
    # a state file whose pid is not our dockerd (reused pid) is dropped, nothing is killed
    (tmp_path / "state.json").write_text(json.dumps({"pid": 1}))
    assert engine.stop_own_engine() is True
    assert not (tmp_path / "state.json").exists()


@pytest.mark.parametrize(
    ("requested", "present", "environ", "flavor"),
    [
        ("auto", False, {}, "built"),
        ("auto", True, {}, "pinned"),
        ("auto", False, {"GITHUB_ACTIONS": "true"}, "pinned"),
        ("built", True, {"GITHUB_ACTIONS": "true"}, "built"),
        ("pinned", False, {}, "pinned"),
    ],
)
def test_flavor_choice(requested: str, present: bool, environ: dict[str, str], flavor: str) -> None:
    assert kindhost.choose_flavor(requested, pinned_present=present, environ=environ) == flavor


def test_bad_node_image_option_is_refused() -> None:
    with pytest.raises(Exception, match="auto, pinned or built"):
        options.build_options("kind", root=ROOT, environ={}, node_image="latest")


def test_cgroup_v1_patch_only_where_the_host_is_v1() -> None:
    v2 = yaml.safe_load(kindplan.render_kind_config(ROOT, "hasuite", 2))
    assert "kubeadmConfigPatches" not in v2 and "networking" not in v2
    v1 = yaml.safe_load(kindplan.render_kind_config(ROOT, "hasuite", 2, cgroup_v1=True))
    patches = [yaml.safe_load(p) for p in v1["kubeadmConfigPatches"]]
    assert patches == [{"kind": "KubeletConfiguration", "failCgroupV1": False}]


def test_built_flavor_config_runs_kube_proxy_on_nftables_and_names_coredns() -> None:
    cfg = yaml.safe_load(
        kindplan.render_kind_config(
            ROOT, "hasuite", 1, flavor="built", coredns_tag="v1.14.3", cgroup_v1=True
        )
    )
    assert cfg["networking"]["kubeProxyMode"] == "nftables"
    patches = [yaml.safe_load(p) for p in cfg["kubeadmConfigPatches"]]
    assert {"kind": "ClusterConfiguration", "dns": {"imageTag": "v1.14.3"}} in patches
    assert len([n for n in cfg["nodes"] if n["role"] == "worker"]) == 1


def test_built_flavor_stops_before_the_charts() -> None:
    plan = kindplan.KindPlan(root=ROOT, flavor="built", node_image="hasuite/kind-node:x")
    steps = kindplan.plan_install(plan, create=True, config_path=Path("/c.yaml"))
    argvs = [" ".join(s.argv) for s in steps]
    assert "--image hasuite/kind-node:x" in argvs[0]
    assert not any(a.startswith(("helm", "docker build")) for a in argvs)
    assert any("apply -f env/kind/addons/metrics-server.yaml" in a for a in argvs)
    assert all("--context kind-hasuite" in a for a in argvs[1:])


def test_taken_ingress_port_is_an_error_before_anything_is_created() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(Exception, match=f"127.0.0.1:{port} already in use"):
            bootstrap.check_ports_free((port,))


def test_build_pins_come_from_charts_yaml_and_name_every_node_program() -> None:
    pins = BuildPins.load(ROOT)
    charts = yaml.safe_load((ROOT / "env/k8s/charts.yaml").read_text())
    assert charts["kind"]["node_image"].startswith(f"kindest/node:{pins.kubernetes}@")
    builds = pins.go_builds()
    k8s = builds["kubernetes"]
    assert {b for b, _ in k8s.programs} == set(K8S_PROGRAMS)
    assert ("k8s.io/client-go", "k8s.io/client-go v0.36.4") in k8s.replace
    assert "gitVersion=v1.36.4" in k8s.ldflags
    # the cache key follows every input: a version bump is a new folder
    other = gobuild.GoBuild(**{**k8s.__dict__, "version": "v1.36.5"})
    assert other.key("go1.26") != k8s.key("go1.26")
    assert k8s.key("go1.26") != k8s.key("go1.27")


def test_go_build_failure_names_the_module_and_leaves_nothing(tmp_path: Path) -> None:
    spec = gobuild.GoBuild(
        name="broken",
        module="",
        version="v0",
        programs=(("broken", "."),),
        source_dir=tmp_path / "src",
    )
    (tmp_path / "src").mkdir()
    (tmp_path / "src/main.go").write_text("package main\nfunc main() { undefined() }\n")
    if gobuild.shutil.which("go") is None:
        pytest.skip("needs the Go toolchain (go on PATH)")
    with pytest.raises(build.BuildError, match="broken: go build"):
        settings = build.BuildSettings(cache=tmp_path / "cache", env=os.environ)
        gobuild.build_go(spec, settings=settings, progress=lambda _: None)
    assert list((tmp_path / "cache/go").iterdir()) == []


KUBEADM_136 = [
    "registry.k8s.io/kube-apiserver:v1.36.4",
    "registry.k8s.io/kube-controller-manager:v1.36.4",
    "registry.k8s.io/kube-scheduler:v1.36.4",
    "registry.k8s.io/kube-proxy:v1.36.4",
    "registry.k8s.io/coredns/coredns:v1.14.2",
    "registry.k8s.io/pause:3.10.2",
    "registry.k8s.io/etcd:3.6.8-0",
]


def _bins(tmp_path: Path) -> dict[str, Path]:
    return {n: tmp_path / n for n in BuildPins.load(ROOT).go_builds()}


def test_node_images_carry_kubeadms_names_and_what_our_manifests_name(tmp_path: Path) -> None:
    pins = BuildPins.load(ROOT)
    refs = [s.ref for s in kindbuild.component_images(pins, _bins(tmp_path), KUBEADM_136)]
    # every kubeadm image except CoreDNS, which runs at the tag we built (dns.imageTag patch)
    assert set(KUBEADM_136) - set(refs) == {"registry.k8s.io/coredns/coredns:v1.14.2"}
    assert f"registry.k8s.io/coredns/coredns:{pins.coredns}" in refs
    manifests = "".join(
        p.read_text()
        for p in [
            *(ROOT / "env/kind/node-image/files/kind/manifests").glob("*.yaml"),
            *(ROOT / "env/kind/addons").glob("*.yaml"),
        ]
    )
    named = {ln.split("image:")[1].strip() for ln in manifests.splitlines() if "image:" in ln}
    assert named and named <= set(refs), named - set(refs)
    containerd = (ROOT / "env/kind/node-image/files/etc/containerd/config.toml").read_text()
    assert f'sandbox_image = "registry.k8s.io/pause:{pins.pause_image_tag}"' in containerd


def test_a_kubeadm_etcd_tag_other_than_the_pin_is_an_error_saying_what_to_update(
    tmp_path: Path,
) -> None:
    pins = BuildPins.load(ROOT)
    other = [r.replace("3.6.8-0", "3.6.9-0") for r in KUBEADM_136]
    with pytest.raises(build.BuildError, match="etcd_image_tag"):
        kindbuild.component_images(pins, _bins(tmp_path), other)


def test_image_keys_follow_their_content(tmp_path: Path) -> None:
    a = tmp_path / "a"
    a.write_text("one")
    spec = build.ImageSpec(ref="x:1", files={"/a": a})
    before = spec.key()
    a.write_text("two")
    assert spec.key() != before
