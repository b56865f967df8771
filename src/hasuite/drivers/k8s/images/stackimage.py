"""The stack image of the local-images overlay, built on this machine (no registry).

One image plays every role of the overlay (env/k8s/overlays/local-images): the shop (Django on
gunicorn, Celery worker and beat), PostgreSQL with Patroni on its Kubernetes DCS, PgBouncer,
Redis and Sentinel, nginx, Prometheus, Alertmanager, the exporters and the alert receiver. Each
pod runs one of its programs; the manifests say which. One shared image keeps the build to one
Debian root file system and one venv, and ``kind load`` copies it to the nodes once.

Built from what this machine reaches: Debian bookworm packages (debootstrap, the package list in
``image/packages.txt``), PyPI (the shop's ``env/app/requirements.txt`` and
``image/requirements.txt`` into ``/opt/hasuite/venv``), and the shop's code at ``/app``. Cached
by a content hash of all of it (the tag is the hash), so an unchanged image is never rebuilt.
The manifests name :data:`~hasuite.drivers.k8s.names.PLACEHOLDER`; :func:`pin_image` puts the
built tag in before apply. The image's names (repository, placeholder, venv, exporter path) are
in :mod:`hasuite.drivers.k8s.names`, where the manifests read them too.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hasuite.drivers.k8s.images.build import (
    BuildError,
    BuildSettings,
    Progress,
    build_rootfs,
    content_hash,
    image_key,
    run_step,
)
from hasuite.drivers.k8s.names import EXPORTER_FILE, PLACEHOLDER, STACK_IMAGE_REPO, VENV

__all__ = [
    "OVERLAY",
    "build_stack_image",
    "pin_image",
    "stack_packages",
    "stack_requirements",
]

OVERLAY = Path("env/k8s/overlays/local-images")
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"
#: PgBouncer's exporter (the lab's own, src/hasuite/drivers/local/pgbouncer_exporter.py; why
#: not Debian's is in its docstring), copied into the image as a plain script.
EXPORTER_SOURCE = Path("src/hasuite/drivers/local/pgbouncer_exporter.py")
#: The shop's user in the image (env/app/Dockerfile runs the shop as 10001 too).
SHOP_UID = 10001


#: The image's configuration (``docker import --change``); SHOP_BIND as env/app/Dockerfile sets
#: it, so gunicorn listens on the pod's address, not on 127.0.0.1.
IMAGE_CONFIG = (
    f"ENV PATH={VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 LANG=C.UTF-8 SHOP_BIND=0.0.0.0:8000",
    "WORKDIR /app",
)


def _lines(path: Path) -> list[str]:
    out = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


def stack_packages(root: Path) -> list[str]:
    return _lines(root / OVERLAY / "image/packages.txt")


def stack_requirements(root: Path) -> list[str]:
    """The venv's requirements: the shop's pins, then the overlay's own (Patroni)."""
    return _lines(root / "env/app/requirements.txt") + _lines(
        root / OVERLAY / "image/requirements.txt"
    )


def _ignore(_dir: str, names: list[str]) -> set[str]:
    return {n for n in names if n in ("__pycache__", ".pytest_cache") or n.endswith(".pyc")}


def build_stack_image(
    root: Path,
    docker: list[str],
    *,
    settings: BuildSettings,
    progress: Progress = print,
) -> str:
    """The stack image's reference (``hasuite.local/stack:<hash>``): reused, or built now."""
    start = time.monotonic()
    cache = settings.cache
    rootfs = packaged_rootfs(stack_packages(root), settings=settings, progress=progress)
    requirements = stack_requirements(root)
    key = content_hash(
        rootfs.name,
        requirements,
        VENV,
        SHOP_UID,
        IMAGE_CONFIG,
        root / "env/app",
        root / EXPORTER_SOURCE,
    )
    ref = f"{STACK_IMAGE_REPO}:{key}"
    if image_key(docker, ref, env=settings.env) == key:
        progress(f"stack image {ref} is current")
        return ref
    (cache / "stack").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hasuite-stack-", dir=cache / "stack") as tmp:
        stage = Path(tmp) / "rootfs"
        run_step(
            ["cp", "-a", f"{rootfs}/.", str(stage)],
            step="stack image: copy the root file system",
            timeout_s=600,
            env=settings.env,
        )
        (stage / ".complete").unlink(missing_ok=True)
        _install_venv(stage, requirements, settings, progress)
        _install_shop(root, stage, settings)
        archive = Path(tmp) / "stack.tar"
        run_step(
            ["tar", "-C", str(stage), "--numeric-owner", "-cf", str(archive), "."],
            step="stack image: tar the root file system",
            timeout_s=900,
            env=settings.env,
        )
        shutil.rmtree(stage)
        changes = ["--change", f"LABEL hasuite.key={key}"]
        for change in IMAGE_CONFIG:
            changes += ["--change", change]
        run_step(
            [*docker, "import", *changes, str(archive), ref],
            step=f"stack image: docker import {ref}",
            timeout_s=900,
            env=settings.env,
        )
    progress(f"stack image {ref} built in {time.monotonic() - start:.0f} s")
    return ref


#: What debootstrap installs; the stack's packages go in with apt-get after it (below).
BASE_PACKAGES = ("ca-certificates", "apt-utils")


def packaged_rootfs(
    packages: list[str], *, settings: BuildSettings, progress: Progress = print
) -> Path:
    """Debian bookworm with the stack's packages, cached by the package list.

    Not debootstrap's ``--include``: packages are installed by apt-get in the chroot with
    services kept from starting (policy-rc.d) and without postgresql-common's default
    ``main`` cluster, which Patroni would not use.
    """
    key = content_hash("stack-rootfs", BASE_PACKAGES, packages)
    cache = settings.cache
    out = cache / "rootfs" / f"stack-{key}"
    if (out / ".complete").exists():
        return out
    base = build_rootfs(BASE_PACKAGES, settings=settings, progress=progress)
    work = cache / "rootfs" / f".stack-{key}.partial"
    if work.exists():
        shutil.rmtree(work)
    t0 = time.monotonic()
    run_step(
        ["cp", "-a", f"{base}/.", str(work)],
        step="stack rootfs: copy",
        timeout_s=600,
        env=settings.env,
    )
    (work / ".complete").unlink(missing_ok=True)
    policy = work / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    conf = work / "etc/postgresql-common/createcluster.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text("create_main_cluster = false\n")
    shutil.copy("/etc/resolv.conf", work / "etc/resolv.conf")
    try:
        _apt_install(work, packages, settings, progress)
    except BuildError:
        shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(work / "var/lib/apt/lists", ignore_errors=True)
    (work / "var/lib/apt/lists").mkdir(parents=True, exist_ok=True)
    policy.unlink()
    (work / "etc/resolv.conf").write_text("")
    (work / ".complete").write_text(f"{time.monotonic() - t0:.0f} s\n")
    if out.exists():
        shutil.rmtree(out)
    work.rename(out)
    progress(f"stack rootfs in {time.monotonic() - t0:.0f} s")
    return out


def _apt_install(
    work: Path, packages: list[str], settings: BuildSettings, progress: Progress
) -> None:
    """apt-get install ``packages`` in the chroot ``work``, with proc mounted while it runs."""
    env = settings.env_with(DEBIAN_FRONTEND="noninteractive", LANG="C.UTF-8")
    run_step(
        ["mount", "-t", "proc", "proc", str(work / "proc")],
        step="mount proc",
        timeout_s=30,
        env=settings.env,
    )
    try:
        run_step(
            ["chroot", str(work), "apt-get", "update", "-qq"],
            step="stack rootfs: apt-get update",
            timeout_s=600,
            env=env,
        )
        progress(f"stack rootfs: apt-get install {len(packages)} packages")
        run_step(
            [
                "chroot",
                str(work),
                "apt-get",
                "install",
                "-y",
                "-qq",
                "--no-install-recommends",
                *packages,
            ],
            step="stack rootfs: apt-get install",
            timeout_s=1800,
            env=env,
        )
        run_step(
            ["chroot", str(work), "apt-get", "clean"],
            step="apt-get clean",
            timeout_s=120,
            env=settings.env,
        )
    finally:
        # also on Ctrl-C: proc is never left mounted in the cache
        run_step(["umount", str(work / "proc")], step="umount proc", timeout_s=30, env=settings.env)


def _install_venv(
    stage: Path, requirements: list[str], settings: BuildSettings, progress: Progress
) -> None:
    """The venv from PyPI, inside the image's own Python (chroot; the host's DNS for pip)."""
    resolv = stage / "etc/resolv.conf"
    resolv.unlink(missing_ok=True)
    shutil.copy("/etc/resolv.conf", resolv)
    # pip in the chroot trusts what the host's pip trusts (a machine may reach PyPI through a
    # TLS proxy with its own CA); the bundle is removed again, it is not part of the image
    host_env = settings.env
    host_ca = Path(host_env.get("PIP_CERT") or host_env.get("SSL_CERT_FILE") or HOST_CA)
    staged_ca = stage / "tmp/hasuite-host-ca.crt"
    env = {k: v for k, v in host_env.items() if not k.startswith("PIP_")}
    if host_ca.is_file():
        shutil.copy(host_ca, staged_ca)
        ca = "/" + str(staged_ca.relative_to(stage))
        env.update(PIP_CERT=ca, SSL_CERT_FILE=ca, REQUESTS_CA_BUNDLE=ca)
    try:
        progress(f"stack image: venv with {len(requirements)} requirements (PyPI)")
        run_step(
            ["chroot", str(stage), "/usr/bin/python3", "-m", "venv", VENV],
            step="stack image: python3 -m venv",
            timeout_s=300,
            env=settings.env,
        )
        run_step(
            [
                "chroot",
                str(stage),
                f"{VENV}/bin/pip",
                "install",
                "-q",
                "--no-cache-dir",
                "--disable-pip-version-check",
                *requirements,
            ],
            step="stack image: pip install",
            timeout_s=1800,
            env=env,
        )
    finally:
        staged_ca.unlink(missing_ok=True)
        resolv.unlink(missing_ok=True)
        resolv.write_text("")  # kubelet mounts the pod's own


def _install_shop(root: Path, stage: Path, settings: BuildSettings) -> None:
    exporter = stage / EXPORTER_FILE.lstrip("/")
    exporter.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(root / EXPORTER_SOURCE, exporter)
    app = stage / "app"
    if app.exists():
        shutil.rmtree(app)
    shutil.copytree(root / "env/app", app, ignore=_ignore)
    run_step(
        ["chroot", str(stage), f"{VENV}/bin/python", "-m", "compileall", "-q", "/app"],
        step="stack image: compile the shop",
        timeout_s=300,
        env=settings.env,
    )
    passwd = (stage / "etc/passwd").read_text()
    if f":{SHOP_UID}:" not in passwd:
        run_step(
            [
                "chroot",
                str(stage),
                "useradd",
                "--system",
                "--uid",
                str(SHOP_UID),
                "--user-group",
                "--home-dir",
                "/app",
                "--shell",
                "/usr/sbin/nologin",
                "shop",
            ],
            step="stack image: add the shop user",
            timeout_s=60,
            env=settings.env,
        )


def pin_image(docs: Iterable[dict[str, Any]], ref: str) -> list[dict[str, Any]]:
    """The overlay's documents with every container image :data:`PLACEHOLDER` set to ``ref``
    (pull policy Never: the image exists only on the nodes). BuildError when none names it."""
    out = []
    pinned = 0
    for doc in docs:
        spec = doc.get("spec", {})
        template = spec.get("jobTemplate", {}).get("spec", spec).get("template", {})
        pod = template.get("spec", {})
        for c in [*pod.get("initContainers", []), *pod.get("containers", [])]:
            if c.get("image") == PLACEHOLDER:
                c["image"] = ref
                c["imagePullPolicy"] = "Never"
                pinned += 1
        out.append(doc)
    if not pinned:
        raise BuildError(f"no container of the overlay names {PLACEHOLDER}: nothing to pin")
    return out
