"""What the terminal shows: progress during a run, the verdicts (a table on a terminal, one
line a verdict in a log), a comparison of two runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hasuite.model import Timeline
from hasuite.report.compare import Comparison
from hasuite.report.words import tally, verdict_rows
from hasuite.runfolder import RunData

__all__ = [
    "RunProgress",
    "compare_table",
    "print_verdicts",
    "session_phase",
    "verdict_lines",
    "verdict_table",
]

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
    """Every promise in a table at the console's width: the names and the verdict kept whole,
    the reason (the measured values against the thresholds) and the fix wrapping in the rest."""
    rows = list(verdict_rows(run))
    fixes = any(r.fix for r in rows)
    table = Table(
        title=f"run {run.run_id} on {run.summary.target}: {run.status} ({tally(run)})",
        expand=True,
    )
    table.add_column("experiment / promise", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("measured against the promise", ratio=3, overflow="fold")
    if fixes:
        table.add_column("fix", ratio=2, overflow="fold")
    for r in rows:
        cells = [f"{escape(r.experiment)}\n[bold]{escape(r.promise)}[/]", _c(r.verdict)]
        cells.append(escape(r.reason or f"measured {r.measured} against {r.threshold}"))
        table.add_row(*cells, *([escape(r.fix)] if fixes else []))
    return table


def verdict_lines(run: RunData) -> list[str]:
    """One line a verdict (experiment, promise, verdict, measured against threshold, fix) under
    a line for the run: what a CI log shows, however long the reason."""
    head = f"run {run.run_id} on {run.summary.target}: {run.status} ({tally(run)})"
    return [head, *(r.line for r in verdict_rows(run))]


def print_verdicts(console: Console, run: RunData) -> None:
    """The verdict table on a terminal; one verdict a line anywhere else (a CI log, a pipe):
    a table drawn to a default width there wraps every long reason into many short pieces."""
    if console.is_terminal:
        console.print(verdict_table(run))
        return
    for line in verdict_lines(run):
        console.print(line, markup=False, highlight=False, soft_wrap=True, emoji=False)


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
