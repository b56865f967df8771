"""The load driver against a real Locust process and a tiny local shop (tests/load/shopserver).

Two tests run real load (about 6 s and 4 s); the others use no Locust at all (the checks happen
before it would start) or a stand-in interpreter to exercise the stop escalation.
"""

from __future__ import annotations

import os
import socket
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hasuite.analysis import build_phases
from hasuite.analysis.load import build_load_stats
from hasuite.drivers.load import (
    LoadError,
    LoadRun,
    parse_profile,
    read_records,
    start_load,
)
from hasuite.errors import ConfigError
from hasuite.model import Event

from .shopserver import ShopServer

SLACK_S = 0.3  # a request answered 503 at the window's end may complete a little after it


@pytest.fixture
def shop() -> Iterator[ShopServer]:
    with ShopServer() as server:
        yield server


def _wait_for_traffic(run: LoadRun, *, requests: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len([s for s in read_records(run.record_path).samples if s.ok]) >= requests:
            return
        assert run.running(), "locust stopped before sending traffic; see " + str(run.log_path)
        time.sleep(0.1)
    pytest.fail(f"no {requests} successful requests recorded within {timeout_s} s")


def _gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


@pytest.mark.slow
def test_steady_load_records_failure_window_and_ledger(shop: ShopServer, tmp_path: Path) -> None:
    profile = parse_profile(
        "t",
        {"users": 8, "spawn_rate": 8, "duration_s": 6, "think_min_s": 0.05, "think_max_s": 0.15},
    )
    run = start_load(shop.url, profile, run_dir=tmp_path)
    _wait_for_traffic(run, requests=20)
    time.sleep(0.5)
    fail_start, fail_end = shop.fail_for(1.5)
    result = run.wait()

    # stopped by itself at the end of its run time, exit code 0, nothing left running
    assert result.stopped_by == "self"
    assert result.exit_code == 0, result.log_path.read_text()[-2000:]
    assert 5.0 <= result.ended_at - result.started_at <= 6 + profile.stop_timeout_s + 5
    assert _gone(run.pid)
    assert result.record_path.stat().st_size > 0
    assert result.records.bad_lines == 0
    assert result.records.load_started_at is not None
    assert result.records.load_stopped_at is not None
    assert result.cpu_s > 0 and 0 < result.cpu_percent < 200

    samples = result.samples
    assert len(samples) > 100
    failed = [s for s in samples if not s.ok]
    # every failure is the seeded 503 and lies in the seeded window; many requests failed there
    assert failed, "the seeded failure window produced no failed request"
    assert {s.error for s in failed} == {"http-503"}
    assert all(fail_start <= s.at <= fail_end + SLACK_S for s in failed), [
        (s.at - fail_start) for s in failed if not fail_start <= s.at <= fail_end + SLACK_S
    ]
    assert len(failed) >= 30
    assert shop.requests >= len(samples)

    # per-phase analysis of real records: failures only during the fault
    events = [
        Event(at=fail_start, wall=0.0, kind="fault"),
        Event(at=fail_end + SLACK_S, wall=0.0, kind="recovered"),
    ]
    phases = build_phases(events, start=samples[0].at, end=samples[-1].at, settle_s=0.5)
    stats = {s.phase: s for s in build_load_stats(samples, phases)}
    assert stats["before"].failures == 0 and stats["before"].requests > 10
    assert stats["after"].failures == 0 and stats["after"].requests > 10
    assert stats["during"].failure_rate is not None and stats["during"].failure_rate > 0.8
    assert stats["during"].max_success_gap_s is not None
    assert stats["during"].max_success_gap_s >= 1.3

    # ledger: exactly the orders the shop acknowledged, each once
    keys = [e.key for e in result.ledger]
    assert keys, "no order acknowledged"
    assert len(keys) == len(set(keys))
    assert set(keys) == {str(i) for i in shop.orders}
    assert all(not fail_start < e.acknowledged_at < fail_end for e in result.ledger)

    adequacy = result.adequacy()
    assert adequacy.asked_rps == pytest.approx(8 / 0.1)
    assert adequacy.achieved_rps is not None and adequacy.achieved_rps > 20


@pytest.mark.slow
def test_fixed_rate_load_stops_on_request(shop: ShopServer, tmp_path: Path) -> None:
    profile = parse_profile(
        "fixed", {"users": 10, "spawn_rate": 10, "duration_s": 60, "fixed_rate": 40}
    )
    run = start_load(shop.url, profile, run_dir=tmp_path)
    _wait_for_traffic(run, requests=5)
    time.sleep(3.0)
    assert run.cpu_seconds() > 0
    asked_stop = time.monotonic()
    result = run.stop()

    assert result.stopped_by == "request"
    assert time.monotonic() - asked_stop < profile.stop_timeout_s + 5
    assert _gone(run.pid)
    assert result.records.load_stopped_at is not None, "records not flushed on SIGTERM"
    assert not run.running()
    adequacy = result.adequacy()
    assert adequacy.asked_rps == 40
    assert adequacy.ratio is not None and 0.8 <= adequacy.ratio <= 1.15, adequacy.text
    assert adequacy.adequate is (adequacy.ratio >= 0.9)
    assert run.stop() is result  # idempotent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_host_is_an_error_before_any_load(tmp_path: Path) -> None:
    host = f"http://127.0.0.1:{_free_port()}"
    profile = parse_profile("p", {"users": 1, "spawn_rate": 1, "duration_s": 5})
    with pytest.raises(LoadError, match=rf"load host {host} is unreachable.*refused"):
        start_load(host, profile, run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists(), "something started although the host was down"


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "ftp://x", ""])
def test_bad_host_url(host: str, tmp_path: Path) -> None:
    profile = parse_profile("p", {"users": 1, "spawn_rate": 1, "duration_s": 5})
    with pytest.raises(ConfigError, match="http"):
        start_load(host, profile, run_dir=tmp_path)


def _fake_python(tmp_path: Path, body: str) -> str:
    """An 'interpreter' that ignores the locust arguments and runs ``body`` (exec: one process)."""
    script = tmp_path / "fake-python"
    script.write_text(f"#!/bin/sh\nexec {sys.executable} -c '{body}'\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_stop_escalates_to_sigkill(tmp_path: Path) -> None:
    python = _fake_python(
        tmp_path,
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(30)",
    )
    profile = parse_profile("p", {"users": 1, "spawn_rate": 1, "duration_s": 30})
    run = start_load(
        "http://127.0.0.1:9", profile, run_dir=tmp_path, python=python, check_host=False
    )
    began = time.monotonic()
    result = run.stop(grace_s=0.5)
    assert result.stopped_by == "killed"
    assert result.exit_code == -9
    assert time.monotonic() - began < 5
    assert _gone(run.pid)


def test_locust_failing_at_once_is_reported(tmp_path: Path) -> None:
    python = _fake_python(tmp_path, 'import sys; print("bad locustfile"); sys.exit(2)')
    profile = parse_profile("p", {"users": 1, "spawn_rate": 1, "duration_s": 30})
    with pytest.raises(LoadError, match=r"exited at once with code 2(.|\n)*bad locustfile"):
        start_load("http://127.0.0.1:9", profile, run_dir=tmp_path, python=python, check_host=False)


def test_wait_stops_an_overrunning_process(tmp_path: Path) -> None:
    python = _fake_python(tmp_path, "import time; time.sleep(30)")
    profile = parse_profile("p", {"users": 1, "spawn_rate": 1, "duration_s": 1})
    run = start_load(
        "http://127.0.0.1:9", profile, run_dir=tmp_path, python=python, check_host=False
    )
    result = run.wait(timeout_s=0.3)
    assert result.stopped_by == "request"
    assert _gone(run.pid)
    assert os.path.exists(result.log_path)
