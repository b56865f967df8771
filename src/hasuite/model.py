"""The suite's records: what recorders saw, what was injected, what was measured, what was judged.

Every type here is a frozen, slotted, keyword-only dataclass (or an enum) built from the standard
library only. Drivers produce samples, role observations, events and injections; the pure
``hasuite.analysis`` functions turn a :class:`Timeline` into :class:`Measurement` records; verdicts
compare measurements against :class:`Promise` checks and yield :class:`PromiseResult` records.

Time: ``at`` is a monotonic timestamp in seconds (``time.monotonic()`` of the recording process),
``wall`` is epoch seconds for humans and reports. All analysis uses ``at``; ``wall`` is carried
along so a report can print real times.

"Down" is data, never an exception: a failed probe is ``Sample(ok=False, error="...")``.
"""

# size: every record of the data flow (samples, events, timeline, ledger, promises, verdicts)
# in one module, so analysis and every driver share one vocabulary; each class is small and frozen.
from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = [
    "COMPARISONS",
    "KNOWN_TARGETS",
    "PRIMARY_ROLES",
    "Check",
    "CheckResult",
    "Event",
    "Injection",
    "LedgerCheck",
    "LedgerEntry",
    "Measurement",
    "Outage",
    "Phase",
    "Promise",
    "PromiseResult",
    "RoleObservation",
    "Sample",
    "Timeline",
    "Verdict",
]

#: Targets a promise may apply to (see ARCHITECTURE.md, "Targets").
KNOWN_TARGETS: tuple[str, ...] = ("local", "kind", "cluster")
#: The role of each component's primary, the one a failover replaces and a split brain doubles
#: (hasuite.components' registry names it, the analysis and the report read it here).
PRIMARY_ROLES: Mapping[str, str] = MappingProxyType({"postgres": "leader", "redis": "master"})

#: Comparisons a promise check may use: ``measured <op> threshold`` must hold.
COMPARISONS: tuple[str, ...] = ("<=", "<", "==", ">=", ">")


# --------------------------------------------------------------------------------------------
# What recorders see
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    """One observation of a recorder (a probe request or one load request).

    ``probe`` names the door it went through, e.g. ``"order-write"``, ``"order-read"``,
    ``"cache-write"``, ``"task-enqueue"``, ``"task-run"`` or ``"http"`` for Locust requests.
    ``backend`` says which Postgres/Redis instance served it when the app reports it; ``key`` is
    the acknowledged order id / sequence number / task id, for the ledger.
    """

    at: float
    wall: float
    probe: str
    ok: bool
    latency_s: float | None = None
    error: str | None = None
    backend: str | None = None
    key: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleObservation:
    """What the control plane said about one instance at one moment.

    ``role`` uses the component's own words: ``"leader"``/``"replica"`` for postgres,
    ``"master"``/``"replica"`` for redis, ``"member"`` (or empty) for stateless components.
    """

    at: float
    wall: float
    component: str
    instance: str
    role: str
    ready: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """A point on the timeline that is not a sample.

    ``kind`` is one of ``"fault"`` (the injection instant), ``"recovered"`` (the control plane says
    the component is back), ``"steady"`` (the stack is back to its steady state), ``"phase"``,
    ``"alert-firing"``, ``"alert-resolved"``, ... ``detail`` is free text or a mapping.
    """

    at: float
    wall: float
    kind: str
    component: str = ""
    detail: Mapping[str, Any] | str = ""


#: A crashed member that does not come back for a while (a pod rescheduled, a node lost; the
#: lab's restart delay, kind's hold-down): the control plane must act, so a failover is owed.
CRASH_HELD_DOWN = "crash-held-down"
#: A crashed member restarted in place at once (kubelet restarting the container): it may take
#: its own still-valid lock back (Patroni), so no failover is owed, only recovery.
CRASH_RESTARTED_IN_PLACE = "crash-restarted-in-place"
#: Every fault class an injection can have, with what it means (the report's words).
FAULT_CLASSES: Mapping[str, str] = MappingProxyType(
    {
        CRASH_HELD_DOWN: "crash that stays down",
        CRASH_RESTARTED_IN_PLACE: "crash restarted in place",
        "delete-grace-0": "pod deleted with grace period 0 (SIGTERM first)",
        "stop": "graceful stop (SIGTERM)",
        "pause": "frozen (SIGSTOP)",
        "rollout": "rolling update",
        "partition": "network partition",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Injection:
    """What a driver hit and when: ``crash``/``stop``/``pause``/``rollout`` of some instances.

    ``held_s``: how long a crashed member was kept from coming back (the lab's restart delay, a
    kind hold-down); None = restarted in place at once. It makes the :attr:`fault_class`.
    """

    at: float
    wall: float
    component: str
    action: str
    instances: tuple[str, ...] = ()
    role: str | None = None
    held_s: float | None = None

    @property
    def fault_class(self) -> str:
        """The class of the fault (:data:`FAULT_CLASSES`): what a promise judged on it may ask."""
        if self.action == "crash":
            return CRASH_HELD_DOWN if self.held_s else CRASH_RESTARTED_IN_PLACE
        return self.action

    def to_event(self) -> Event:
        """The ``"fault"`` event that puts this injection on the timeline."""
        return Event(
            at=self.at,
            wall=self.wall,
            kind="fault",
            component=self.component,
            detail={
                "action": self.action,
                "role": self.role,
                "instances": list(self.instances),
                "fault_class": self.fault_class,
                "held_s": self.held_s,
            },
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeline:
    """Everything one experiment recorded, in one place (tuples, any order; helpers sort)."""

    samples: tuple[Sample, ...] = ()
    roles: tuple[RoleObservation, ...] = ()
    events: tuple[Event, ...] = ()

    def for_probe(self, probe: str) -> tuple[Sample, ...]:
        """The samples of one probe, ordered by ``at``."""
        return tuple(sorted((s for s in self.samples if s.probe == probe), key=lambda s: s.at))

    def probes(self) -> tuple[str, ...]:
        """The probe names present, sorted."""
        return tuple(sorted({s.probe for s in self.samples}))

    def roles_of(self, component: str) -> tuple[RoleObservation, ...]:
        """The role observations of one component, ordered by ``at``."""
        return tuple(
            sorted((r for r in self.roles if r.component == component), key=lambda r: r.at)
        )

    def events_of(self, kind: str) -> tuple[Event, ...]:
        """The events of one kind, ordered by ``at``."""
        return tuple(sorted((e for e in self.events if e.kind == kind), key=lambda e: e.at))

    def first_event_at(self, kind: str) -> float | None:
        """Monotonic time of the first event of ``kind``, or None when there is none."""
        found = self.events_of(kind)
        return found[0].at if found else None

    # The one rule of the fault and recovery instants (the session, the analysis, the run
    # folder and the report all ask here): the fault is the first "fault" event; the recovery
    # is the first "recovered" event at or after it (any, when nothing was injected); the
    # fault window runs from the fault to the last recovery after it.

    def fault_event(self) -> Event | None:
        """The fault injection (the first ``"fault"`` event), or None."""
        found = self.events_of("fault")
        return found[0] if found else None

    def recovery_event(self) -> Event | None:
        """The first ``"recovered"`` event at or after the fault (at all when there is none)."""
        fault = self.fault_at()
        return next(
            (e for e in self.events_of("recovered") if fault is None or e.at >= fault), None
        )

    def fault_at(self) -> float | None:
        """The fault injection instant, or None."""
        event = self.fault_event()
        return event.at if event is not None else None

    def recovered_at(self) -> float | None:
        """The recovery instant (see :meth:`recovery_event`), or None."""
        event = self.recovery_event()
        return event.at if event is not None else None

    def fault_window(self, end: float) -> tuple[float, float] | None:
        """From the fault to the last recovery after it (``end`` when none came); None
        without a fault. What a load's rate is not judged over: the stack was broken."""
        fault = self.fault_at()
        if fault is None:
            return None
        recovered = [e.at for e in self.events_of("recovered") if e.at >= fault]
        return (fault, max(recovered) if recovered else end)

    def span(self) -> tuple[float, float] | None:
        """(first, last) ``at`` over samples, roles and events; None when empty."""
        times = [s.at for s in self.samples] + [r.at for r in self.roles]
        times += [e.at for e in self.events]
        return (min(times), max(times)) if times else None

    def with_injection(self, injection: Injection) -> Timeline:
        """A copy with the injection's fault event added."""
        return Timeline(
            samples=self.samples, roles=self.roles, events=(*self.events, injection.to_event())
        )


# --------------------------------------------------------------------------------------------
# Ledgers: every acknowledged write, read back after recovery
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerEntry:
    """One acknowledged write: ``kind`` is ``"order"``, ``"task"`` or ``"key"``.

    ``source`` names the client that was acknowledged: ``"probe"`` (the suite's probes) or
    ``"load"`` (the Locust users). Every data-loss check counts every source. ``server`` names
    the member that acknowledged it when the answer says which (the Postgres member or Redis
    instance); empty when unknown. A partition's split-brain writes are found by it.
    """

    kind: str
    key: str
    acknowledged_at: float
    source: str = "probe"
    server: str = ""


#: The clients whose acknowledged writes go into the ledger.
LEDGER_SOURCES: tuple[str, ...] = ("probe", "load")


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerCheck:
    """The read-back after recovery.

    ``present`` holds the keys found; ``executions`` counts executions per key (tasks: how many
    times the task body ran; orders/keys: how many rows/values exist, normally 1);
    ``first_seen`` optionally gives the monotonic time each key was first seen executed/present
    (needed to judge "ran within a deadline"); ``checked_at`` is when the read-back happened.
    A key counted in ``executions`` with a count > 0 is present even if missing from ``present``.
    """

    present: frozenset[str] = frozenset()
    executions: Mapping[str, int] = field(default_factory=dict)
    first_seen: Mapping[str, float] = field(default_factory=dict)
    checked_at: float | None = None

    def has(self, key: str) -> bool:
        """True when the read-back found the key."""
        return key in self.present or self.executions.get(key, 0) > 0


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderReadBack:
    """Shop orders read back through ``GET /api/orders?ids=`` (every source's orders).

    ``check.present`` holds the order ids found; ``confirmed`` those whose ``confirm_order``
    task ran (status ``confirmed``); ``confirmed_seen`` the monotonic instant each was first
    seen confirmed (the read-back's first read for those already confirmed); and
    ``confirm_executions`` how often the task ran per id.
    """

    check: LedgerCheck
    confirmed: frozenset[str] = frozenset()
    confirmed_seen: Mapping[str, float] = field(default_factory=dict)
    confirm_executions: Mapping[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Analysis results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Outage:
    """One window during which a probe failed.

    ``start`` is the last success before the first failure (or the first failure when the probe
    never succeeded before: ``start_known`` is False); ``end`` is the first success after the
    failures, or the last sample when the recording ended while failing (``open`` is True and the
    duration is a lower bound). The outage really began between ``start`` and the sending of the
    first failed request, and really ended between the last failure and ``end``: ``duration_s``
    puts each edge in the middle of its bracket (within half a probe period of the truth, where
    the old edges added a whole one), and ``lower_s``/``upper_s`` are the shortest and longest
    outage the samples allow.
    """

    probe: str
    start: float
    end: float
    first_failure: float
    last_failure: float
    failures: int
    duration_s: float
    open: bool = False
    start_known: bool = True
    errors: tuple[str, ...] = ()
    lower_s: float = 0.0
    upper_s: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Phase:
    """A named time window ``[start, end)`` of an experiment: before, during, recovery, after."""

    name: str
    start: float
    end: float

    def contains(self, at: float) -> bool:
        """True when ``start <= at < end``."""
        return self.start <= at < self.end


@dataclass(frozen=True, slots=True, kw_only=True)
class Measurement:
    """One number measured from a timeline.

    ``value`` None means "could not measure" and ``detail`` says why. ``at_least`` True means the
    value is a lower bound (the condition was still ongoing when the recording ended), so a verdict
    may only use it where a lower bound suffices.
    """

    name: str
    value: float | None
    unit: str
    detail: str = ""
    at_least: bool = False


# --------------------------------------------------------------------------------------------
# Promises and verdicts
# --------------------------------------------------------------------------------------------


class Verdict(enum.StrEnum):
    """The judgement of one promise (and, aggregated, of one experiment)."""

    PASS = "PASS"
    FAIL = "FAIL"
    ERROR = "ERROR"  # could not measure; never silently a PASS
    SKIPPED = "SKIPPED"  # not applicable to this target
    INTERRUPTED = "INTERRUPTED"  # the run was interrupted before the promise could be judged


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """One threshold of a promise: ``measured <comparison> threshold`` must hold.

    ``enforce`` False makes it informational: measured and reported, never changes the verdict.
    ``label`` is the human name used in reasons (default: the measurement name, words spaced).
    """

    measurement: str
    comparison: str
    threshold: float
    unit: str
    label: str = ""
    enforce: bool = True
    note: str = ""

    def human_label(self) -> str:
        """``"write outage"`` for ``write_outage_s`` unless a label is given."""
        if self.label:
            return self.label
        name = self.measurement
        if name.endswith("_s"):
            name = name[:-2]
        return name.replace("_", " ")


@dataclass(frozen=True, slots=True, kw_only=True)
class Fix:
    """Settings of env/stack.yaml known to move ``measurement`` (a promise's ``fixes:``).

    ``settings`` are dotted paths (``celery.beat_sync_every``); ``measured`` optionally cites
    what was measured with the known-good values (with its source).
    """

    measurement: str
    settings: tuple[str, ...]
    measured: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Promise:
    """A documented promise of the stack, as data (from ``suites/promises.yaml``)."""

    id: str
    text: str
    experiments: tuple[str, ...]
    checks: tuple[Check, ...]
    targets: tuple[str, ...] = KNOWN_TARGETS
    params: Mapping[str, float] = field(default_factory=dict)
    note: str = ""
    fixes: tuple[Fix, ...] = ()
    #: The fault classes (FAULT_CLASSES) the promise can honestly be judged on; () = any.
    faults: tuple[str, ...] = ()

    def applies_to(self, target: str) -> bool:
        """True when the promise is judged on ``target``."""
        return target in self.targets

    def carried_by(self, fault_class: str | None) -> bool:
        """True when a fault of ``fault_class`` (None: none made) can carry this promise."""
        return not self.faults or fault_class is None or fault_class in self.faults

    def measurement_names(self) -> tuple[str, ...]:
        """The measurements the checks need, in check order."""
        return tuple(c.measurement for c in self.checks)


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    """The outcome of one check: ``holds`` None means it could not be decided."""

    check: Check
    measured: float | None
    holds: bool | None
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PromiseResult:
    """The verdict on one promise with the numbers behind it.

    ``measured``/``threshold``/``unit`` describe the deciding check (the first violated or
    undecided one, else the first check); ``checks`` has every check's outcome; ``reason`` is
    human text such as ``"write outage 34.2 s > 30 s"``.
    """

    id: str
    verdict: Verdict
    measured: float | None
    threshold: float | None
    unit: str
    reason: str
    checks: tuple[CheckResult, ...] = ()
    #: a FAIL's way forward: the env/stack.yaml settings and known-good values that kept the
    #: promise (or that none is known); None for other verdicts
    recommendation: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``summary.json`` shape: id, verdict, measured, threshold, unit, reason,
        recommendation, checks."""
        return {
            "id": self.id,
            "verdict": self.verdict.value,
            "measured": self.measured,
            "threshold": self.threshold,
            "unit": self.unit,
            "reason": self.reason,
            "recommendation": self.recommendation,
            "checks": [
                {
                    "measurement": r.check.measurement,
                    "comparison": r.check.comparison,
                    "threshold": r.check.threshold,
                    "unit": r.check.unit,
                    "measured": r.measured,
                    "holds": r.holds,
                    "enforce": r.check.enforce,
                    "text": r.text,
                }
                for r in self.checks
            ],
        }
