"""The waits of one experiment's recording, each ending as soon as its condition holds
(a part of the session).

:class:`Gates` holds the session's clock, sleep and timeout multiplier, and waits:
- :meth:`Gates.steady`: before the fault, until ``baseline_s`` without a failed request probe;
- :meth:`Gates.settle`: after recovery, until every request probe succeeded after its last
  failure;
- :meth:`Gates.tasks`: until the acknowledged tasks ran, or their deadline passed;
- :meth:`Gates.alerts`: until the expected alerts fired and resolved, bounded by the promises.
Every wait is bounded; none reads the session: what it needs comes in as arguments.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from hasuite.analysis.experiment import REQUEST_PROBES
from hasuite.drivers.alerting import AlertRecorder
from hasuite.drivers.recorders import ProbeSet
from hasuite.model import Event

log = logging.getLogger(__name__)

__all__ = ["Gates", "SteadyOutcome"]


@dataclass(frozen=True)
class SteadyOutcome:
    """The steady-state gate's answer: ``refused`` (no fault: why) or, when failures before
    the clean window were skipped, the ``baseline`` event that starts the judged baseline."""

    refused: str | None = None
    baseline: Event | None = None


@dataclass
class Gates:
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    timeout_multiplier: float = 1.0

    def steady(
        self,
        probes: ProbeSet,
        *,
        recording_from: float,
        window_s: float,
        timeout_s: float,
        name: str = "",
    ) -> SteadyOutcome:
        """The steady-state gate: the fault goes in only after ``window_s`` without a failed
        request probe.

        A probe that failed while the stack warmed up (a first slow answer, a neighbour's burst
        on a shared machine) would otherwise make the whole verdict ERROR ("not healthy before
        the fault"). The gate keeps recording until a clean window of ``window_s`` and, when it
        had to skip failures, gives a ``"baseline"`` event at the window's start: the ``before``
        phase begins there, and the skipped samples form the ``warmup`` phase, reported but not
        judged. A stack that never gets ``window_s`` clean within ``timeout_s`` (scaled by the
        timeout multiplier) gets no fault: the experiment is refused, ERROR, and nothing was
        broken on top of the trouble.
        """
        limit = timeout_s * self.timeout_multiplier
        deadline = self.clock() + limit
        while True:
            now = self.clock()
            failed = [s.at for s in probes.samples() if s.probe in REQUEST_PROBES and not s.ok]
            clean_from = max([recording_from, *failed])
            if now - clean_from >= window_s:
                break
            if now >= deadline:
                return SteadyOutcome(
                    refused=(
                        f"fault not injected: the stack was not steady: {len(failed)} request "
                        f"probe(s) failed while recording, the last {now - clean_from:.1f} s ago; "
                        f"no {window_s:g} s without a failure within {limit:g} s "
                        "(extensions.hasuite.baseline_timeout_s)"
                    )
                )
            self.sleep(min(0.2, window_s - (now - clean_from)))
        if not failed:
            return SteadyOutcome()
        start = math.nextafter(clean_from, math.inf)  # the last failure stays in the warm-up
        log.info(
            "%s: steady after %.1f s (%d failed probe(s) in the warm-up)",
            name,
            start - recording_from,
            len(failed),
        )
        return SteadyOutcome(
            baseline=Event(
                at=start,
                wall=self.wall() - (self.clock() - start),
                kind="baseline",
                detail=(
                    f"{len(failed)} failed request probe(s) before it (warm-up, not judged); "
                    f"{window_s:g} s clean before the fault"
                ),
            )
        )

    def settle(self, probes: ProbeSet, *, settle_s: float, timeout_s: float, name: str) -> None:
        """Keep recording until every request probe succeeded after its last failure."""
        self.sleep(settle_s)
        deadline = self.clock() + timeout_s
        while self.clock() < deadline:
            samples = probes.samples()
            pending = []
            for probe in REQUEST_PROBES:
                mine = [s for s in samples if s.probe == probe]
                if mine and not max(mine, key=lambda s: s.at).ok:
                    pending.append(probe)
            if not pending:
                return
            self.sleep(0.2)
        log.warning("%s: probes still failing %.0f s after recovery", name, timeout_s)

    def tasks(self, probes: ProbeSet, *, wait_s: float, deadline_s: float, name: str) -> None:
        """Wait (bounded) until the tasks acknowledged so far ran, so lost_tasks can be judged.

        The wait ends at the earliest of: all ran, ``wait_s`` (scaled), the last one's
        deadline (``deadline_s`` after its acknowledgement). Tasks not run and not yet due
        stay "not due yet" in lost_tasks (a lower bound: ERROR, never PASS).
        """
        acked = {e.key: e.acknowledged_at for e in probes.ledger() if e.kind == "task"}
        if not acked:
            return
        start = self.clock()
        limit = start + wait_s * self.timeout_multiplier
        while True:
            seen = probes.task_first_seen()
            missing = [k for k in acked if k not in seen]
            # no point waiting past the deadline of the last task still missing
            if not missing or self.clock() >= min(
                limit, max(acked[k] for k in missing) + deadline_s
            ):
                break
            self.sleep(1.0)
        log.info(
            "%s: %d of %d acknowledged tasks ran after %.0f s of waiting",
            name,
            len(acked) - len(missing),
            len(acked),
            self.clock() - start,
        )

    def alerts(
        self,
        recorder: AlertRecorder,
        names: Sequence[str],
        *,
        fault: float,
        recovered: Callable[[], float | None],
        fire_bound: float | None,
        resolve_bound: float | None,
        poll_s: float,
    ) -> None:
        """Keep recording until the expected alerts fired and resolved, bounded by the promises.

        Waits for a first firing up to ``fire_bound`` after the fault, then for every fired
        expected alert to be resolved up to ``resolve_bound`` after ``recovered()`` (+ two
        polls of margin each). Without a bound it does not wait for that step.
        """
        margin = 2 * poll_s + 1.0
        while True:
            now = self.clock()
            fired = {
                str(e.detail.get("alertname"))
                for e in recorder.events()
                if e.kind == "alert-firing"
                and e.at >= fault
                and isinstance(e.detail, Mapping)
                and e.detail.get("alertname") in names
            }
            if not fired:
                if fire_bound is None or now >= fault + fire_bound + margin:
                    return
            else:
                back = recovered()
                if resolve_bound is None or back is None or not (recorder.firing(names) & fired):
                    return
                if now >= back + resolve_bound + margin:
                    return
            self.sleep(min(poll_s, 1.0))
