"""Loading suites/promises.yaml: every bad input is a ConfigError naming file, promise and field."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from hasuite.errors import ConfigError
from hasuite.promises import load_promises, parse_promises

from .builders import PROMISES_FILE

GOOD: dict[str, Any] = {
    "version": 1,
    "promises": [
        {
            "id": "PG-FAILOVER",
            "text": "a new leader within the bound",
            "experiments": ["postgres-leader-kill"],
            "checks": [
                {"measurement": "write_outage_s", "comparison": "<=", "threshold": 30, "unit": "s"},
                {"measurement": "lost_orders", "comparison": "==", "threshold": 0, "unit": "count"},
            ],
        },
        {
            "id": "HPA-SCALES",
            "text": "scales",
            "experiments": ["django-hpa-scale"],
            "targets": ["kind", "cluster"],
            "params": {"grace_s": 60},
            "checks": [
                {
                    "measurement": "hpa_scale_up_s",
                    "comparison": "<=",
                    "threshold": 120,
                    "unit": "s",
                    "label": "scale-up",
                    "enforce": True,
                    "note": "n",
                },
            ],
        },
    ],
}


def broken(path: tuple[Any, ...], value: Any = None, *, delete: bool = False) -> dict[str, Any]:
    data = copy.deepcopy(GOOD)
    node: Any = data
    for part in path[:-1]:
        node = node[part]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


def test_good_document_parses():
    cat = parse_promises(GOOD, source="p.yaml")
    assert cat.ids == ("PG-FAILOVER", "HPA-SCALES")
    hpa = cat.get("HPA-SCALES")
    assert hpa.targets == ("kind", "cluster") and hpa.params == {"grace_s": 60.0}
    assert hpa.checks[0].human_label() == "scale-up"
    assert cat.get("PG-FAILOVER").targets == ("local", "kind", "cluster")
    assert [p.id for p in cat.for_experiment("postgres-leader-kill")] == ["PG-FAILOVER"]


@pytest.mark.parametrize(
    ("data", "fragments"),
    [
        pytest.param(
            broken(("promises", 0, "threshhold"), 3),
            ["p.yaml: promise PG-FAILOVER", "unknown key(s) threshhold"],
            id="unknown-promise-key",
        ),
        pytest.param(
            broken(("promises", 0, "checks", 1, "treshold"), 0),
            ["promise PG-FAILOVER: checks[1]", "unknown key(s) treshold"],
            id="unknown-check-key",
        ),
        pytest.param(
            broken(("promises", 1, "id"), "PG-FAILOVER"),
            ["promise PG-FAILOVER: id: duplicate id (promises[0] and promises[1])"],
            id="duplicate-id",
        ),
        pytest.param(
            broken(("promises", 0, "checks", 0, "comparison"), "=<"),
            ["promise PG-FAILOVER: checks[0].comparison: '=<' is not one of"],
            id="unknown-comparison",
        ),
        pytest.param(
            broken(("promises", 0, "checks", 0, "threshold"), delete=True),
            ["promise PG-FAILOVER: checks[0]: missing field(s) threshold"],
            id="missing-threshold",
        ),
        pytest.param(
            broken(("promises", 0, "text"), delete=True),
            ["promise PG-FAILOVER: missing field(s) text"],
            id="missing-text",
        ),
        pytest.param(
            broken(("promises", 0, "id"), delete=True),
            ["promise promises[0]: missing field(s) id"],
            id="missing-id",
        ),
        pytest.param(
            broken(("promises", 0, "id"), "pg failover"),
            ["promise pg failover: id: 'pg failover' does not match"],
            id="bad-id",
        ),
        pytest.param(
            broken(("promises", 0, "checks", 0, "threshold"), "30s"),
            ["checks[0].threshold: expected a number, got '30s'"],
            id="threshold-str",
        ),
        pytest.param(
            broken(("promises", 0, "checks", 0, "threshold"), True),
            ["checks[0].threshold: expected a number"],
            id="threshold-bool",
        ),
        pytest.param(
            broken(("promises", 0, "checks", 0, "measurement"), "write_outage"),
            ["checks[0].measurement: unknown measurement 'write_outage'"],
            id="unknown-measurement",
        ),
        pytest.param(
            broken(("promises", 0, "checks", 0, "unit"), "ms"),
            ["checks[0].unit: 'ms' is not one of"],
            id="unknown-unit",
        ),
        pytest.param(
            broken(("promises", 0, "checks", 1, "unit"), "s"),
            ["checks[1].unit: lost_orders is measured in 'count', not 's'"],
            id="unit-mismatch",
        ),
        pytest.param(
            broken(("promises", 1, "targets"), ["kind", "minikube"]),
            ["promise HPA-SCALES: targets: unknown minikube; known: local, kind, cluster"],
            id="unknown-target",
        ),
        pytest.param(
            broken(("promises", 0, "faults"), ["crash-held-down", "kill"]),
            ["promise PG-FAILOVER: faults: unknown kill; known: crash-held-down"],
            id="unknown-fault-class",
        ),
        pytest.param(
            broken(("promises", 0, "checks", 0, "enforce"), "yes"),
            ["checks[0].enforce: expected true or false"],
            id="enforce-not-bool",
        ),
        pytest.param(
            broken(("promises", 0, "experiments"), []),
            ["promise PG-FAILOVER: experiments: expected a non-empty list"],
            id="no-experiments",
        ),
        pytest.param(
            broken(("promises", 0, "checks"), []),
            ["promise PG-FAILOVER: checks: expected a non-empty list"],
            id="no-checks",
        ),
        pytest.param(
            broken(("promises", 1, "checks", 0, "enforce"), False),
            ["promise HPA-SCALES: checks: at least one check must be enforced"],
            id="nothing-enforced",
        ),
        pytest.param(
            broken(("promises", 0, "checks"), [GOOD["promises"][0]["checks"][0]] * 2),
            ["promise PG-FAILOVER: checks: measurement(s) checked twice"],
            id="check-twice",
        ),
        pytest.param(
            broken(("version",), 2), ["p.yaml: version: 2 is not supported"], id="version"
        ),
        pytest.param(
            broken(("extra",), 1), ["p.yaml: top level: unknown key(s) extra"], id="unknown-top-key"
        ),
        pytest.param([1, 2], ["p.yaml: expected a mapping"], id="not-a-mapping"),
        pytest.param(
            broken(("promises",), []), ["p.yaml: promises: expected a non-empty list"], id="empty"
        ),
    ],
)
def test_bad_documents_raise_config_error(data: Any, fragments: list[str]):
    with pytest.raises(ConfigError) as info:
        parse_promises(data, source="p.yaml")
    for fragment in fragments:
        assert fragment in str(info.value)


def test_unknown_experiment_when_known_ones_given():
    with pytest.raises(ConfigError, match=r"unknown experiment.*postgres-leader-kill; known: a, b"):
        parse_promises(GOOD, source="p.yaml", known_experiments={"a", "b", "django-hpa-scale"})


def test_unknown_promise_id_lists_known_ones():
    with pytest.raises(ConfigError) as info:
        parse_promises(GOOD, source="p.yaml").get("PG-FAILUVER")
    assert (
        str(info.value) == "p.yaml: unknown promise 'PG-FAILUVER'; known: PG-FAILOVER, HPA-SCALES"
    )


def test_bad_yaml_names_file_and_line(tmp_path: Path):
    bad = tmp_path / "promises.yaml"
    bad.write_text("promises:\n  - id: X\n    checks: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_promises(bad)
    assert str(info.value).startswith(f"{bad}: line ")
    assert "not valid YAML" in str(info.value)


def test_error_in_file_names_the_file(tmp_path: Path):
    path = tmp_path / "promises.yaml"
    path.write_text(yaml.safe_dump(broken(("promises", 0, "checks", 0, "comparison"), "~=")))
    with pytest.raises(
        ConfigError, match="^" + re.escape(f"{path}: promise PG-FAILOVER: checks[0]")
    ):
        load_promises(path)


def test_missing_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="cannot read the promises file"):
        load_promises(tmp_path / "nope.yaml")


def test_the_real_file_loads():
    assert len(load_promises(PROMISES_FILE)) >= 12
