"""Go programs built from the Go module proxy (kind, kubectl, helm, the Kubernetes binaries and
the node's other programs), each cached by version and content hash: the pins come from
env/k8s/charts.yaml (:class:`BuildPins`)."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from hasuite.drivers.k8s.build import CACHE_ROOT, BuildError, Progress, content_hash, run_step

log = logging.getLogger(__name__)

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
    #: build inside the module's own source (its go.mod, replace directives and go.sum), not in
    #: a wrapper: for programs whose module only builds with its own replaces (package paths
    #: are then relative, "./cmd/operator")
    in_module: bool = False
    #: module paths whose checksums the checksum database does not know (GONOSUMDB): their
    #: go.sum lines are trusted as the module ships them
    no_sumdb: tuple[str, ...] = ()

    def key(self, go_version: str) -> str:
        return content_hash(
            {
                "module": self.module,
                "version": self.version,
                "programs": self.programs,
                "replace": self.replace,
                "ldflags": self.ldflags,
                "go": go_version,
                # only when set: the builds that predate them keep their cache keys
                **({"in_module": True} if self.in_module else {}),
                **({"no_sumdb": self.no_sumdb} if self.no_sumdb else {}),
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
    return run_step(["go", "env", "GOVERSION"], step="go version", timeout_s=30).strip()


def cached_build(spec: GoBuild, cache: Path = CACHE_ROOT) -> Path | None:
    """The folder with ``spec``'s binaries when an earlier build left all of them, else None."""
    out = cache / "go" / f"{spec.name}-{spec.version}-{spec.key(go_version())}" / "bin"
    return out if all((out / b).is_file() for b, _ in spec.programs) else None


def build_go(spec: GoBuild, *, cache: Path = CACHE_ROOT, progress: Progress = print) -> Path:
    """The folder with ``spec``'s binaries: cached, or built now (atomically: all or nothing)."""
    if shutil.which("go") is None:
        raise BuildError(
            f"building {spec.name} needs the Go toolchain (go) on PATH; install Go 1.24+ "
            "(https://go.dev/doc/install)"
        )
    done = cached_build(spec, cache)
    if done is not None:
        return done
    out = cache / "go" / f"{spec.name}-{spec.version}-{spec.key(go_version())}"
    (cache / "go").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{spec.name}-", dir=cache / "go"))
    try:
        mod = work / "mod"
        env = {"CGO_ENABLED": "0", "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
        if spec.no_sumdb:
            env["GONOSUMDB"] = ",".join(spec.no_sumdb)
        start = time.monotonic()
        if spec.in_module:
            _module_source(spec, mod, env, progress)
        else:
            _wrapper_module(spec, mod, env, progress)
        (work / "bin").mkdir()
        times = {}
        for binary, package in spec.programs:
            t0 = time.monotonic()
            progress(f"building {spec.name}: {binary}")
            run_step(
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


def _wrapper_module(spec: GoBuild, mod: Path, env: dict[str, str], progress: Progress) -> None:
    """A module of our own that requires ``spec.module`` and imports its programs."""
    mod.mkdir()
    if spec.source_dir:
        for f in spec.source_dir.iterdir():
            if f.is_file() and f.name != "go.mod":
                shutil.copy(f, mod / f.name)
    (mod / "go.mod").write_text(spec.go_mod())
    imports = [p for _, p in spec.programs if p != "."]
    if imports:
        body = "\n".join(f'\t_ "{p}"' for p in imports)
        (mod / "tools.go").write_text(f"//go:build tools\n\npackage tools\n\nimport (\n{body}\n)\n")
    progress(f"building {spec.name} {spec.version} (go mod tidy)")
    run_step(
        ["go", "mod", "tidy"],
        step=f"{spec.name}: go mod tidy ({spec.module or 'own source'} {spec.version})",
        timeout_s=900,
        cwd=mod,
        env=env,
    )


def _module_source(spec: GoBuild, mod: Path, env: dict[str, str], progress: Progress) -> None:
    """``spec.module``'s own source from the module proxy, copied writable to ``mod``."""
    progress(f"building {spec.name} {spec.version} (go mod download)")
    what = f"{spec.module}@{spec.version}"
    out = run_step(
        ["go", "mod", "download", "-json", what],
        step=f"{spec.name}: go mod download {what}",
        timeout_s=900,
        cwd=mod.parent,
        env={k: v for k, v in env.items() if k != "GOFLAGS"},  # outside a module: no -mod
    )
    try:
        source = Path(json.loads(out)["Dir"])
    except (ValueError, KeyError) as exc:
        raise BuildError(f"{spec.name}: go mod download {what} named no source folder") from exc
    shutil.copytree(source, mod)
    for path in [mod, *mod.rglob("*")]:  # the module cache is read-only
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o200)
    for old in _missing_local_replaces(mod):
        # a nested module of the repository is not in the module's zip: build against its
        # published version (the one go.mod requires) instead of the folder
        run_step(
            ["go", "mod", "edit", f"-dropreplace={old}"],
            step=f"{spec.name}: go mod edit -dropreplace={old}",
            timeout_s=60,
            cwd=mod,
            env=env,
        )


def _missing_local_replaces(mod: Path) -> list[str]:
    """The replaced module paths of ``mod``'s go.mod whose local folder is not there."""
    out = []
    for line in (mod / "go.mod").read_text().splitlines():
        left, arrow, right = line.strip().removeprefix("replace ").partition("=>")
        target = right.strip()
        if arrow and target.startswith(("./", "../")) and not (mod / target).is_dir():
            out.append(left.split()[0])
    return out


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
