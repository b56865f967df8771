"""The Go-based pieces of the official stack, built from the Go module proxy where they build.

The chart flavor runs each of these from its registry image. A machine without a registry can
only run what it builds, so this module says, piece by piece, whether its module builds here and
how long it takes (``python -m hasuite.drivers.k8s.images.official``), and what the
local-images overlay does instead. Each build is cached like the node image's programs
(gobuild.build_go: version + content hash), so a second measurement reuses it and reports the
first build's time.

A measurement script with its own entry point (:func:`main`): nothing in src imports it (it
stays beside the builds it measures; tests/k8s/test_official.py runs it).

Not every piece can be built: a piece whose program lives in a module the proxy does not serve,
or whose code is under the AGPL (the project takes no AGPL code), has a ``blocked`` reason
instead of a build.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from hasuite.drivers.k8s.images.build import BuildError, BuildSettings, Progress, build_settings
from hasuite.drivers.k8s.images.gobuild import GoBuild, build_go, cached_build
from hasuite.paths import project_dir

__all__ = ["Outcome", "Piece", "load_pieces", "main", "measure"]


@dataclass(frozen=True, kw_only=True)
class Piece:
    """One official piece: what plays its role on the built flavor, and how it is built."""

    name: str
    role: str
    #: what the local-images overlay runs in its place (or "included" when it runs this build)
    instead: str
    build: GoBuild | None = None
    blocked: str = ""  # why it is not built (no build then)


@dataclass(frozen=True, kw_only=True)
class Outcome:
    name: str
    status: str  # built | cached | failed | blocked
    seconds: float | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def load_pieces(root: Path | None = None) -> list[Piece]:
    """The pieces with the versions pinned in env/k8s/charts.yaml (``kind.official``)."""
    root = root or project_dir()
    pins = yaml.safe_load((root / "env/k8s/charts.yaml").read_text())["kind"]["official"]
    out = []
    for name, entry in pins.items():
        build = None
        if "module" in entry:
            build = GoBuild(
                name=f"official-{name}",
                module=entry["module"],
                version=entry["version"],
                programs=((name, entry.get("package", ".")),),
                in_module=True,
                no_sumdb=tuple(entry.get("no_sumdb", ())),
            )
        out.append(
            Piece(
                name=name,
                role=entry["role"],
                instead=entry["instead"],
                build=build,
                blocked=entry.get("blocked", ""),
            )
        )
    return out


def _build_seconds(folder: Path) -> float | None:
    try:
        return float(json.loads((folder / "build-times.json").read_text())["total_s"])
    except (OSError, ValueError, KeyError):
        return None


def measure(
    pieces: Iterable[Piece], *, settings: BuildSettings, progress: Progress = print
) -> list[Outcome]:
    """Build each piece (or reuse its cached build); a failure is kept, the next one goes on."""
    out = []
    for piece in pieces:
        if piece.build is None:
            out.append(Outcome(name=piece.name, status="blocked", detail=piece.blocked))
            continue
        cached = cached_build(piece.build, settings) is not None
        t0 = time.monotonic()
        try:
            bin_dir = build_go(piece.build, settings=settings, progress=progress)
        except BuildError as exc:
            out.append(
                Outcome(
                    name=piece.name,
                    status="failed",
                    seconds=round(time.monotonic() - t0, 1),
                    detail=str(exc)[-600:],
                )
            )
            continue
        took = time.monotonic() - t0
        first = _build_seconds(bin_dir.parent)  # a cached build: the time of its first build
        size = (bin_dir / piece.name).stat().st_size / 2**20
        out.append(
            Outcome(
                name=piece.name,
                status="cached" if cached else "built",
                seconds=first if first is not None else round(took, 1),
                detail=f"{piece.build.module} {piece.build.version}, {size:.0f} MiB, {bin_dir}",
            )
        )
    return out


def main(argv: list[str] | None, environ: Mapping[str, str]) -> int:
    """The script: ``environ`` is its process's environment (HASUITE_CACHE_DIR, and the
    environment the builds run with)."""
    ap = argparse.ArgumentParser(
        prog="python -m hasuite.drivers.k8s.images.official",
        description="Build the official stack's Go pieces from the Go module proxy and time them.",
    )
    ap.add_argument("names", nargs="*", help="pieces (default: all)")
    ap.add_argument("--json", type=Path, help="write the outcomes to this file")
    args = ap.parse_args(argv)
    pieces = load_pieces()
    known = {p.name for p in pieces}
    unknown = sorted(set(args.names) - known)
    if unknown:
        print(
            f"unknown piece(s) {', '.join(unknown)}; env/k8s/charts.yaml (kind.official) has: "
            f"{', '.join(sorted(known))}",
            file=sys.stderr,
        )
        return 2
    chosen = [p for p in pieces if not args.names or p.name in args.names]
    outcomes = measure(
        chosen,
        settings=build_settings(environ),
        progress=lambda msg: print(f"  {msg}", flush=True),
    )
    for o in outcomes:
        took = f"{o.seconds:.0f} s" if o.seconds is not None else "-"
        print(f"{o.name:22} {o.status:8} {took:>7}  {o.detail}")
    if args.json:
        args.json.write_text(json.dumps([o.to_dict() for o in outcomes], indent=2) + "\n")
    return 1 if any(o.status == "failed" for o in outcomes) else 0


if __name__ == "__main__":  # the script's entry point
    raise SystemExit(main(sys.argv[1:], os.environ))
