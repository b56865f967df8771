"""A real local lab for the instrument tests: its own folder and port block, always brought down.

The lab runs the production settings (env/stack.yaml) unless a test asks for a profile; asking
for another profile restarts the lab with it (data kept), so keep profile switches few.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hasuite.drivers.local import procs
from hasuite.drivers.local.lab import LocalLab
from hasuite.drivers.local.target import LocalTarget
from hasuite.settings import load_stack, project_dir, suite_settings_from_env

INSTRUMENT_LAB_DIR = Path("/var/tmp") / f"hasuite-instrument-lab-{os.getuid()}"
INSTRUMENT_PORT_BASE = 29500


@pytest.fixture(scope="session")
def instrument_lab() -> Iterator[Callable[[str | None], LocalTarget]]:
    """A function giving a LocalTarget on a lab running ``profile`` (None = production)."""
    missing = procs.missing_tools()
    if missing:
        pytest.skip(f"lab tools missing: {', '.join(missing)}; run env/local/install")
    suite = suite_settings_from_env(
        os.environ, lab_dir=INSTRUMENT_LAB_DIR, port_base=INSTRUMENT_PORT_BASE
    )
    current: dict[str, LocalLab] = {}

    def with_profile(profile: str | None) -> LocalTarget:
        lab = current.get("lab")
        if lab is None or lab.stack.profile != profile:
            if lab is not None:
                lab.down()
            lab = LocalLab(suite, load_stack(profile=profile), project_dir())
            lab.up(timeout_s=240)
            current["lab"] = lab
        return LocalTarget(lab)

    LocalLab(suite, load_stack(), project_dir()).down(purge=True)
    try:
        yield with_profile
    finally:
        LocalLab(suite, load_stack(), project_dir()).down(purge=True)
