"""A real local lab for the lab tests: its own folder and port block, always brought down.

One lab serves the whole session: a test marked ``lab_down`` (it brings the lab down) runs
after every other test that uses the lab, so the lab starts once (a cold start is 15-60 s).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hasuite.drivers.local import procs
from hasuite.drivers.local.lab import LocalLab
from hasuite.drivers.local.target import LocalTarget
from hasuite.paths import project_dir
from hasuite.settings import load_stack, suite_settings_from_env


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "lab_down: brings the shared lab down (runs last of its users)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    downs = [i for i in items if i.get_closest_marker("lab_down")]
    if not downs:
        return
    rest = [i for i in items if not i.get_closest_marker("lab_down")]
    users = [n for n, i in enumerate(rest) if "lab" in getattr(i, "fixturenames", ())]
    at = users[-1] + 1 if users else len(rest)
    items[:] = rest[:at] + downs + rest[at:]


TEST_LAB_DIR = Path("/var/tmp") / f"hasuite-test-lab-{os.getuid()}"
TEST_PORT_BASE = 27000


@pytest.fixture(scope="session")
def lab() -> Iterator[LocalLab]:
    missing = procs.missing_tools()
    if missing:
        pytest.skip(f"lab tools missing: {', '.join(missing)}; run env/local/install")
    suite = suite_settings_from_env(os.environ, lab_dir=TEST_LAB_DIR, port_base=TEST_PORT_BASE)
    # The known-good profile: failovers short enough for a test, same software.
    lab = LocalLab(suite, load_stack(profile="known-good"), project_dir())
    lab.down(purge=True)
    try:
        lab.up(timeout_s=240)
        yield lab
    finally:
        lab.down(purge=True)


@pytest.fixture(scope="session")
def target(lab: LocalLab) -> LocalTarget:
    return LocalTarget(lab)
