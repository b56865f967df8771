"""One test per promise of suites/promises.yaml, judged from one run of the experiments.

PASS passes; FAIL, ERROR and INTERRUPTED fail with the verdict's reason (the numbers); SKIPPED
(the promise does not apply to this target) and promises whose experiments were not selected
are skipped with the reason.
"""

from __future__ import annotations

import pytest

from hasuite.model import Verdict
from hasuite.paths import project_paths
from hasuite.promises import load_promises
from hasuite.session.runner import RunResult

CATALOG = load_promises(project_paths().promises)


@pytest.mark.chaos
@pytest.mark.parametrize("promise_id", [p.id for p in CATALOG.promises])
def test_promise(promise_id: str, suite_run: RunResult) -> None:
    verdicts = [
        (exp, pr) for exp in suite_run.experiments for pr in exp.promises if pr.id == promise_id
    ]
    if not verdicts:
        wanted = ", ".join(CATALOG.get(promise_id).experiments)
        pytest.skip(f"{promise_id}: none of its experiments ({wanted}) ran in this session")
    judged = (Verdict.PASS, Verdict.SKIPPED)
    failed = [exp.explain(pr) for exp, pr in verdicts if pr.verdict not in judged]
    if failed:
        pytest.fail(f"{promise_id} does not hold:\n" + "\n".join(failed), pytrace=False)
    if all(pr.verdict == Verdict.SKIPPED for _, pr in verdicts):
        pytest.skip("; ".join(pr.reason for _, pr in verdicts))
    for _, pr in verdicts:
        assert pr.verdict == Verdict.PASS
