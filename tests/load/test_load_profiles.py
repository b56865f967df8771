"""Load profiles (loadtests/profiles.yaml) and record parsing: validation, clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hasuite.drivers.load import (
    DEFAULT_PROFILES,
    load_profile,
    load_profiles,
    parse_profile,
    read_records,
)
from hasuite.errors import ConfigError

GOOD: dict[str, Any] = {"users": 10, "spawn_rate": 5, "duration_s": 30}


def test_shipped_profiles_are_valid() -> None:
    profiles = load_profiles(DEFAULT_PROFILES)
    assert {"steady", "fixed-rate", "rising"} <= set(profiles)
    assert profiles["fixed-rate"].fixed_rate > 0
    assert profiles["fixed-rate"].asked_rps == profiles["fixed-rate"].fixed_rate
    assert profiles["steady"].fixed_rate == 0
    rising = profiles["rising"]
    assert rising.ramp_s >= 60, "the rising profile must keep adding users for minutes"


def test_defaults_and_asked_rate() -> None:
    p = parse_profile("p", GOOD)
    assert (p.name, p.users, p.spawn_rate, p.duration_s) == ("p", 10, 5.0, 30.0)
    assert p.asked_rps == pytest.approx(10 / 2.0)  # mean think time (1 + 3) / 2
    assert p.ramp_s == pytest.approx(2.0)
    assert parse_profile("p", {**GOOD, "think_min_s": 0, "think_max_s": 0}).asked_rps is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"users": 0}, "users"),
        ({"users": "ten"}, "users"),
        ({"users": 2.5}, "users"),
        ({"users": True}, "users"),
        ({"spawn_rate": -1}, "spawn_rate"),
        ({"duration_s": 0}, "duration_s"),
        ({"duration_s": float("nan")}, "duration_s"),
        ({"fixed_rate": -5}, "fixed_rate"),
        ({"think_min_s": 2, "think_max_s": 1}, "think_max_s"),
        ({"think_min_s": -1}, "think_min_s"),
        ({"request_timeout_s": 0}, "request_timeout_s"),
        ({"stop_timeout_s": -1}, "stop_timeout_s"),
        ({"min_ratio": 1.5}, "min_ratio"),
        ({"min_ratio": 0}, "min_ratio"),
        ({"description": 3}, "description"),
        ({"user": 3}, "user"),
    ],
)
def test_invalid_profile_names_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_profile("bad", {**GOOD, **change})
    assert f"field {field}" in str(err.value)
    assert "'bad'" in str(err.value)


@pytest.mark.parametrize("missing", ["users", "spawn_rate", "duration_s"])
def test_missing_required_field(missing: str) -> None:
    raw = {k: v for k, v in GOOD.items() if k != missing}
    with pytest.raises(ConfigError, match=f"field {missing} is required"):
        parse_profile("p", raw)


def test_profile_files(tmp_path: Path) -> None:
    path = tmp_path / "profiles.yaml"
    path.write_text("ok: {users: 1, spawn_rate: 1, duration_s: 5}\n")
    assert load_profile("ok", path).users == 1
    with pytest.raises(ConfigError, match=r"no load profile 'nope'.*known: ok"):
        load_profile("nope", path)
    path.write_text("ok: {users: 1, spawn_rate: 1, duration_s: 5}\nbad: {users: -1}\n")
    with pytest.raises(ConfigError, match="'bad'"):
        load_profiles(path)
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_profiles(path)
    path.write_text("ok: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_profiles(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_profiles(tmp_path / "absent.yaml")


def test_read_records(tmp_path: Path) -> None:
    def req(mono: float, ok: bool, order_id: str | None = None, error: str | None = None) -> str:
        return json.dumps(
            {
                "event": "request",
                "wall": 1e9 + mono,
                "mono": mono,
                "method": "POST" if order_id else "GET",
                "name": "/api/orders" if order_id else "/",
                "status": 201 if ok else 503,
                "ok": ok,
                "latency_s": 0.01,
                "error": error,
                "detail": None,
                "order_id": order_id,
            }
        )

    path = tmp_path / "rec.jsonl"
    lines = [
        json.dumps({"event": "start", "wall": 1e9, "mono": 1.0, "users": 2}),
        req(1.5, True),
        req(2.0, True, order_id="41"),
        req(2.5, False, error="http-503"),
        req(3.0, True, order_id="42"),
        json.dumps({"event": "stop", "wall": 1e9 + 4, "mono": 4.0}),
        '{"event": "request", "wall": 1',  # torn by a SIGKILL
    ]
    path.write_text("\n".join(lines))
    rec = read_records(path)
    assert (rec.load_started_at, rec.load_stopped_at, rec.bad_lines) == (1.0, 4.0, 1)
    assert [s.ok for s in rec.samples] == [True, True, False, True]
    assert {s.probe for s in rec.samples} == {"http"}
    assert rec.samples[2].error == "http-503"
    assert [(e.kind, e.key, e.acknowledged_at) for e in rec.ledger] == [
        ("order", "41", 2.0),
        ("order", "42", 3.0),
    ]
    assert rec.samples[1].key == "41"
    assert read_records(tmp_path / "absent.jsonl").samples == ()


def test_a_scaled_load_says_so_and_keeps_its_shape() -> None:
    from hasuite.drivers.load import load_profile

    fixed = load_profile("fixed-rate")
    quarter = fixed.scaled(0.25)
    assert quarter.fixed_rate == fixed.fixed_rate * 0.25 and quarter.asked_rps == 10
    assert quarter.users == 5 and quarter.name == "fixed-rate x0.25"
    assert "scaled x0.25" in quarter.description
    assert fixed.scaled(1.0) is fixed
    steady = load_profile("steady")
    assert steady.scaled(0.5).asked_rps == pytest.approx(steady.asked_rps / 2)  # type: ignore[operator]
    assert steady.scaled(0.01).users == 1  # never no user at all
    for bad in (0, -1, 11):
        with pytest.raises(ConfigError, match="load scale must be > 0 and <= 10"):
            fixed.scaled(bad)


def test_the_load_scale_setting_is_checked() -> None:
    from hasuite.settings import suite_settings_from_env

    assert suite_settings_from_env({"HASUITE_LOAD_SCALE": "0.25"}).load_scale == 0.25
    with pytest.raises(ConfigError, match="load scale"):
        suite_settings_from_env({"HASUITE_LOAD_SCALE": "0"})
    with pytest.raises(ConfigError, match="bad HASUITE_"):
        suite_settings_from_env({"HASUITE_LOAD_SCALE": "a lot"})
