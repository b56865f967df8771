"""`pytest suites/ --target local`: every experiment runs once, then one test per promise.

Options (besides the plugin's --target and --experiment):
  --stack-profile NAME  run the local lab with a named profile of env/stack.yaml (default:
                        production settings); a lab already running with another profile is an
                        error, never torn down silently
  --lab-down            bring the local lab down when the session ends (default: leave it up,
                        like `hasuite run`)
  --skip-experiment NAME  run every experiment but this one (repeatable); its promises are
                        then skipped as "not run"
The lab folder, port block, reports folder and probe rate come from HASUITE_* variables (see
README). The run folder is printed at the end of the session.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from hasuite.session.options import known_experiments
from hasuite.session.runner import RunResult, run_experiments
from hasuite.settings import project_dir, suite_settings_from_env

_RUN_DIR: list[str] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hasuite suites")
    group.addoption("--stack-profile", default=None, help="env/stack.yaml profile (local lab)")
    group.addoption("--lab-down", action="store_true", help="bring the local lab down at the end")
    group.addoption(
        "--skip-experiment", action="append", default=[], help="leave this experiment out"
    )


@pytest.fixture(scope="session")
def suite_run(request: pytest.FixtureRequest) -> Iterator[RunResult]:
    config = request.config
    target_name = config.getoption("--target")
    experiments = list(config.getoption("--experiment"))
    suite = suite_settings_from_env(os.environ)
    project = project_dir()
    skipped = config.getoption("--skip-experiment")
    if skipped:
        unknown = sorted(set(skipped) - set(known_experiments(project / "experiments")))
        if unknown:
            raise pytest.UsageError(f"--skip-experiment: unknown experiment(s) {unknown}")
        chosen = experiments or known_experiments(project / "experiments")
        experiments = [e for e in chosen if e not in skipped]
    reports = suite.reports_dir if suite.reports_dir.is_absolute() else project / suite.reports_dir
    if target_name != "local":
        # the plugin's session target: `up` (kind: cluster and stack), port-forwards, `down`.
        # A target that cannot come up is an error of every test, never a skip: a nightly run
        # that skipped everything would look green.
        target = request.getfixturevalue("hasuite_target")
        result = run_experiments(
            experiments,
            target,
            reports_dir=reports,
            experiments_dir=project / "experiments",
            promises_path=project / "suites" / "promises.yaml",
            probe_hz=suite.probe_hz,
        )
        _RUN_DIR.append(str(result.run_dir))
        yield result
        return

    from hasuite.local_run import local_lab, run_local

    lab = local_lab(suite, config.getoption("--stack-profile"))
    try:
        result = run_local(experiments, lab)
        _RUN_DIR.append(str(result.run_dir))
        yield result
    finally:
        if config.getoption("--lab-down"):
            lab.down()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for run_dir in _RUN_DIR:
        terminalreporter.write_line(f"hasuite run folder: {run_dir}")
