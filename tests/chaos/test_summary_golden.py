"""The run folder's summary.json of one run on the fake target, against a saved copy.

Written before ``hasuite.run`` became the ``hasuite.session`` package (issue: one stage a
module), so the move is shown not to change what a run reports. Timing-dependent numbers are
masked (``#``); ids, verdicts, checks, units, thresholds and the words of every reason are not.
Regenerate on purpose only: ``HASUITE_WRITE_GOLDEN=1 pytest tests/chaos/test_summary_golden.py``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from .fakes import FakeApp, FakeTarget, fast_experiments, serve

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "data" / "fake-run-summary.json"
_NUMBER = re.compile(r"\d+(\.\d+)?")


def _mask(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _mask(v, k) for k, v in value.items() if k not in ("started", "finished", "dir")}
    if isinstance(value, list):
        return [_mask(v, key) for v in value]
    if isinstance(value, float | int) and not isinstance(value, bool) and key == "measured":
        return "#"
    if isinstance(value, str) and key in ("reason", "text"):
        return _NUMBER.sub("#", value)
    return value


def _summary(tmp_path: Path) -> dict[str, Any]:
    from hasuite.session.config import RunConfig
    from hasuite.session.runner import run_experiments

    app = FakeApp()
    with serve(app) as url:
        result = run_experiments(
            RunConfig(
                target="local",
                experiments=("postgres-leader-kill",),
                reports_dir=tmp_path / "reports",
                experiments_dir=fast_experiments(tmp_path, "postgres-leader-kill"),
                promises_path=ROOT / "suites" / "promises.yaml",
                probe_hz=20,
                run_id="golden-run",
            ),
            FakeTarget(app=app, app_url=url, outage_s=0.5),
        )
    data: dict[str, Any] = json.loads((result.run_dir / "summary.json").read_text())
    return data


def test_fake_run_summary_matches_the_saved_one(tmp_path: Path) -> None:
    got = _mask(_summary(tmp_path))
    if os.environ.get("HASUITE_WRITE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    assert got == json.loads(GOLDEN.read_text())


def test_the_mask_keeps_what_matters() -> None:
    """A changed verdict or threshold still shows (the comparison can fail)."""
    a = {"promises": [{"verdict": "PASS", "threshold": 30, "measured": 1.5, "reason": "x 1.5 s"}]}
    b = {"promises": [{"verdict": "FAIL", "threshold": 30, "measured": 1.5, "reason": "x 1.5 s"}]}
    assert _mask(a) != _mask(b)
    assert _mask(a)["promises"][0]["measured"] == "#" and _mask(a)["promises"][0]["threshold"] == 30
