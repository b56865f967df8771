"""What the terminal shows: progress during a run, the verdict table, a comparison of two runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.table import Table

from hasuite.model import Timeline
from hasuite.report.compare import Comparison
from hasuite.runfolder import RunData

__all__ = ["RunProgress", "compare_table", "session_phase", "verdict_table"]

COLOURS = {
    "PASS": "green",
    "FAIL": "red",
    "ERROR": "yellow",
    "SKIPPED": "dim",
    "INTERRUPTED": "magenta",
    "REGRESSION": "bold red",
    "better": "green",
    "worse": "yellow",
    "worse?": "yellow",
}


def _n(value: Any, at_least: bool = False) -> str:
    if value is None:
        return "-"
    return f"{'>= ' if at_least else ''}{value:.4g}" if isinstance(value, float) else str(value)


def _c(text: str) -> str:
    colour = COLOURS.get(text)
    return f"[{colour}]{text}[/]" if colour else text


def verdict_table(run: RunData) -> Table:
    table = Table(title=f"run {run.run_id} on {run.summary.target}: {run.status}")
    for col in ("experiment", "promise", "verdict", "measured", "threshold", "reason"):
        table.add_column(col, overflow="fold")
    for exp in run.experiments:
        for p in exp.promises:
            unit = f" {p.unit}" if p.unit and p.measured is not None else ""
            table.add_row(
                exp.name,
                p.id,
                _c(p.verdict),
                _n(p.measured) + unit,
                _n(p.threshold),
                p.reason,
            )
        if not exp.promises:
            table.add_row(exp.name, "-", _c(exp.status), "", "", exp.reason)
    return table


def compare_table(cmp: Comparison) -> Table:
    tol = cmp.tolerance
    absolute = ", ".join(f"{u} {v:g}" for u, v in sorted(tol.absolute.items()))
    table = Table(
        title=f"{cmp.run_a} (A) vs {cmp.run_b} (B); tolerance {tol.relative:.0%} + {absolute}"
    )
    for col in ("experiment", "promise", "measurement", "A", "B", "check", "change", "note"):
        table.add_column(col, overflow="fold")
    for r in cmp.rows:
        check = f"{r.comparison} {r.threshold:g} {r.unit}" if r.threshold is not None else ""
        table.add_row(
            r.experiment,
            f"{r.promise} {r.a_verdict or '-'} -> {r.b_verdict or '-'}",
            r.measurement or "-",
            _n(r.a),
            _n(r.b),
            check,
            _c(r.status),
            r.note,
        )
    return table


def session_phase(session: Any, now: float) -> str:
    """The phase of a running ExperimentSession, read from its public state."""
    if session is None:
        return "preparing"
    if getattr(session, "result", None) is not None:
        return "writing results"
    if getattr(session, "probes", None) is None:
        return "checking the stack is healthy"
    timeline = Timeline(events=tuple(getattr(session, "events", ())))
    fault, recovered = timeline.fault_event(), timeline.recovery_event()
    if fault is None:
        return "baseline: probes running, fault not injected yet"
    since = f"{now - fault.wall:.0f} s after the fault"
    if recovered is None:
        return f"fault injected ({fault.component}); waiting for recovery, {since}"
    if getattr(session, "measurements", None) is None:
        return f"recovered; settling, reading ledgers back ({since})"
    return f"measured; rolling back ({since})"


class RunProgress:
    """Prints each run line with the elapsed time and, on a terminal, a live status line
    (experiment k/n, phase, elapsed) refreshed twice a second. Phase changes are printed as lines
    too, so a CI log shows them. Use as a context manager; ``line`` is the progress callback.
    """

    def __init__(
        self,
        console: Console,
        total: int,
        *,
        active_session: Callable[[], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        interval_s: float = 0.5,
    ) -> None:
        self.console = console
        self.total = total
        self.clock = clock
        self.interval_s = interval_s
        self.start = clock()
        self.index = 0
        self.experiment_start = self.start
        self._active = active_session
        self._phase = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status: Any = None

    def _elapsed(self) -> str:
        total = self.clock() - self.start
        return f"{int(total // 60):02d}:{int(total % 60):02d}"

    def line(self, message: str) -> None:
        if message.endswith(": running"):
            self.index += 1
            self.experiment_start = self.clock()
            self._phase = ""
            message = f"[{self.index}/{self.total}] {message}"
        self.console.print(f"[dim]{self._elapsed()}[/dim] {message}")

    def _tick(self) -> None:
        while not self._stop.wait(self.interval_s):
            session = self._active() if self._active else None
            name = getattr(getattr(session, "options", None), "name", None)
            if session is None:
                continue
            phase = session_phase(session, time.time())
            short = phase.split(" (")[0].split(",")[0]
            if short != self._phase:
                self._phase = short
                self.console.print(f"[dim]{self._elapsed()}[/dim]   {name}: {short}")
            if self._status is not None:
                took = self.clock() - self.experiment_start
                self._status.update(
                    f"[{self.index}/{self.total}] {name}: {phase} "
                    f"[dim](experiment {took:.0f} s, run {self._elapsed()})[/dim]"
                )

    def __enter__(self) -> RunProgress:
        if self.console.is_terminal:
            self._status = self.console.status("starting")
            self._status.start()
        self._thread = threading.Thread(target=self._tick, name="run-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._status is not None:
            self._status.stop()
