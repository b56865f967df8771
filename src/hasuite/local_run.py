"""Run experiments on the local lab: one entry point for `hasuite run`, pytest suites and tests.

The lab is brought up with the requested stack profile if it is not running; a lab that runs
with another profile is an error (``LabError`` from :meth:`LocalLab.up`), never torn down behind
the user's back.
"""

from __future__ import annotations

from collections.abc import Callable

from hasuite.drivers.local.lab import LocalLab
from hasuite.drivers.local.target import LocalTarget
from hasuite.errors import ConfigError
from hasuite.paths import project_dir
from hasuite.session.config import RunConfig
from hasuite.session.runner import RunResult, run_experiments
from hasuite.settings import SuiteSettings, check_writable, load_stack


def local_lab(
    suite: SuiteSettings,
    profile: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> LocalLab:
    """The lab described by ``suite`` with stack ``profile`` (None: production settings)."""
    if progress is None:
        return LocalLab(suite, load_stack(profile=profile), project_dir())
    return LocalLab(suite, load_stack(profile=profile), project_dir(), progress=progress)


def run_local(
    config: RunConfig,
    lab: LocalLab,
    *,
    progress: Callable[[str], None] = lambda _: None,
) -> RunResult:
    """Bring ``lab`` up if needed and run ``config`` on it.

    Must be called from the main thread (chaoslib installs signal handlers). The lab must run
    the profile ``config`` judges (a lab with another one is refused before anything runs).
    """
    if config.target != "local":
        raise ConfigError(f"run_local runs the local lab, not target {config.target!r}")
    if config.profile != lab.stack.profile:
        raise ConfigError(
            f"the run judges profile {config.profile or 'production'} but the lab is built "
            f"for {lab.stack.profile or 'production'}; build both from the same profile"
        )
    # refused before the lab starts: nothing is left half-done
    check_writable(
        config.reports_dir,
        "reports folder",
        "set HASUITE_REPORTS_DIR to a writable folder or fix it",
    )
    lab.up()
    return run_experiments(config, LocalTarget(lab=lab), progress=progress, stack=lab.stack)
