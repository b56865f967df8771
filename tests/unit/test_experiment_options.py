"""The extension fields load, alerts and fault: parsed, or a clear error naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from hasuite.errors import ConfigError
from hasuite.session.options import known_alert_names, parse_options


def experiment(**ext: Any) -> dict[str, Any]:
    base = {"name": "hasuite", "experiment": "redis-master-kill", "promises": ["REDIS-FAILOVER"]}
    return {"title": "t", "extensions": [{**base, **ext}]}


def test_load_alerts_and_fault_are_parsed() -> None:
    opts = parse_options(
        experiment(load={"profile": "fixed-rate"}, alerts=["RedisInstanceDown"], fault=True)
    )
    assert opts.load is not None and opts.load.name == "fixed-rate"
    assert opts.load.asked_rps == opts.load.fixed_rate > 0
    assert opts.alerts == ("RedisInstanceDown",)
    assert opts.fault is True
    assert parse_options(experiment(fault=False)).fault is False


def test_defaults_are_no_load_no_alerts_and_a_fault() -> None:
    opts = parse_options(experiment())
    assert (opts.load, opts.alerts, opts.fault) == (None, (), True)
    assert parse_options(experiment(load=None)).load is None


@pytest.mark.parametrize(
    ("ext", "message"),
    [
        ({"load": "steady"}, "extensions.hasuite.load: expected {profile: <name>}"),
        ({"load": {"profile": "steady", "users": 3}}, "extensions.hasuite.load: expected"),
        ({"load": {"profile": 5}}, "extensions.hasuite.load.profile: expected a profile name"),
        ({"load": {"profile": "nope"}}, "load.profile: no load profile 'nope'"),
        ({"alerts": "RedisInstanceDown"}, "extensions.hasuite.alerts: expected a list"),
        ({"alerts": ["redis down"]}, "are not alert names"),
        ({"alerts": ["RedisGone"]}, "no alert rule named RedisGone in env/alerts/rules"),
        ({"fault": "no"}, "extensions.hasuite.fault: expected true"),
    ],
)
def test_bad_values_name_the_field(ext: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_options(experiment(**ext))
    assert message in str(err.value)


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"known: .*fixed-rate.*steady"):
        parse_options(experiment(load={"profile": "nope"}))


def test_alert_names_come_from_the_shared_rule_files() -> None:
    names = known_alert_names()
    assert {"RedisInstanceDown", "PostgresMemberDown", "DjangoHigh5xxRatio"} <= names
    assert len(names) == 18


def test_task_hold_and_wait_are_parsed_and_checked() -> None:
    opts = parse_options(experiment(task_hold_s=0.3, task_wait_s=150))
    assert (opts.task_hold_s, opts.task_wait_s) == (0.3, 150.0)
    assert (parse_options(experiment()).task_hold_s, parse_options(experiment()).task_wait_s) == (
        0.0,
        0.0,
    )
    with pytest.raises(ConfigError, match=r"extensions.hasuite.task_wait_s: expected a number"):
        parse_options(experiment(task_wait_s="long"))


def test_probe_task_hold_is_bounded() -> None:
    from hasuite.drivers.recorders import ProbeConfig

    with pytest.raises(ValueError, match=r"task_hold_s must be within 0\.\.5 s"):
        ProbeConfig(app_url="http://127.0.0.1:1", token=None, task_hold_s=6)
