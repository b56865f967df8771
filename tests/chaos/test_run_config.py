"""One RunConfig, built once by every entry point, reaches every session whole.

The bug these guard against: on kind and cluster, `hasuite run` and the pytest suites ran
experiments without CELERY-NOLOSS's task deadline or the timeout multiplier, so lost tasks
ignored the promise's deadline and `--timeout-multiplier` did not scale the session's waits.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from hasuite import cli, pytest_plugin
from hasuite.chaos.control import config_from
from hasuite.errors import ConfigError
from hasuite.paths import project_paths
from hasuite.promises import load_promises
from hasuite.session.config import RunConfig, build_run_config
from hasuite.session.experiment import ExperimentSession
from hasuite.session.options import parse_options
from hasuite.settings import SuiteSettings

from .fakes import FakeApp, FakeTarget

ROOT = Path(__file__).resolve().parents[2]
PROMISES = ROOT / "suites" / "promises.yaml"


def _nolose_deadline() -> float:
    return float(load_promises(PROMISES).get("CELERY-NOLOSS").params["deadline_s"])


class _Stop(Exception):
    """Raised by the fake runner once it has seen the config (no experiment is run)."""


@dataclass
class _KindTarget:
    name: str = "kind"
    profile: str | None = None
    closed: list[bool] = field(default_factory=list)

    def stack_profile(self) -> str | None:
        return self.profile


@pytest.mark.parametrize("target", ["kind", "cluster"])
def test_hasuite_run_on_kubernetes_gives_the_session_the_deadline_and_multiplier(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[RunConfig] = []
    kube = _KindTarget(name=target)

    @contextlib.contextmanager
    def fake_open(args: Any) -> Iterator[_KindTarget]:
        yield kube

    def fake_run(config: RunConfig, t: Any, **_: Any) -> Any:
        assert t is kube
        seen.append(config)
        raise _Stop

    monkeypatch.delenv("HASUITE_TIMEOUT_MULTIPLIER", raising=False)
    monkeypatch.setattr(cli, "_open_kube_target", fake_open)
    monkeypatch.setattr("hasuite.session.runner.run_experiments", fake_run)
    with pytest.raises(_Stop):
        cli.main(
            [
                "run",
                "--target",
                target,
                "--timeout-multiplier",
                "3",
                "--load-scale",
                "0.5",
                "celery-workers-kill",
            ]
        )
    (config,) = seen
    assert config.target == target
    assert config.experiments == ("celery-workers-kill",)
    assert config.task_deadline_s == _nolose_deadline()
    assert config.timeout_multiplier == 3.0
    assert config.load_scale == 0.5
    assert config.reports_dir.is_absolute()


def test_the_suites_config_on_kind_has_the_deadline_and_the_environment_multiplier(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Options:
        values = {
            "--target": "kind",
            "--experiment": [],
            "--skip-experiment": ["celery-beat-kill"],
        }

        def getoption(self, name: str) -> Any:
            return self.values[name]

    monkeypatch.setenv("HASUITE_TIMEOUT_MULTIPLIER", "2.5")
    config = pytest_plugin.run_config_from(Options(), profile="known-good")  # type: ignore[arg-type]
    assert config.target == "kind" and config.profile == "known-good"
    assert config.task_deadline_s == _nolose_deadline()
    assert config.timeout_multiplier == 2.5
    assert "celery-beat-kill" not in config.experiments
    assert "celery-workers-kill" in config.experiments


def test_a_single_chaos_run_builds_the_same_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HASUITE_TIMEOUT_MULTIPLIER", "4")
    monkeypatch.setenv("HASUITE_PROBE_HZ", "5")
    config = config_from({"probe_hz": "2"}, "kind")
    assert config.task_deadline_s == _nolose_deadline()
    assert config.timeout_multiplier == 4.0
    assert config.probe_hz == 2.0  # the experiment's configuration wins over the environment
    assert config_from({}, "kind").probe_hz == 5.0


def test_the_session_takes_every_field_of_the_config(tmp_path: Path) -> None:
    config = build_run_config(
        "local",
        SuiteSettings(timeout_multiplier=2.0, probe_hz=4.0, load_scale=0.5),
        only_promises={"CELERY-NOLOSS"},
    )
    experiment = yaml.safe_load((ROOT / "experiments" / "celery-workers-kill.yaml").read_text())
    options = parse_options(experiment)
    assert "CELERY-NOLOSS" in options.promises and len(options.promises) > 1
    session = ExperimentSession.for_run(
        config,
        options,
        load_promises(PROMISES),
        FakeTarget(app=FakeApp(), app_url="http://127.0.0.1:1"),
        run_dir=tmp_path,
        stack=None,
    )
    assert session.task_deadline_s == _nolose_deadline()
    assert session.timeout_multiplier == 2.0
    assert session.probe_hz == 4.0
    assert [p.id for p in session.promises] == ["CELERY-NOLOSS"]
    assert options.load is not None and session.options.load is not None
    assert session.options.load.asked_rps == pytest.approx(options.load.asked_rps * 0.5)


def test_a_config_for_another_target_is_refused(tmp_path: Path) -> None:
    from hasuite.session.runner import run_experiments

    config = build_run_config("kind", SuiteSettings(reports_dir=tmp_path))
    with pytest.raises(ConfigError, match="configured for target 'kind'"):
        run_experiments(config, FakeTarget(app=FakeApp(), app_url="http://127.0.0.1:1"))
    with pytest.raises(ConfigError, match="unknown target 'moon'"):
        build_run_config("moon", SuiteSettings())


def test_relative_reports_folders_are_under_the_checkout() -> None:
    config = build_run_config("local", SuiteSettings(reports_dir=Path("reports")))
    assert config.reports_dir == project_paths().root / "reports"
    assert config.promises_path == project_paths().promises == PROMISES
