"""``junit.xml`` for CI systems: one testcase per promise, classname = the experiment.

Shape (the common Jenkins/Surefire dialect)::

    <testsuites name="hasuite" tests= failures= errors= skipped= time=>
      <testsuite name="<experiment>" tests= failures= errors= skipped= time= timestamp=>
        <testcase classname="<experiment>" name="<PROMISE-ID>" time=>
          FAIL -> <failure type="FAIL" message="<reason>">the checks with their numbers</failure>
          ERROR, INTERRUPTED -> <error type="ERROR|INTERRUPTED" message="<reason>">...</error>
          SKIPPED -> <skipped message="<reason>"/>
          PASS -> <system-out>the numbers</system-out>

An experiment that did not run (no promise results) is one testcase named ``(not run)``: an
error when the run was interrupted, skipped otherwise. ``time`` of a testcase is the
experiment's duration shared evenly among its promises.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hasuite.runfolder import ExperimentData, PromiseRecord, RunData

__all__ = ["render_junit"]


def _numbers(promise: PromiseRecord) -> str:
    lines = [f"{promise.id}: {promise.verdict}"]
    for c in promise.checks:
        measured = "not measured" if c.measured is None else f"{c.measured:g}"
        enforced = "" if c.enforce else " (reported, not enforced)"
        lines.append(
            f"  {c.measurement}: measured {measured} {c.unit}, "
            f"required {c.comparison} {c.threshold:g} {c.unit}{enforced}"
        )
    lines.append(f"reason: {promise.reason}")
    return "\n".join(lines) + "\n"


def _suite(root: ET.Element, exp: ExperimentData, timestamp: str) -> dict[str, int]:
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    duration = exp.duration_s or 0.0
    started = str((exp.result.started if exp.result else None) or timestamp)[:19]
    suite = ET.SubElement(root, "testsuite", name=exp.name, timestamp=started)
    cases: list[tuple[str, str, str, str]] = [
        (p.id, p.verdict, p.reason, _numbers(p)) for p in exp.promises
    ]
    if not cases:
        verdict = "INTERRUPTED" if exp.status == "INTERRUPTED" else "SKIPPED"
        cases = [("(not run)", verdict, exp.reason or "not run", exp.reason or "not run")]
    each = duration / len(cases)
    for name, verdict, reason, text in cases:
        case = ET.SubElement(suite, "testcase", classname=exp.name, name=name, time=f"{each:.3f}")
        counts["tests"] += 1
        if verdict == "FAIL":
            ET.SubElement(case, "failure", type="FAIL", message=reason).text = text
            counts["failures"] += 1
        elif verdict in ("ERROR", "INTERRUPTED", "PENDING"):
            ET.SubElement(case, "error", type=verdict, message=reason).text = text
            counts["errors"] += 1
        elif verdict == "SKIPPED":
            ET.SubElement(case, "skipped", message=reason)
            counts["skipped"] += 1
        else:
            ET.SubElement(case, "system-out").text = text
    for key, value in counts.items():
        suite.set(key, str(value))
    suite.set("time", f"{duration:.3f}")
    return counts


def render_junit(run: RunData) -> str:
    """The JUnit XML document as a string (UTF-8 declaration included)."""
    root = ET.Element("testsuites", name=f"hasuite {run.run_id}")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    time = 0.0
    for exp in run.experiments:
        for key, value in _suite(root, exp, str(run.summary.started)[:19]).items():
            totals[key] += value
        time += exp.duration_s or 0.0
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{time:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
