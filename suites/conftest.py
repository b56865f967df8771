"""`pytest suites/ --target local`: every experiment runs once, then one test per promise.

The run is the plugin's ``hasuite_run_config`` (--target, --experiment, --skip-experiment,
--stack-profile and the HASUITE_* settings: lab folder, port block, reports folder, probe rate,
timeout multiplier, load scale). Besides them:
  --lab-down            bring the local lab down when the session ends (default: leave it up,
                        like `hasuite run`)
 The run folder is printed at the end of the session.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from hasuite.session.runner import RunResult, run_experiments
from hasuite.settings import suite_settings_from_env

_RUN_DIR: list[str] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hasuite suites")
    group.addoption("--lab-down", action="store_true", help="bring the local lab down at the end")


@pytest.fixture(scope="session")
def suite_run(request: pytest.FixtureRequest) -> Iterator[RunResult]:
    config = request.config
    run = request.getfixturevalue("hasuite_run_config")
    if run.target != "local":
        # the plugin's session target: `up` (kind: cluster and stack), port-forwards, `down`.
        # A target that cannot come up is an error of every test, never a skip: a nightly run
        # that skipped everything would look green.
        result = run_experiments(run, request.getfixturevalue("hasuite_target"))
        _RUN_DIR.append(str(result.run_dir))
        yield result
        return

    from hasuite.local_run import local_lab, run_local

    lab = local_lab(suite_settings_from_env(os.environ), run.profile)
    try:
        result = run_local(run, lab)
        _RUN_DIR.append(str(result.run_dir))
        yield result
    finally:
        if config.getoption("--lab-down"):
            lab.down()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for run_dir in _RUN_DIR:
        terminalreporter.write_line(f"hasuite run folder: {run_dir}")
