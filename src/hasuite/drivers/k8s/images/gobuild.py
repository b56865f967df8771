"""Go programs built from the Go module proxy (kind, kubectl, helm, the Kubernetes binaries and
the node's other programs), each cached by version and content hash: the pins come from
env/k8s/charts.yaml (:class:`~hasuite.drivers.k8s.images.pins.BuildPins`)."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hasuite.drivers.k8s.images.build import (
    BuildError,
    BuildSettings,
    Progress,
    content_hash,
    run_step,
)

log = logging.getLogger(__name__)


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


def go_version(env: Mapping[str, str]) -> str:
    return run_step(["go", "env", "GOVERSION"], step="go version", timeout_s=30, env=env).strip()


def cached_build(spec: GoBuild, settings: BuildSettings) -> Path | None:
    """The folder with ``spec``'s binaries when an earlier build left all of them, else None."""
    key = spec.key(go_version(settings.env))
    out = settings.cache / "go" / f"{spec.name}-{spec.version}-{key}" / "bin"
    return out if all((out / b).is_file() for b, _ in spec.programs) else None


def build_go(spec: GoBuild, *, settings: BuildSettings, progress: Progress = print) -> Path:
    """The folder with ``spec``'s binaries: cached, or built now (atomically: all or nothing)."""
    if shutil.which("go", path=settings.env.get("PATH")) is None:
        raise BuildError(
            f"building {spec.name} needs the Go toolchain (go) on PATH; install Go 1.24+ "
            "(https://go.dev/doc/install)"
        )
    done = cached_build(spec, settings)
    if done is not None:
        return done
    cache = settings.cache
    out = cache / "go" / f"{spec.name}-{spec.version}-{spec.key(go_version(settings.env))}"
    (cache / "go").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{spec.name}-", dir=cache / "go"))
    try:
        mod = work / "mod"
        env = settings.env_with(CGO_ENABLED="0", GOFLAGS="-mod=mod", GOTOOLCHAIN="local")
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
