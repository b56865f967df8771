"""A FAIL's recommendation: the settings that kept the promise in the known-good profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from hasuite.analysis.recommend import NO_FIX, recommend, with_recommendation
from hasuite.errors import ConfigError
from hasuite.model import Check, CheckResult, Fix, Promise, PromiseResult, Verdict
from hasuite.promises import load_promises, parse_promises
from hasuite.settings import flat_settings, load_stack

ROOT = Path(__file__).resolve().parents[2]
SLOTS = Check(measurement="doubled_slots", comparison="==", threshold=0, unit="count")
MISSED = Check(measurement="missed_slots", comparison="==", threshold=0, unit="count")
PROMISE = Promise(
    id="BEAT-SINGLETON",
    text="t",
    experiments=("celery-beat-kill",),
    checks=(SLOTS, MISSED),
    fixes=(
        Fix(
            measurement="doubled_slots",
            settings=("celery.beat_sync_every", "celery.beat_replicas"),
            measured="0 doubled slots",
        ),
    ),
)


def result(verdict: Verdict, doubled_holds: bool | None, missed_holds: bool | None = True):
    return PromiseResult(
        id="BEAT-SINGLETON",
        verdict=verdict,
        measured=1.0,
        threshold=0.0,
        unit="count",
        reason="doubled slots 1 != 0",
        checks=(
            CheckResult(check=SLOTS, measured=1.0, holds=doubled_holds, text=""),
            CheckResult(check=MISSED, measured=0.0, holds=missed_holds, text=""),
        ),
    )


GOOD = {"celery.beat_sync_every": 1, "celery.beat_replicas": 1}


@pytest.mark.parametrize(
    ("current", "res", "expected"),
    [
        pytest.param(
            {"celery.beat_sync_every": 0, "celery.beat_replicas": 1},
            result(Verdict.FAIL, False),
            "celery.beat_sync_every 0 -> 1 (the known-good profile; measured: 0 doubled slots)",
            id="one-setting-differs",
        ),
        pytest.param(
            {"celery.beat_sync_every": 0, "celery.beat_replicas": 2},
            result(Verdict.FAIL, False),
            "celery.beat_sync_every 0 -> 1, celery.beat_replicas 2 -> 1 (the known-good",
            id="two-differ",
        ),
        pytest.param(
            dict(GOOD),
            result(Verdict.FAIL, False),
            "the settings known to move this (celery.beat_sync_every, celery.beat_replicas) "
            "already have their known-good values",
            id="already-known-good",
        ),
        pytest.param(
            {"celery.beat_sync_every": 0},
            result(Verdict.FAIL, True, False),
            NO_FIX,
            id="no-fix-for-that-check",
        ),
        pytest.param({"celery.beat_sync_every": 0}, result(Verdict.PASS, True), None, id="pass"),
        pytest.param({"celery.beat_sync_every": 0}, result(Verdict.ERROR, None), None, id="error"),
    ],
)
def test_recommend(current, res, expected):
    text = recommend(PROMISE, res, current=current, known_good=GOOD)
    if expected is None:
        assert text is None
    else:
        assert text is not None and text.startswith(expected), text


def test_without_settings_under_test_the_result_is_unchanged():
    res = result(Verdict.FAIL, False)
    assert with_recommendation(res, PROMISE, current=None, known_good=GOOD) is res


def test_every_fix_in_the_file_names_real_settings_and_known_good_differs_somewhere():
    """promises.yaml's fixes are checked at load; on production settings each promise whose
    known-good profile changes a listed setting recommends that change."""
    catalog = load_promises(ROOT / "suites" / "promises.yaml")
    current = flat_settings(load_stack())
    good = flat_settings(load_stack(profile="known-good"))
    beat = catalog.get("BEAT-SINGLETON")
    failed = PromiseResult(
        id=beat.id,
        verdict=Verdict.FAIL,
        measured=1.0,
        threshold=0.0,
        unit="count",
        reason="",
        checks=tuple(
            CheckResult(check=c, measured=1.0, holds=c.measurement != "doubled_slots", text="")
            for c in beat.checks
        ),
    )
    text = recommend(beat, failed, current=current, known_good=good)
    assert text is not None and text.startswith("celery.beat_sync_every 0 -> 1")


@pytest.mark.parametrize(
    ("fix", "message"),
    [
        ({"measurement": "doubled_slots", "settings": ["celery.no_such"]}, "unknown env/stack"),
        ({"measurement": "write_outage_s", "settings": ["celery.beat_sync_every"]}, "not checked"),
        ({"measurement": "doubled_slots"}, "missing field(s) settings"),
        ({"measurement": "doubled_slots", "settings": ["x"], "why": 1}, "unknown key(s) why"),
    ],
)
def test_bad_fixes_are_refused_with_the_field(fix, message):
    data = {
        "promises": [
            {
                "id": "BEAT-SINGLETON",
                "text": "t",
                "experiments": ["celery-beat-kill"],
                "checks": [
                    {
                        "measurement": "doubled_slots",
                        "comparison": "==",
                        "threshold": 0,
                        "unit": "count",
                    }
                ],
                "fixes": [fix],
            }
        ]
    }
    with pytest.raises(ConfigError, match="fixes") as info:
        parse_promises(data, source="p.yaml")
    assert message in str(info.value)
