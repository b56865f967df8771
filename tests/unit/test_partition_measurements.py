"""A partition experiment's measurements from its timeline (pure), the SKIPPED judgement of a
fault this machine cannot make, the members' own views on the lab, and the pooler peer set."""

from __future__ import annotations

from hasuite.analysis.judgement import judge_experiment
from hasuite.analysis.splitbrain import measure_partition_experiment, partition_window
from hasuite.drivers.local import health
from hasuite.drivers.local.partition import peer_instances
from hasuite.model import Event, LedgerCheck, LedgerEntry, RoleObservation, Verdict
from hasuite.promises import load_promises
from hasuite.target import PEER_SETS

from .builders import PROMISES_FILE

OLD = "127.0.0.1:25020"


def _events(heal: float | None = 40.0, component: str = "postgres") -> list[Event]:
    detail = {
        "member": f"{component}-1",
        "server": OLD,
        "component": component,
        "cut_from": ["dcs", "replicas"],
        "keep": ["app"],
    }
    out = [Event(at=10.0, wall=10.0, kind="cut", component=component, detail=detail)]
    if heal is not None:
        out.append(Event(at=heal, wall=heal, kind="healed", component=component))
    return out


def _roles(demote_at: float) -> list[RoleObservation]:
    out = []
    for t in range(0, 50):
        at = float(t)
        old = "replica" if at >= demote_at else "leader"
        new = "leader" if at >= 30 else "replica"
        out += [
            RoleObservation(
                at=at, wall=at, component="postgres", instance="postgres-1", role=old, ready=True
            ),
            RoleObservation(
                at=at, wall=at, component="postgres", instance="postgres-2", role=new, ready=True
            ),
        ]
    return out


def _by_name(ms: list) -> dict:  # type: ignore[type-arg]
    return {m.name: m for m in ms}


def test_no_cut_no_partition_measurements() -> None:
    assert measure_partition_experiment([], [], [], {}) == []
    assert partition_window([]) is None


def test_a_leader_that_demoted_in_time() -> None:
    entries = [
        LedgerEntry(kind="order", key="a", acknowledged_at=5.0, server=OLD),
        LedgerEntry(kind="order", key="b", acknowledged_at=12.5, server=OLD),  # split brain
        LedgerEntry(kind="order", key="c", acknowledged_at=35.0, server="127.0.0.1:25021"),
    ]
    check = LedgerCheck(present=frozenset({"a", "c"}))
    m = _by_name(measure_partition_experiment(_events(), _roles(18.0), entries, {"order": check}))
    assert m["partition_s"].value == 30.0
    assert m["dual_primary_s"].value == 0
    assert m["old_primary_demoted_s"].value == 8.0
    assert m["split_brain_window_s"].value == 2.5
    assert m["split_brain_orders"].value == 1 and m["split_brain_lost_orders"].value == 1
    # lost and duplicated stay the common measurements'
    assert "lost_orders" not in m and "duplicated_orders" not in m


def test_a_leader_that_never_demoted_is_a_lower_bound_and_a_dual_primary() -> None:
    m = _by_name(measure_partition_experiment(_events(), _roles(99.0), [], {"order": None}))
    assert m["old_primary_demoted_s"].at_least and m["old_primary_demoted_s"].value == 39.0
    assert m["dual_primary_s"].value == 19.0
    assert m["split_brain_orders"].value is None  # not read back: unknown, never 0
    assert m["split_brain_window_s"].value == 0


def test_an_unhealed_cut_and_a_cut_app_instance() -> None:
    m = _by_name(measure_partition_experiment(_events(heal=None), _roles(18.0), [], {}))
    assert m["partition_s"].value is None
    app = measure_partition_experiment(_events(component="django"), [], [], {})
    assert [x.name for x in app] == ["partition_s"]


def test_a_fault_this_machine_cannot_make_is_skipped_never_passed() -> None:
    promises = load_promises(PROMISES_FILE).for_experiment("postgres-leader-partition")
    why = "network partitions cannot be made on this machine: run hasuite as root"
    reason, results = judge_experiment(
        promises,
        [],
        target="local",
        errors=(),
        injected=False,
        fault_expected=True,
        interrupted=False,
        adequacy=None,
        skipped=why,
    )
    assert reason == why and {r.verdict for r in results} == {Verdict.SKIPPED}
    # interrupted wins; an injected fault is judged, not skipped
    _, results = judge_experiment(
        promises,
        [],
        target="local",
        errors=(),
        injected=False,
        fault_expected=True,
        interrupted=True,
        adequacy=None,
        skipped=why,
    )
    assert {r.verdict for r in results} == {Verdict.INTERRUPTED}
    _, results = judge_experiment(
        promises,
        [],
        target="local",
        errors=(),
        injected=True,
        fault_expected=True,
        interrupted=False,
        adequacy=None,
        skipped=why,
    )
    assert {r.verdict for r in results} == {Verdict.ERROR}


def test_each_member_speaks_for_itself() -> None:
    cluster = [
        {"name": "postgres-1", "role": "leader", "state": "running"},
        {"name": "postgres-2", "role": "replica", "state": "streaming", "lag": 12},
    ]
    own = {
        "postgres-1": {"role": "primary", "state": "running"},
        "postgres-2": {"role": "master", "state": "running"},  # promoted; the DCS lags behind
        "postgres-3": None,
    }
    rows = health.merge_member_views(["postgres-1", "postgres-2", "postgres-3"], cluster, own)
    assert [(r["role"], r["state"], r["lag"]) for r in rows] == [
        ("leader", "running", None),
        ("leader", "running", 12),
        (None, "no answer", None),
    ]


def test_the_pooler_set_cuts_an_app_instance_from_pgbouncer_and_haproxy_only() -> None:
    assert "pooler" in PEER_SETS
    programs = [
        ("django-1", "django"),
        ("django-2", "django"),
        ("pooler-1", "pooler"),
        ("pooler-2", "pooler"),
        ("haproxy", "haproxy"),
        ("redis-1", "redis"),
        ("postgres-1", "postgres"),
    ]
    peers = peer_instances(programs, "django", "django-1", ["pooler"], [])
    assert peers == [("pooler-1", "pooler"), ("pooler-2", "pooler"), ("haproxy", "haproxy")]
