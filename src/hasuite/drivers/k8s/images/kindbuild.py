"""Tools and a kind node image built on this machine: Go module proxy + Debian packages only.

Used by ``hasuite up --target kind`` where no registry can be pulled from (the ``built`` node
image flavor). Every artifact is cached under the cache folder of the build settings
(:data:`~hasuite.drivers.k8s.images.build.CACHE_ROOT` by default, outside the checkout), in a
folder named by version and a content hash of everything that goes into it, so a second ``up``
(or the next session on the same machine) reuses it:

- ``go/<name>-<version>-<hash>/bin/``: Go programs (kind, kubectl, the Kubernetes binaries,
  etcd, CoreDNS, crictl, local-path-provisioner, metrics-server, helm, our pause and CNI
  helper), each built by ``go build`` in a small wrapper module (CGO_ENABLED=0);
- ``rootfs/bookworm-<hash>/``: the node's Debian bookworm root file system (debootstrap);
- Docker images tagged ``...:<version>-<hash>`` in the engine: the component images and the
  node image (``hasuite/kind-node:<k8s version>-<hash>``), with every image cluster creation
  needs preloaded into containerd's ``k8s.io`` namespace.

Which step follows which part of kind's node-image contract: env/kind/README.md.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hasuite.drivers.k8s.images.build import (
    BuildError,
    BuildSettings,
    ImageSpec,
    Progress,
    build_image,
    build_rootfs,
    content_hash,
    image_key,
    run_step,
)
from hasuite.drivers.k8s.images.gobuild import build_go
from hasuite.drivers.k8s.images.pins import BuildPins
from hasuite.drivers.k8s.images.preload import preload

__all__ = ["NODE_IMAGE_REPO", "NodeImage", "build_node_image", "component_images"]

log = logging.getLogger(__name__)

NODE_IMAGE_REPO = "hasuite/kind-node"


def node_packages(root: Path) -> list[str]:
    text = (root / "env/kind/node-image/packages.txt").read_text()
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


# --------------------------------------------------------------------------------------------
# The node image
# --------------------------------------------------------------------------------------------

NODE_FILES = Path("env/kind/node-image")
HASUITE_IMAGES = {  # images our node manifests name (files/kind/manifests, env/kind/addons)
    "cni": "hasuite.local/hasuite-cni:1",
    "busybox": "hasuite.local/busybox:1",
    "local_path": "hasuite.local/local-path-provisioner:1",
    "metrics_server": "hasuite.local/metrics-server:1",
}


@dataclass(frozen=True, kw_only=True)
class NodeImage:
    ref: str
    kubernetes: str
    coredns_tag: str  # the CoreDNS tag preloaded (kubeadm's ClusterConfiguration dns.imageTag)
    images: tuple[str, ...]
    build_s: float = 0.0


def kubeadm_images(kubeadm: Path, kubernetes: str, env: Mapping[str, str]) -> list[str]:
    out = run_step(
        [str(kubeadm), "config", "images", "list", "--kubernetes-version", kubernetes],
        step="kubeadm config images list",
        timeout_s=60,
        env=env,
    )
    return [ln.strip() for ln in out.splitlines() if ln.strip()]


def component_images(
    pins: BuildPins, bins: dict[str, Path], kubeadm_refs: list[str]
) -> list[ImageSpec]:
    """Every image cluster creation needs, under the names kubeadm (and our manifests) use."""
    by_name = {ref.rsplit(":", 1)[0].rsplit("/", 1)[-1]: ref for ref in kubeadm_refs}
    k8s = bins["kubernetes"]
    specs = [
        ImageSpec(ref=by_name[c], files={f"/usr/local/bin/{c}": k8s / c})
        for c in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
    ]
    # kube-proxy runs in nftables mode here (env/kind: kubeProxyMode), so its image needs nft
    specs.append(
        ImageSpec(
            ref=by_name["kube-proxy"],
            files={"/usr/local/bin/kube-proxy": k8s / "kube-proxy"},
            libs_of=("/usr/sbin/nft",),
        )
    )
    etcd_ref = by_name["etcd"]
    if etcd_ref.rsplit(":", 1)[1] != pins.etcd_image_tag:
        raise BuildError(
            f"kubeadm {pins.kubernetes} expects {etcd_ref} but env/k8s/charts.yaml pins etcd "
            f"image tag {pins.etcd_image_tag}: update kind.build.etcd/etcd_image_tag"
        )
    specs.append(ImageSpec(ref=etcd_ref, files={"/usr/local/bin/etcd": bins["etcd"] / "etcd"}))
    pause_ref = by_name["pause"]
    if pause_ref.rsplit(":", 1)[1] != pins.pause_image_tag:
        raise BuildError(
            f"kubeadm {pins.kubernetes} expects {pause_ref}, charts.yaml pins pause "
            f"{pins.pause_image_tag} (also in env/kind/node-image/files/etc/containerd)"
        )
    specs.append(
        ImageSpec(ref=pause_ref, files={"/pause": bins["pause"] / "pause"}, entrypoint=("/pause",))
    )
    coredns_repo = by_name["coredns"].rsplit(":", 1)[0]
    specs.append(
        ImageSpec(
            ref=f"{coredns_repo}:{pins.coredns}",
            files={"/coredns": bins["coredns"] / "coredns"},
            entrypoint=("/coredns",),
        )
    )
    root = pins.root / NODE_FILES
    specs += [
        ImageSpec(
            ref=HASUITE_IMAGES["cni"],
            files={
                "/usr/local/bin/hasuite-cni": root / "cni/hasuite-cni",
                "/usr/local/bin/kubectl": k8s / "kubectl",
            },
            busybox=True,
        ),
        ImageSpec(ref=HASUITE_IMAGES["busybox"], files={}, busybox=True),
        ImageSpec(
            ref=HASUITE_IMAGES["local_path"],
            files={
                "/usr/local/bin/local-path-provisioner": bins["local-path-provisioner"]
                / "local-path-provisioner"
            },
        ),
        ImageSpec(
            ref=HASUITE_IMAGES["metrics_server"],
            files={"/metrics-server": bins["metrics-server"] / "metrics-server"},
            entrypoint=("/metrics-server",),
        ),
    ]
    return specs


def _stage_node_rootfs(
    rootfs: Path, stage: Path, pins: BuildPins, bins: dict[str, Path], env: Mapping[str, str]
) -> None:
    run_step(
        ["cp", "-a", f"{rootfs}/.", str(stage)],
        step="copy the root file system",
        timeout_s=600,
        env=env,
    )
    (stage / ".complete").unlink(missing_ok=True)
    k8s = bins["kubernetes"]
    for b in ("kubeadm", "kubelet", "kubectl"):
        shutil.copy2(k8s / b, stage / "usr/bin" / b)
    shutil.copy2(bins["crictl"] / "crictl", stage / "usr/local/bin/crictl")
    files = pins.root / NODE_FILES / "files"
    run_step(["cp", "-a", f"{files}/.", str(stage)], step="copy node files", timeout_s=120, env=env)
    (stage / "kind/version").write_text(pins.kubernetes + "\n")
    (stage / "etc/crictl.yaml").write_text(
        "runtime-endpoint: unix:///run/containerd/containerd.sock\n"
    )
    (stage / "opt/cni").mkdir(parents=True, exist_ok=True)
    if not (stage / "opt/cni/bin").exists():
        (stage / "opt/cni/bin").symlink_to("/usr/lib/cni")
    (stage / "etc/kubernetes/manifests").mkdir(parents=True, exist_ok=True)
    (stage / "etc/machine-id").write_text("")
    (stage / "etc/hostname").write_text("")
    # kind's base image contract: systemd boots only what a node needs
    for wants in [
        *stage.glob("etc/systemd/system/*.wants"),
        stage / "lib/systemd/system/multi-user.target.wants",
    ]:
        shutil.rmtree(wants, ignore_errors=True)
    for unit in ("systemd-binfmt.service", "getty@tty1.service", "console-getty.service"):
        link = stage / "etc/systemd/system" / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    run_step(
        ["chroot", str(stage), "systemctl", "enable", "containerd.service", "kubelet.service"],
        step="systemctl enable containerd kubelet",
        timeout_s=60,
        env=env,
    )


# size: the node image's steps in kind's contract order (env/kind/README.md).
def build_node_image(
    pins: BuildPins,
    docker: list[str],
    *,
    settings: BuildSettings,
    progress: Progress = print,
) -> NodeImage:
    """The node image for ``pins.kubernetes``: cached by a hash of every input, or built now."""
    start = time.monotonic()
    cache, env = settings.cache, settings.env
    rootfs = build_rootfs(node_packages(pins.root), settings=settings, progress=progress)
    builds = pins.go_builds()
    bins = {
        name: build_go(builds[name], settings=settings, progress=progress)
        for name in (
            "kubernetes",
            "etcd",
            "coredns",
            "crictl",
            "local-path-provisioner",
            "metrics-server",
            "pause",
        )
    }
    kubeadm_refs = kubeadm_images(bins["kubernetes"] / "kubeadm", pins.kubernetes, env)
    specs = component_images(pins, bins, kubeadm_refs)
    key = content_hash(
        rootfs.name,
        [s.key() for s in specs],
        {n: str(p) for n, p in bins.items()},
        pins.root / NODE_FILES / "files",
    )
    ref = f"{NODE_IMAGE_REPO}:{pins.kubernetes}-{key}"
    result = NodeImage(
        ref=ref,
        kubernetes=pins.kubernetes,
        coredns_tag=pins.coredns,
        images=tuple(s.ref for s in specs),
    )
    if image_key(docker, ref, env=env) == key:
        return result
    for spec in specs:
        build_image(docker, spec, rootfs, settings=settings, progress=progress)
    (cache / "kind").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hasuite-node-", dir=cache / "kind") as tmp:
        archive = Path(tmp) / "images.tar"
        t0 = time.monotonic()
        run_step(
            [*docker, "save", "-o", str(archive), *[s.ref for s in specs]],
            step="docker save component images",
            timeout_s=600,
            env=env,
        )
        stage = Path(tmp) / "rootfs"
        stage.mkdir()
        _stage_node_rootfs(rootfs, stage, pins, bins, env)
        base_tar = Path(tmp) / "node.tar"
        run_step(
            ["tar", "-C", str(stage), "--numeric-owner", "-cf", str(base_tar), "."],
            step="tar the node root file system",
            timeout_s=600,
            env=env,
        )
        shutil.rmtree(stage)
        base_ref = f"{NODE_IMAGE_REPO}:{pins.kubernetes}-{key}-base"
        run_step(
            [*docker, "import", "--change", "ENV container=docker", str(base_tar), base_ref],
            step="docker import the node root file system",
            timeout_s=600,
            env=env,
        )
        base_tar.unlink()
        progress(
            f"node root file system imported in {time.monotonic() - t0:.0f} s; preloading images"
        )
        try:
            preload(docker, base_ref, ref, archive, key, len(specs), env)
        finally:
            subprocess.run(
                [*docker, "rmi", base_ref],
                capture_output=True,
                check=False,
                timeout=120,
                env=dict(env),
            )
    _remove_older_node_images(docker, keep=ref, env=env)
    built = time.monotonic() - start
    progress(f"node image {ref} ready in {built:.0f} s")
    return NodeImage(
        ref=ref,
        kubernetes=pins.kubernetes,
        coredns_tag=pins.coredns,
        images=result.images,
        build_s=built,
    )


def _remove_older_node_images(docker: list[str], *, keep: str, env: Mapping[str, str]) -> None:
    """Older builds of the node image (~1 GB each); one a cluster still runs on stays (rmi
    without --force refuses an image in use)."""
    listed = subprocess.run(
        [*docker, "images", NODE_IMAGE_REPO, "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=dict(env),
    ).stdout.split()
    for ref in listed:
        if ref != keep:
            subprocess.run(
                [*docker, "rmi", ref], capture_output=True, check=False, timeout=120, env=dict(env)
            )
