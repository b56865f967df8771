"""Tools and a kind node image built on this machine: Go module proxy + Debian packages only.

Used by ``hasuite up --target kind`` where no registry can be pulled from (the ``built`` node
image flavor). Every artifact is cached under :data:`CACHE_ROOT` (outside the checkout), in a
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

import hashlib
import json
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hasuite.errors import HasuiteError

log = logging.getLogger(__name__)

CACHE_ROOT = Path(os.environ.get("HASUITE_CACHE_DIR", "/var/cache/hasuite"))
NODE_IMAGE_REPO = "hasuite/kind-node"
#: Staging modules of k8s.io/kubernetes (replaced by their published v0.x versions).
K8S_STAGING = [
    "api",
    "apiextensions-apiserver",
    "apimachinery",
    "apiserver",
    "cli-runtime",
    "client-go",
    "cloud-provider",
    "cluster-bootstrap",
    "code-generator",
    "component-base",
    "component-helpers",
    "controller-manager",
    "cri-api",
    "cri-client",
    "cri-streaming",
    "csi-translation-lib",
    "dynamic-resource-allocation",
    "endpointslice",
    "externaljwt",
    "kms",
    "kube-aggregator",
    "kube-controller-manager",
    "kube-proxy",
    "kube-scheduler",
    "kubectl",
    "kubelet",
    "metrics",
    "mount-utils",
    "pod-security-admission",
    "sample-apiserver",
    "sample-cli-plugin",
    "sample-controller",
    "streaming",
]
K8S_PROGRAMS = (
    "kubectl",
    "kubeadm",
    "kubelet",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
)


class BuildError(HasuiteError):
    """A tool or image could not be built; the message names the module and the step."""


Progress = Callable[[str], None]


def _hash(*parts: Any) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            for f in sorted(p for p in part.rglob("*") if p.is_file()) if part.is_dir() else [part]:
                h.update(str(f.relative_to(part) if part.is_dir() else f.name).encode())
                h.update(f.read_bytes())
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
        h.update(b"\0")
    return h.hexdigest()[:12]


def _run(
    argv: list[str],
    *,
    step: str,
    timeout_s: float,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    input_path: Path | None = None,
) -> str:
    log.info("kind build: %s: %s", step, " ".join(argv))
    stdin = input_path.open("rb") if input_path else subprocess.DEVNULL
    try:
        proc = subprocess.run(
            argv,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdin=stdin,
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BuildError(
            f"{step}: {' '.join(argv[:4])} did not finish in {timeout_s:.0f} s"
        ) from exc
    except FileNotFoundError as exc:
        raise BuildError(f"{step}: {argv[0]} is not installed ({exc})") from exc
    finally:
        if input_path and not isinstance(stdin, int):
            stdin.close()
    if proc.returncode != 0:
        err = (proc.stderr or proc.stdout).decode(errors="replace").strip()[-1500:]
        raise BuildError(f"{step} failed (exit {proc.returncode}): {err}")
    return proc.stdout.decode(errors="replace")


# --------------------------------------------------------------------------------------------
# Go programs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class GoBuild:
    """Programs of one Go module, built in a wrapper module (so replace directives work)."""

    name: str
    module: str  # "" = our own source only (source_dir)
    version: str
    programs: tuple[tuple[str, str], ...]  # (binary, package path; "." = the wrapper's main)
    replace: tuple[tuple[str, str], ...] = ()
    ldflags: str = "-s -w"
    source_dir: Path | None = None  # our own main package / go files copied into the wrapper

    def key(self, go_version: str) -> str:
        return _hash(
            {
                "module": self.module,
                "version": self.version,
                "programs": self.programs,
                "replace": self.replace,
                "ldflags": self.ldflags,
                "go": go_version,
            },
            *([self.source_dir] if self.source_dir else []),
        )

    def go_mod(self) -> str:
        lines = [f"module hasuite.local/build/{self.name}", "", "go 1.24", ""]
        if self.module:
            lines.append(f"require {self.module} {self.version}")
        lines += [f"replace {a} => {b}" for a, b in self.replace]
        return "\n".join(lines) + "\n"


def go_version() -> str:
    return _run(["go", "env", "GOVERSION"], step="go version", timeout_s=30).strip()


def build_go(spec: GoBuild, *, cache: Path = CACHE_ROOT, progress: Progress = print) -> Path:
    """The folder with ``spec``'s binaries: cached, or built now (atomically: all or nothing)."""
    if shutil.which("go") is None:
        raise BuildError(
            f"building {spec.name} needs the Go toolchain (go) on PATH; install Go 1.24+ "
            "(https://go.dev/doc/install)"
        )
    key = spec.key(go_version())
    out = cache / "go" / f"{spec.name}-{spec.version}-{key}"
    if all((out / "bin" / b).is_file() for b, _ in spec.programs):
        return out / "bin"
    (cache / "go").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{spec.name}-", dir=cache / "go"))
    try:
        mod = work / "mod"
        mod.mkdir()
        if spec.source_dir:
            for f in spec.source_dir.iterdir():
                if f.is_file() and f.name != "go.mod":
                    shutil.copy(f, mod / f.name)
        (mod / "go.mod").write_text(spec.go_mod())
        imports = [p for _, p in spec.programs if p != "."]
        if imports:
            body = "\n".join(f'\t_ "{p}"' for p in imports)
            (mod / "tools.go").write_text(
                f"//go:build tools\n\npackage tools\n\nimport (\n{body}\n)\n"
            )
        env = {"CGO_ENABLED": "0", "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
        start = time.monotonic()
        progress(f"building {spec.name} {spec.version} (go mod tidy)")
        _run(
            ["go", "mod", "tidy"],
            step=f"{spec.name}: go mod tidy ({spec.module or 'own source'} {spec.version})",
            timeout_s=900,
            cwd=mod,
            env=env,
        )
        (work / "bin").mkdir()
        times = {}
        for binary, package in spec.programs:
            t0 = time.monotonic()
            progress(f"building {spec.name}: {binary}")
            _run(
                [
                    "go",
                    "build",
                    "-trimpath",
                    "-ldflags",
                    spec.ldflags,
                    "-o",
                    str(work / "bin" / binary),
                    package,
                ],
                step=f"{spec.name}: go build {package} ({spec.module or 'own'} {spec.version})",
                timeout_s=1800,
                cwd=mod,
                env=env,
            )
            times[binary] = round(time.monotonic() - t0, 1)
        (work / "build-times.json").write_text(
            json.dumps({"total_s": round(time.monotonic() - start, 1), "programs": times})
        )
        progress(f"built {spec.name} in {time.monotonic() - start:.0f} s: {times}")
        shutil.rmtree(work / "mod")
        if out.exists():
            shutil.rmtree(out)
        work.rename(out)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return out / "bin"


@dataclass(frozen=True, kw_only=True)
class BuildPins:
    """What env/k8s/charts.yaml pins for the tools and the node image built here."""

    kind: str
    kubernetes: str  # full version, e.g. v1.36.4
    helm: str
    etcd: str
    coredns: str
    crictl: str
    local_path_provisioner: str
    metrics_server: str
    etcd_image_tag: str  # the tag kubeadm expects (e.g. 3.6.8-0)
    pause_image_tag: str
    root: Path = Path(".")

    @classmethod
    def load(cls, root: Path) -> BuildPins:
        charts = yaml.safe_load((root / "env/k8s/charts.yaml").read_text())
        b = charts["kind"]["build"]
        return cls(
            kind=charts["kind"]["version"],
            kubernetes=b["kubernetes"],
            helm=b["helm"],
            etcd=b["etcd"],
            coredns=b["coredns"],
            crictl=b["crictl"],
            local_path_provisioner=b["local_path_provisioner"],
            metrics_server=b["metrics_server"],
            etcd_image_tag=b["etcd_image_tag"],
            pause_image_tag=b["pause_image_tag"],
            root=root,
        )

    @property
    def k8s_staging_version(self) -> str:
        return "v0." + self.kubernetes.split(".", 1)[1]

    def go_builds(self) -> dict[str, GoBuild]:
        k = self.kubernetes
        major, minor = k.lstrip("v").split(".")[:2]
        version_flags = (
            f"-s -w -X k8s.io/component-base/version.gitVersion={k} "
            f"-X k8s.io/component-base/version.gitMajor={major} "
            f"-X k8s.io/component-base/version.gitMinor={minor} "
            "-X k8s.io/component-base/version.gitTreeState=clean"
        )
        staging = tuple(
            (f"k8s.io/{m}", f"k8s.io/{m} {self.k8s_staging_version}") for m in K8S_STAGING
        )
        src = self.root / "env/kind/node-image/go"
        return {
            "kind": GoBuild(
                name="kind",
                module="sigs.k8s.io/kind",
                version=self.kind,
                programs=(("kind", "sigs.k8s.io/kind"),),
            ),
            "kubernetes": GoBuild(
                name="kubernetes",
                module="k8s.io/kubernetes",
                version=k,
                programs=tuple((p, f"k8s.io/kubernetes/cmd/{p}") for p in K8S_PROGRAMS),
                replace=staging,
                ldflags=version_flags,
            ),
            "helm": GoBuild(
                name="helm",
                module="helm.sh/helm/v3",
                version=self.helm,
                programs=(("helm", "helm.sh/helm/v3/cmd/helm"),),
                ldflags=f"-s -w -X helm.sh/helm/v3/internal/version.version={self.helm}",
            ),
            "etcd": GoBuild(
                name="etcd",
                module="go.etcd.io/etcd/server/v3",
                version=self.etcd,
                programs=(("etcd", "go.etcd.io/etcd/server/v3"),),
            ),
            "coredns": GoBuild(
                name="coredns",
                module="github.com/coredns/coredns",
                version=self.coredns,
                programs=(("coredns", "."),),
                source_dir=src / "coredns",
            ),
            "crictl": GoBuild(
                name="crictl",
                module="sigs.k8s.io/cri-tools",
                version=self.crictl,
                programs=(("crictl", "sigs.k8s.io/cri-tools/cmd/crictl"),),
                ldflags=f"-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version={self.crictl}",
            ),
            "local-path-provisioner": GoBuild(
                name="local-path-provisioner",
                module="github.com/rancher/local-path-provisioner",
                version=self.local_path_provisioner,
                programs=(("local-path-provisioner", "github.com/rancher/local-path-provisioner"),),
            ),
            "metrics-server": GoBuild(
                name="metrics-server",
                module="sigs.k8s.io/metrics-server",
                version=self.metrics_server,
                programs=(("metrics-server", "sigs.k8s.io/metrics-server/cmd/metrics-server"),),
            ),
            "pause": GoBuild(
                name="pause",
                module="",
                version="hasuite-1",
                programs=(("pause", "."),),
                source_dir=src / "pause",
            ),
        }


def tool_dir(cache: Path = CACHE_ROOT) -> Path:
    """The folder put first on PATH for kind/kubectl/helm (links into the cached builds)."""
    return cache / "tools" / "bin"


def link_tools(bins: dict[str, Path], cache: Path = CACHE_ROOT) -> Path:
    """Point tools/bin/<tool> at the cached build (replacing an older link)."""
    target = tool_dir(cache)
    target.mkdir(parents=True, exist_ok=True)
    for tool, path in bins.items():
        link = target / tool
        tmp = target / f".{tool}.tmp"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(path)
        tmp.replace(link)
    return target


def build_tools(
    pins: BuildPins,
    *,
    want: Iterable[str] = ("kind", "kubectl"),
    cache: Path = CACHE_ROOT,
    progress: Progress = print,
) -> Path:
    """kind, kubectl (and helm when asked) built or reused; returns the tool folder."""
    builds = pins.go_builds()
    bins: dict[str, Path] = {}
    for tool in want:
        spec = builds["kubernetes" if tool == "kubectl" else tool]
        bins[tool] = build_go(spec, cache=cache, progress=progress) / tool
    return link_tools(bins, cache)


# --------------------------------------------------------------------------------------------
# Debian root file system and images
# --------------------------------------------------------------------------------------------

DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = os.environ.get("HASUITE_DEBIAN_MIRROR", "http://deb.debian.org/debian")


def node_packages(root: Path) -> list[str]:
    text = (root / "env/kind/node-image/packages.txt").read_text()
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def build_rootfs(root: Path, *, cache: Path = CACHE_ROOT, progress: Progress = print) -> Path:
    """Debian bookworm with the node's packages (debootstrap), cached by the package list."""
    packages = node_packages(root)
    key = _hash(DEBIAN_SUITE, DEBIAN_MIRROR, packages)
    out = cache / "rootfs" / f"{DEBIAN_SUITE}-{key}"
    if (out / ".complete").exists():
        return out
    if shutil.which("debootstrap") is None:
        if shutil.which("apt-get") is None:
            raise BuildError("building the node image needs debootstrap (Debian/Ubuntu host)")
        progress("installing debootstrap (apt-get)")
        _run(
            ["apt-get", "install", "-y", "-qq", "debootstrap"],
            step="apt-get install debootstrap",
            timeout_s=600,
            env={"DEBIAN_FRONTEND": "noninteractive"},
        )
    (cache / "rootfs").mkdir(parents=True, exist_ok=True)
    work = cache / "rootfs" / f".{out.name}.partial"
    if work.exists():
        shutil.rmtree(work)
    start = time.monotonic()
    progress(f"debootstrap {DEBIAN_SUITE} with {len(packages)} packages")
    try:
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(packages)}",
                DEBIAN_SUITE,
                str(work),
                DEBIAN_MIRROR,
            ],
            step=f"debootstrap {DEBIAN_SUITE}",
            timeout_s=1800,
        )
    except BuildError:
        shutil.rmtree(work, ignore_errors=True)
        raise
    # apt lists and caches are not part of a node
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
        shutil.rmtree(work / junk, ignore_errors=True)
        (work / junk).mkdir(parents=True, exist_ok=True)
    (work / ".complete").write_text(f"{time.monotonic() - start:.0f} s\n")
    if out.exists():
        shutil.rmtree(out)
    work.rename(out)
    progress(f"root file system in {time.monotonic() - start:.0f} s")
    return out


def image_exists(docker: list[str], ref: str) -> bool:
    return (
        subprocess.run(
            [*docker, "image", "inspect", ref], capture_output=True, check=False, timeout=60
        ).returncode
        == 0
    )


def _copy_with_libs(rootfs: Path, binary: str, dest: Path) -> None:
    """Copy a dynamically linked binary of ``rootfs`` plus its shared libraries into dest."""
    out = _run(["chroot", str(rootfs), "ldd", binary], step=f"ldd {binary}", timeout_s=60)
    paths = [binary]
    for line in out.splitlines():
        parts = line.split()
        if "=>" in parts and len(parts) >= 3 and parts[2].startswith("/"):
            paths.append(parts[2])
        elif parts and parts[0].startswith("/"):
            paths.append(parts[0])
    for p in paths:
        src = rootfs / p.lstrip("/")
        real = src.resolve()
        if not str(real).startswith(str(rootfs.resolve())):
            real = rootfs / os.path.relpath(real, "/")
        target = dest / p.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(real, target)


@dataclass(frozen=True, kw_only=True)
class ImageSpec:
    ref: str  # name:tag
    files: dict[str, Path]  # path in the image -> file on the host
    entrypoint: tuple[str, ...] = ()
    busybox: bool = False  # add /bin/busybox and its applet links (sh, mkdir, ip, ...)
    libs_of: tuple[str, ...] = ()  # binaries of the rootfs copied with their libraries
    env: dict[str, str] = field(default_factory=dict)

    def key(self) -> str:
        return _hash(
            self.ref,
            self.entrypoint,
            self.busybox,
            self.libs_of,
            self.env,
            *[(dest, _hash(src)) for dest, src in sorted(self.files.items())],
        )


def image_key(docker: list[str], ref: str) -> str | None:
    """The ``hasuite.key`` label of a local image (None: absent or not ours)."""
    proc = subprocess.run(
        [*docker, "image", "inspect", "--format", '{{index .Config.Labels "hasuite.key"}}', ref],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def build_image(
    docker: list[str], spec: ImageSpec, rootfs: Path, *, progress: Progress = print
) -> None:
    """A single-layer image from a few files (``docker import``); skipped when it is current."""
    key = spec.key()
    if image_key(docker, spec.ref) == key:
        return
    with tempfile.TemporaryDirectory(prefix="hasuite-img-") as tmp:
        tree = Path(tmp) / "tree"
        for d in ("etc", "tmp", "bin", "usr/local/bin", "var/run"):
            (tree / d).mkdir(parents=True, exist_ok=True)
        (tree / "tmp").chmod(0o1777)
        (tree / "etc/passwd").write_text(
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"
        )
        (tree / "etc/group").write_text("root:x:0:\nnobody:x:65534:\n")
        (tree / "etc/nsswitch.conf").write_text("hosts: files dns\n")
        certs = rootfs / "etc/ssl/certs/ca-certificates.crt"
        if certs.exists():
            (tree / "etc/ssl/certs").mkdir(parents=True)
            shutil.copy(certs, tree / "etc/ssl/certs/ca-certificates.crt")
        for dest, src in spec.files.items():
            target = tree / dest.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
        if spec.busybox:
            shutil.copy2(rootfs / "bin/busybox", tree / "bin/busybox")
            applets = _run(
                ["chroot", str(rootfs), "/bin/busybox", "--list"],
                step="busybox --list",
                timeout_s=30,
            ).split()
            for applet in applets:
                link = tree / "bin" / applet
                if not link.exists():
                    link.symlink_to("busybox")
        for binary in spec.libs_of:
            _copy_with_libs(rootfs, binary, tree)
        archive = Path(tmp) / "image.tar"
        with tarfile.open(archive, "w") as tar:
            tar.add(tree, arcname=".")
        env = {"PATH": "/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin", **spec.env}
        changes: list[str] = ["--change", f"LABEL hasuite.key={key}"]
        for k, v in env.items():
            changes += ["--change", f"ENV {k}={v}"]
        if spec.entrypoint:
            changes += ["--change", f"ENTRYPOINT {json.dumps(list(spec.entrypoint))}"]
        _run(
            [*docker, "import", *changes, str(archive), spec.ref],
            step=f"docker import {spec.ref}",
            timeout_s=300,
        )
        progress(f"image {spec.ref}")


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


def kubeadm_images(kubeadm: Path, kubernetes: str) -> list[str]:
    out = _run(
        [str(kubeadm), "config", "images", "list", "--kubernetes-version", kubernetes],
        step="kubeadm config images list",
        timeout_s=60,
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


def _stage_node_rootfs(rootfs: Path, stage: Path, pins: BuildPins, bins: dict[str, Path]) -> None:
    _run(["cp", "-a", f"{rootfs}/.", str(stage)], step="copy the root file system", timeout_s=600)
    (stage / ".complete").unlink(missing_ok=True)
    k8s = bins["kubernetes"]
    for b in ("kubeadm", "kubelet", "kubectl"):
        shutil.copy2(k8s / b, stage / "usr/bin" / b)
    shutil.copy2(bins["crictl"] / "crictl", stage / "usr/local/bin/crictl")
    files = pins.root / NODE_FILES / "files"
    _run(["cp", "-a", f"{files}/.", str(stage)], step="copy node files", timeout_s=120)
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
    _run(
        ["chroot", str(stage), "systemctl", "enable", "containerd.service", "kubelet.service"],
        step="systemctl enable containerd kubelet",
        timeout_s=60,
    )


def build_node_image(
    pins: BuildPins,
    docker: list[str],
    *,
    cache: Path = CACHE_ROOT,
    progress: Progress = print,
) -> NodeImage:
    """The node image for ``pins.kubernetes``: cached by a hash of every input, or built now."""
    start = time.monotonic()
    rootfs = build_rootfs(pins.root, cache=cache, progress=progress)
    builds = pins.go_builds()
    bins = {
        name: build_go(builds[name], cache=cache, progress=progress)
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
    kubeadm_refs = kubeadm_images(bins["kubernetes"] / "kubeadm", pins.kubernetes)
    specs = component_images(pins, bins, kubeadm_refs)
    key = _hash(
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
    if image_key(docker, ref) == key:
        return result
    for spec in specs:
        build_image(docker, spec, rootfs, progress=progress)
    (cache / "kind").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hasuite-node-", dir=cache / "kind") as tmp:
        archive = Path(tmp) / "images.tar"
        t0 = time.monotonic()
        _run(
            [*docker, "save", "-o", str(archive), *[s.ref for s in specs]],
            step="docker save component images",
            timeout_s=600,
        )
        stage = Path(tmp) / "rootfs"
        stage.mkdir()
        _stage_node_rootfs(rootfs, stage, pins, bins)
        base_tar = Path(tmp) / "node.tar"
        _run(
            ["tar", "-C", str(stage), "--numeric-owner", "-cf", str(base_tar), "."],
            step="tar the node root file system",
            timeout_s=600,
        )
        shutil.rmtree(stage)
        base_ref = f"{NODE_IMAGE_REPO}:{pins.kubernetes}-{key}-base"
        _run(
            [*docker, "import", "--change", "ENV container=docker", str(base_tar), base_ref],
            step="docker import the node root file system",
            timeout_s=600,
        )
        base_tar.unlink()
        progress(
            f"node root file system imported in {time.monotonic() - t0:.0f} s; preloading images"
        )
        try:
            _preload(docker, base_ref, ref, archive, key, len(specs))
        finally:
            subprocess.run(
                [*docker, "rmi", base_ref], capture_output=True, check=False, timeout=120
            )
    _remove_older_node_images(docker, keep=ref)
    built = time.monotonic() - start
    progress(f"node image {ref} ready in {built:.0f} s")
    return NodeImage(
        ref=ref,
        kubernetes=pins.kubernetes,
        coredns_tag=pins.coredns,
        images=result.images,
        build_s=built,
    )


def _remove_older_node_images(docker: list[str], *, keep: str) -> None:
    """Older builds of the node image (~1 GB each); one a cluster still runs on stays (rmi
    without --force refuses an image in use)."""
    listed = subprocess.run(
        [*docker, "images", NODE_IMAGE_REPO, "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    ).stdout.split()
    for ref in listed:
        if ref != keep:
            subprocess.run([*docker, "rmi", ref], capture_output=True, check=False, timeout=120)


def _preload(
    docker: list[str], base_ref: str, ref: str, archive: Path, key: str, count: int
) -> None:
    """kind's contract: the images sit in containerd's k8s.io namespace of the image itself.

    containerd runs in a container of the base image (its content store is then part of the
    committed layer, which Docker copies into each node's /var volume at creation); the
    archive is imported without unpacking (no overlay mount needed; the node unpacks on first
    use).
    """
    name = f"hasuite-preload-{key}"
    subprocess.run([*docker, "rm", "-f", name], capture_output=True, check=False, timeout=60)
    _run(
        [
            *docker,
            "run",
            "-d",
            "--name",
            name,
            "--privileged",
            "--entrypoint",
            "/usr/bin/containerd",
            "-v",
            f"{archive}:/hasuite-images.tar:ro",
            base_ref,
        ],
        step="start containerd for the preload",
        timeout_s=120,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            probe = subprocess.run(
                [*docker, "exec", name, "ctr", "version"],
                capture_output=True,
                check=False,
                timeout=30,
            )
            if probe.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise BuildError(
                    f"preload: containerd in {name} did not answer: {probe.stderr.decode()[-500:]}"
                )
            time.sleep(1)
        _run(
            [
                *docker,
                "exec",
                name,
                "ctr",
                "--namespace=k8s.io",
                "images",
                "import",
                "--no-unpack",
                "--all-platforms",
                "--digests",
                "/hasuite-images.tar",
            ],
            step="ctr images import (preload)",
            timeout_s=900,
        )
        listed = _run(
            [*docker, "exec", name, "ctr", "--namespace=k8s.io", "images", "ls", "-q"],
            step="ctr images ls",
            timeout_s=60,
        ).split()
        named = [r for r in listed if not r.startswith("sha256:")]
        if len(named) < count:
            raise BuildError(f"preload: expected {count} images in k8s.io, found {named}")
        _run([*docker, "stop", "-t", "30", name], step="stop containerd", timeout_s=90)
        _run(
            [
                *docker,
                "commit",
                "--change",
                'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]',
                "--change",
                "CMD []",
                "--change",
                "ENV container=docker",
                "--change",
                f"LABEL hasuite.key={key}",
                name,
                ref,
            ],
            step="docker commit the node image",
            timeout_s=600,
        )
    finally:
        subprocess.run([*docker, "rm", "-f", name], capture_output=True, check=False, timeout=60)
