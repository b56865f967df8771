"""What env/k8s/charts.yaml pins for the tools and the node image built on this machine, and the
Go builds (:class:`~hasuite.drivers.k8s.images.gobuild.GoBuild`) those pins make."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from hasuite.drivers.k8s.images.gobuild import GoBuild

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
