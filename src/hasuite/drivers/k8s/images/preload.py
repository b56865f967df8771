"""kind's preload contract: the images cluster creation needs sit in containerd's ``k8s.io``
namespace of the node image itself (a step of :func:`.kindbuild.build_node_image`)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from hasuite.drivers.k8s.images.build import BuildError, run_step


# size: starts a containerd in the staged root, imports every image, stops it, with
# the cleanup each failure needs.
def preload(
    docker: list[str],
    base_ref: str,
    ref: str,
    archive: Path,
    key: str,
    count: int,
    env: Mapping[str, str],
) -> None:
    """kind's contract: the images sit in containerd's k8s.io namespace of the image itself.

    containerd runs in a container of the base image (its content store is then part of the
    committed layer, which Docker copies into each node's /var volume at creation); the
    archive is imported without unpacking (no overlay mount needed; the node unpacks on first
    use).
    """
    name = f"hasuite-preload-{key}"
    subprocess.run(
        [*docker, "rm", "-f", name], capture_output=True, check=False, timeout=60, env=dict(env)
    )
    run_step(
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
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            probe = subprocess.run(
                [*docker, "exec", name, "ctr", "version"],
                capture_output=True,
                check=False,
                timeout=30,
                env=dict(env),
            )
            if probe.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise BuildError(
                    f"preload: containerd in {name} did not answer: {probe.stderr.decode()[-500:]}"
                )
            time.sleep(1)
        run_step(
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
            env=env,
        )
        listed = run_step(
            [*docker, "exec", name, "ctr", "--namespace=k8s.io", "images", "ls", "-q"],
            step="ctr images ls",
            timeout_s=60,
            env=env,
        ).split()
        named = [r for r in listed if not r.startswith("sha256:")]
        if len(named) < count:
            raise BuildError(f"preload: expected {count} images in k8s.io, found {named}")
        run_step([*docker, "stop", "-t", "30", name], step="stop containerd", timeout_s=90, env=env)
        run_step(
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
            env=env,
        )
    finally:
        subprocess.run(
            [*docker, "rm", "-f", name], capture_output=True, check=False, timeout=60, env=dict(env)
        )
