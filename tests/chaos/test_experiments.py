"""The experiment files: valid for Chaos Toolkit, each judging promises that name it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hasuite.promises import load_promises
from hasuite.session.options import known_experiments, parse_options, select_promises

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = ROOT / "experiments"
CHAOS = Path(sys.executable).parent / "chaos"
EXPECTED = [
    "app-db-partition",
    "celery-beat-kill",
    "celery-workers-kill",
    "django-instance-kill",
    "django-rollout",
    "healthy-baseline",
    "pooler-kill",
    "postgres-leader-kill",
    "postgres-leader-partition",
    "postgres-leader-stop",
    "redis-master-kill",
    "redis-master-partition",
]


def test_one_experiment_per_fault() -> None:
    # other experiments (e.g. Kubernetes-only ones) may exist; these must
    missing = sorted(set(EXPECTED) - set(known_experiments(EXPERIMENTS)))
    assert not missing


@pytest.mark.parametrize("name", EXPECTED)
def test_chaos_validate_passes(name: str) -> None:
    result = subprocess.run(
        [str(CHAOS), "--no-version-check", "validate", str(EXPERIMENTS / f"{name}.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "look valid" in result.stdout + result.stderr


@pytest.mark.parametrize("name", EXPECTED)
def test_extension_names_the_file_and_its_promises(name: str) -> None:
    experiment = yaml.safe_load((EXPERIMENTS / f"{name}.yaml").read_text())
    options = parse_options(experiment)
    assert options.name == name
    promises = select_promises(load_promises(ROOT / "suites" / "promises.yaml"), options)
    assert promises
    # target-neutral and env-backed: no hard-coded target, run dir from the environment
    config = experiment["configuration"]
    assert config["target"] == {"type": "env", "key": "HASUITE_TARGET", "default": "local"}
    assert config["run_dir"]["key"] == "HASUITE_RUN_DIR"
    if options.fault:
        assert experiment["rollbacks"][0]["provider"]["func"] == "restore"
    else:
        assert not experiment["rollbacks"]
    # every experiment runs under a load profile; those judging ALERT-FIRES name their alerts
    assert options.load is not None
    assert options.load.asked_rps is not None and options.load.asked_rps > 0
    judged = {p.id for p in promises}
    assert bool(options.alerts) == ("ALERT-FIRES" in judged)
    assert ("ALERT-FIRES" in judged) == ("ALERT-RESOLVES" in judged)
