"""Building on this machine without a registry: cached steps, a Debian root file system, and
images made with ``docker import`` (used by the kind node image and the stack's images).

Every artifact is cached under :data:`CACHE_ROOT` (outside the checkout), in a folder or tag
named by version and a content hash of everything that goes into it (:func:`content_hash`), so
the next build (or the next session on the same machine) reuses it.

Nothing here reads the process environment: the cache folder, the Debian mirror and the
environment every build command runs with come in as :class:`BuildSettings`, made once by the
entry point (:func:`build_settings`) and passed down.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hasuite.errors import HasuiteError

log = logging.getLogger(__name__)

#: Where builds are cached unless the entry point says otherwise (``HASUITE_CACHE_DIR``).
CACHE_ROOT = Path("/var/cache/hasuite")
DEBIAN_SUITE = "bookworm"
#: The Debian mirror unless the entry point says otherwise (``HASUITE_DEBIAN_MIRROR``).
DEBIAN_MIRROR = "http://deb.debian.org/debian"


@dataclass(frozen=True, kw_only=True)
class BuildSettings:
    """What a build takes from the machine, decided once by the entry point."""

    cache: Path = CACHE_ROOT
    debian_mirror: str = DEBIAN_MIRROR
    #: the environment every build command runs with (the entry point's; the provisioning adds
    #: the engine's DOCKER_HOST once it is known, :meth:`with_env`)
    env: Mapping[str, str] = field(default_factory=dict)

    def with_env(self, env: Mapping[str, str]) -> BuildSettings:
        return dataclasses.replace(self, env=dict(env))

    def env_with(self, **extra: str) -> dict[str, str]:
        """The commands' environment with ``extra`` on top."""
        return {**self.env, **extra}


def build_settings(environ: Mapping[str, str]) -> BuildSettings:
    """The builds' settings from the entry point's environment: ``HASUITE_CACHE_DIR`` (default
    :data:`CACHE_ROOT`), ``HASUITE_DEBIAN_MIRROR`` (default :data:`DEBIAN_MIRROR`); the commands
    run with ``environ`` itself."""
    return BuildSettings(
        cache=Path(environ.get("HASUITE_CACHE_DIR", str(CACHE_ROOT))),
        debian_mirror=environ.get("HASUITE_DEBIAN_MIRROR", DEBIAN_MIRROR),
        env=dict(environ),
    )


class BuildError(HasuiteError):
    """A tool or image could not be built; the message names the module and the step."""


Progress = Callable[[str], None]


def content_hash(*parts: Any) -> str:
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


def run_step(
    argv: list[str],
    *,
    step: str,
    timeout_s: float,
    env: Mapping[str, str],
    cwd: Path | None = None,
    input_path: Path | None = None,
) -> str:
    """Run one build command with exactly ``env`` as its environment; its stdout, or
    BuildError naming ``step``."""
    log.info("kind build: %s: %s", step, " ".join(argv))
    stdin = input_path.open("rb") if input_path else subprocess.DEVNULL
    try:
        proc = subprocess.run(
            argv,
            cwd=cwd,
            env=dict(env),
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
# Debian root file system and images
# --------------------------------------------------------------------------------------------


def build_rootfs(
    packages: Sequence[str], *, settings: BuildSettings, progress: Progress = print
) -> Path:
    """Debian bookworm with ``packages`` (debootstrap), cached by the package list."""
    packages = list(packages)
    cache = settings.cache
    key = content_hash(DEBIAN_SUITE, settings.debian_mirror, packages)
    out = cache / "rootfs" / f"{DEBIAN_SUITE}-{key}"
    if (out / ".complete").exists():
        return out
    if shutil.which("debootstrap") is None:
        if shutil.which("apt-get") is None:
            raise BuildError("building the node image needs debootstrap (Debian/Ubuntu host)")
        progress("installing debootstrap (apt-get)")
        run_step(
            ["apt-get", "install", "-y", "-qq", "debootstrap"],
            step="apt-get install debootstrap",
            timeout_s=600,
            env=settings.env_with(DEBIAN_FRONTEND="noninteractive"),
        )
    (cache / "rootfs").mkdir(parents=True, exist_ok=True)
    work = cache / "rootfs" / f".{out.name}.partial"
    if work.exists():
        shutil.rmtree(work)
    start = time.monotonic()
    progress(f"debootstrap {DEBIAN_SUITE} with {len(packages)} packages")
    try:
        run_step(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(packages)}",
                DEBIAN_SUITE,
                str(work),
                settings.debian_mirror,
            ],
            step=f"debootstrap {DEBIAN_SUITE}",
            timeout_s=1800,
            env=settings.env,
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


def image_exists(docker: list[str], ref: str, *, env: Mapping[str, str]) -> bool:
    return (
        subprocess.run(
            [*docker, "image", "inspect", ref],
            capture_output=True,
            check=False,
            timeout=60,
            env=dict(env),
        ).returncode
        == 0
    )


def _copy_with_libs(rootfs: Path, binary: str, dest: Path, env: Mapping[str, str]) -> None:
    """Copy a dynamically linked binary of ``rootfs`` plus its shared libraries into dest."""
    out = run_step(
        ["chroot", str(rootfs), "ldd", binary], step=f"ldd {binary}", timeout_s=60, env=env
    )
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
        return content_hash(
            self.ref,
            self.entrypoint,
            self.busybox,
            self.libs_of,
            self.env,
            *[(dest, content_hash(src)) for dest, src in sorted(self.files.items())],
        )


def image_key(docker: list[str], ref: str, *, env: Mapping[str, str]) -> str | None:
    """The ``hasuite.key`` label of a local image (None: absent or not ours)."""
    proc = subprocess.run(
        [*docker, "image", "inspect", "--format", '{{index .Config.Labels "hasuite.key"}}', ref],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=dict(env),
    )
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def build_image(
    docker: list[str],
    spec: ImageSpec,
    rootfs: Path,
    *,
    settings: BuildSettings,
    progress: Progress = print,
) -> None:
    """A single-layer image from a few files (``docker import``); skipped when it is current."""
    key = spec.key()
    if image_key(docker, spec.ref, env=settings.env) == key:
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
            applets = run_step(
                ["chroot", str(rootfs), "/bin/busybox", "--list"],
                step="busybox --list",
                timeout_s=30,
                env=settings.env,
            ).split()
            for applet in applets:
                link = tree / "bin" / applet
                if not link.exists():
                    link.symlink_to("busybox")
        for binary in spec.libs_of:
            _copy_with_libs(rootfs, binary, tree, settings.env)
        archive = Path(tmp) / "image.tar"
        with tarfile.open(archive, "w") as tar:
            tar.add(tree, arcname=".")
        env = {"PATH": "/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin", **spec.env}
        changes: list[str] = ["--change", f"LABEL hasuite.key={key}"]
        for k, v in env.items():
            changes += ["--change", f"ENV {k}={v}"]
        if spec.entrypoint:
            changes += ["--change", f"ENTRYPOINT {json.dumps(list(spec.entrypoint))}"]
        run_step(
            [*docker, "import", *changes, str(archive), spec.ref],
            step=f"docker import {spec.ref}",
            timeout_s=300,
            env=settings.env,
        )
        progress(f"image {spec.ref}")
