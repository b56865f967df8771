"""The catalogue of bad input: each is refused with exit code 2 and a message naming the file,
the field and what to do, before anything is started (no lab, no run folder)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from hasuite import cli
from hasuite.errors import ConfigError
from hasuite.promises import parse_promises
from hasuite.session.options import ExperimentOptions
from hasuite.session.runner import load_checked
from hasuite.settings import load_stack

ROOT = Path(__file__).resolve().parents[2]


def _exit_and_message(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, " ".join((captured.out + captured.err).split())


def test_unknown_experiment_name(capsys: pytest.CaptureFixture[str]) -> None:
    code, text = _exit_and_message(["run", "postgres-leader-kil"], capsys)
    assert code == 2
    known = "known: app-db-partition, celery-beat-kill"
    assert f"unknown experiment(s) postgres-leader-kil; {known}" in text


def test_unknown_stack_profile(capsys: pytest.CaptureFixture[str]) -> None:
    code, text = _exit_and_message(["lab", "up", "--profile", "known-goood"], capsys)
    assert code == 2 and "unknown stack profile 'known-goood'" in text and "known-good" in text


def _stack(tmp_path: Path, patch: dict[str, Any]) -> Path:
    data = yaml.safe_load((ROOT / "env" / "stack.yaml").read_text())
    for dotted, value in patch.items():
        node = data
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    path = tmp_path / "stack.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"django.replicas": 0}, "django.replicas must be >= 1, got 0"),
        ({"redis.sentinel.quorum": 4}, "redis.sentinel.quorum must be within 1..3, got 4"),
        ({"celery.workers": -1}, "celery.workers must be a whole number >= 0, got -1"),
        ({"pooler.instances": "two"}, "pooler.instances must be a whole number >= 0"),
        ({"django.replicaz": 3}, "unknown key(s) replicaz in django"),
    ],
)
def test_stack_values_out_of_range_or_of_a_wrong_type(
    tmp_path: Path, patch: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_stack(_stack(tmp_path, patch))
    assert message in str(info.value) and "stack.yaml" in str(info.value)


def _experiment(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pooler-kill.yaml"
    path.write_text(text)
    return path


def _pooler_kill(**ext: Any) -> str:
    data = yaml.safe_load((ROOT / "experiments" / "pooler-kill.yaml").read_text())
    next(e for e in data["extensions"] if e["name"] == "hasuite").update(ext)
    return yaml.safe_dump(data)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("title: x\n  bad: [\n", "not a valid experiment: Failed parsing YAML"),
        (_pooler_kill(baseline_seconds=5), "baseline_seconds"),
        (_pooler_kill(baseline_s="long"), "baseline_s"),
        (_pooler_kill(promises=["PG-FAILOVER"]), "does not list pooler-kill"),
    ],
)
def test_bad_experiment_files_name_the_file_and_field(
    tmp_path: Path, text: str, message: str
) -> None:
    from hasuite.promises import load_promises

    path = _experiment(tmp_path, text)
    catalog = load_promises(ROOT / "suites" / "promises.yaml")
    with pytest.raises(ConfigError) as info:
        load_checked(path, {}, catalog)
    assert str(path) in str(info.value) and message in str(info.value)


def test_a_good_experiment_file_passes_the_check() -> None:
    from hasuite.promises import load_promises

    catalog = load_promises(ROOT / "suites" / "promises.yaml")
    _, options = load_checked(ROOT / "experiments" / "pooler-kill.yaml", {}, catalog)
    assert isinstance(options, ExperimentOptions) and options.name == "pooler-kill"


@pytest.mark.parametrize(
    ("check", "message"),
    [
        ({"measurement": "write_outage_s", "comparison": "<=", "unit": "s"}, "threshold"),
        (
            {"measurement": "write_outage", "comparison": "<=", "threshold": 1, "unit": "s"},
            "unknown measurement 'write_outage'",
        ),
        (
            {"measurement": "write_outage_s", "comparison": "=<", "threshold": 1, "unit": "s"},
            "'=<' is not one of",
        ),
    ],
)
def test_bad_promises(check: dict[str, Any], message: str) -> None:
    data = {
        "promises": [
            {"id": "POOLER", "text": "t", "experiments": ["pooler-kill"], "checks": [check]}
        ]
    }
    with pytest.raises(ConfigError) as info:
        parse_promises(data, source="suites/promises.yaml")
    assert "suites/promises.yaml: promise POOLER: checks[0]" in str(info.value)
    assert message in str(info.value)


def test_reports_folder_that_cannot_be_written_is_refused_before_the_lab(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    lab_dir = tmp_path / "lab"
    monkeypatch.setenv("HASUITE_REPORTS_DIR", str(blocker / "reports"))
    monkeypatch.setenv("HASUITE_LAB_DIR", str(lab_dir))
    code, text = _exit_and_message(["run", "pooler-kill"], capsys)
    assert code == 2 and "the reports folder" in text and "cannot be written" in text
    assert "HASUITE_REPORTS_DIR" in text
    assert not lab_dir.exists()  # nothing was started


def test_lab_folder_that_cannot_be_written_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("supervisord") is None and shutil.which("etcd") is None:
        pytest.skip("lab tools missing: run env/local/install")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("HASUITE_LAB_DIR", str(blocker / "lab"))
    code, text = _exit_and_message(["lab", "up"], capsys)
    assert code == 2 and "cannot be written" in text and "HASUITE_LAB_DIR" in text
