"""The tool folder put first on PATH for kind, kubectl and helm: links into their cached Go
builds (built from the pins of env/k8s/charts.yaml when they are not there yet)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from hasuite.drivers.k8s.images.build import CACHE_ROOT, BuildSettings, Progress
from hasuite.drivers.k8s.images.gobuild import build_go
from hasuite.drivers.k8s.images.pins import BuildPins


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
    settings: BuildSettings,
    progress: Progress = print,
) -> Path:
    """kind, kubectl (and helm when asked) built or reused; returns the tool folder."""
    builds = pins.go_builds()
    bins: dict[str, Path] = {}
    for tool in want:
        spec = builds["kubernetes" if tool == "kubectl" else tool]
        bins[tool] = build_go(spec, settings=settings, progress=progress) / tool
    return link_tools(bins, settings.cache)
