"""Run experiments on the local lab: one entry point for `hasuite run`, pytest suites and tests.

The lab is brought up with the requested stack profile if it is not running; a lab that runs
with another profile is an error (``LabError`` from :meth:`LocalLab.up`), never torn down behind
the user's back.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from hasuite.drivers.local.lab import LocalLab
from hasuite.drivers.local.target import LocalTarget
from hasuite.session.options import task_deadline
from hasuite.session.runner import RunResult, run_experiments
from hasuite.settings import SuiteSettings, check_writable, load_stack, project_dir


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
    experiments: Sequence[str],
    lab: LocalLab,
    *,
    progress: Callable[[str], None] = lambda _: None,
    only_promises: Collection[str] | None = None,
) -> RunResult:
    """Bring ``lab`` up if needed and run ``experiments`` (empty: all) on it.

    Must be called from the main thread (chaoslib installs signal handlers). ``only_promises``
    judges only those (e.g. a seeded violation's one promise: no waiting for unrelated alerts).
    """
    project = project_dir()
    promises = project / "suites" / "promises.yaml"
    reports = lab.suite.reports_dir
    if not reports.is_absolute():
        reports = project / reports
    # refused before the lab starts: nothing is left half-done
    check_writable(
        reports, "reports folder", "set HASUITE_REPORTS_DIR to a writable folder or fix it"
    )
    lab.up()
    return run_experiments(
        experiments,
        LocalTarget(lab=lab),
        reports_dir=reports,
        experiments_dir=project / "experiments",
        promises_path=promises,
        probe_hz=lab.suite.probe_hz,
        task_deadline_s=task_deadline(promises),
        progress=progress,
        timeout_multiplier=lab.suite.timeout_multiplier,
        only_promises=only_promises,
        stack=lab.stack,
        load_scale=lab.suite.load_scale,
    )
