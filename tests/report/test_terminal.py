"""Progress lines and the phase read from a running session."""

from __future__ import annotations

import io
import time
from types import SimpleNamespace

from rich.console import Console

from hasuite.model import Event
from hasuite.report.terminal import RunProgress, session_phase


def _session(**kw: object) -> SimpleNamespace:
    base = {"result": None, "probes": object(), "events": [], "measurements": None}
    return SimpleNamespace(options=SimpleNamespace(name="pooler-kill"), **{**base, **kw})


def test_session_phase_follows_the_experiment() -> None:
    fault = Event(at=1.0, wall=100.0, kind="fault", component="pooler")
    back = Event(at=5.0, wall=104.0, kind="recovered", component="pooler")
    assert session_phase(None, 0) == "preparing"
    assert session_phase(_session(probes=None), 0) == "checking the stack is healthy"
    assert session_phase(_session(), 0).startswith("baseline")
    assert session_phase(_session(events=[fault]), 112.0) == (
        "fault injected (pooler); waiting for recovery, 12 s after the fault"
    )
    assert session_phase(_session(events=[fault, back]), 112.0).startswith("recovered; settling")
    assert session_phase(_session(result=object()), 0) == "writing results"


def test_progress_numbers_experiments_and_prints_phase_changes() -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=False, width=200)
    now = [0.0]
    session = _session()
    with RunProgress(
        console, 2, active_session=lambda: session, clock=lambda: now[0], interval_s=0.01
    ) as progress:
        progress.line("pooler-kill: running")
        now[0] = 65.0
        deadline = time.monotonic() + 5
        while "baseline" not in buf.getvalue() and time.monotonic() < deadline:
            time.sleep(0.02)
        progress.line("pooler-kill: PASS in 65 s")
    text = buf.getvalue()
    assert "[1/2] pooler-kill: running" in text
    assert "01:05 pooler-kill: PASS in 65 s" in text
    assert "pooler-kill: baseline" in text
