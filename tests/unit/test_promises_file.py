"""suites/promises.yaml against the verdict logic: PASS on healthy numbers, FAIL on each seeded
violation with the expected reason, ERROR when a needed measurement is missing.

Thresholds are read from the file, never hard-coded here: a broken value is built from the
threshold ("the outage a Patroni ttl raised to 30 s gives: threshold + 4.2 s").
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hasuite.analysis import (
    judge,
    measure_duplicates,
    measure_lost,
    measure_outage,
    measure_time_to_new_role,
)
from hasuite.analysis._util import fmt
from hasuite.model import Check, LedgerCheck, LedgerEntry, Measurement, Promise, Verdict
from hasuite.promises import PromiseCatalog, load_promises

from .builders import PROMISES_FILE, roles, series

CATALOG: PromiseCatalog = load_promises(PROMISES_FILE)
REQUIRED = {
    "PG-FAILOVER": "postgres-leader-kill",
    "PG-SWITCHOVER": "postgres-leader-stop",
    "POOLER": "pooler-kill",
    "REDIS-FAILOVER": "redis-master-kill",
    "DJANGO-SELFHEAL": "django-instance-kill",
    "ROLLOUT": "django-rollout",
    "CELERY-NOLOSS": "celery-workers-kill",
    "BEAT-SINGLETON": "celery-beat-kill",
    "HPA-SCALES": "django-hpa-scale",
    "ALERT-FIRES": "postgres-leader-kill",
    "ALERT-RESOLVES": "postgres-leader-kill",
    "NO-FALSE-ALARM": "healthy-baseline",
    "ORDER-CONFIRMED": "redis-master-kill",
    "PG-PARTITION": "postgres-leader-partition",
    "REDIS-PARTITION": "redis-master-partition",
    "APP-DB-PARTITION": "app-db-partition",
    "PG-RESTART": "postgres-leader-restart",
    "REDIS-RESTART": "redis-master-restart",
}

# What a broken stack produces, per promise (the seeded violation named in the comment).
Breaker = Callable[[float], float]
BROKEN: dict[str, dict[str, Breaker]] = {
    "PG-FAILOVER": {"write_outage_s": lambda t: t + 4.2},  # Patroni ttl 30 / loop_wait 10
    "PG-SWITCHOVER": {"write_outage_s": lambda t: t + 2.5},  # slow HAProxy checks
    "POOLER": {"write_outage_s": lambda t: t + 10},  # one PgBouncer: connect timeout 15 s
    "REDIS-FAILOVER": {  # Sentinel down-after-milliseconds raised to 30000 + 10 s
        "time_to_new_master_s": lambda t: t + 10.6,
        "cache_write_outage_s": lambda t: t + 10.6,
    },
    "DJANGO-SELFHEAL": {  # one instance only behind nginx
        "failed_request_ratio": lambda t: t + 0.2,
        "max_success_gap_s": lambda t: t + 3.5,
    },
    "ROLLOUT": {"failed_requests": lambda t: t + 17},  # instances killed without grace
    "CELERY-NOLOSS": {"lost_tasks": lambda t: t + 4},  # acks_late off
    "BEAT-SINGLETON": {"doubled_slots": lambda t: t + 12},  # two beats running
    "HPA-SCALES": {"hpa_scale_up_s": lambda t: t + 60},  # no CPU requests on the containers
    "ALERT-FIRES": {"alert_fire_s": lambda t: t + 30},  # `for:` longer than the bound
    "ALERT-RESOLVES": {"alert_resolve_s": lambda t: t + 30},  # resolve_timeout too long
    "NO-FALSE-ALARM": {"false_alarms": lambda t: t + 2},  # a rule firing on healthy series
    # the confirmation enqueue failed in a Redis failover and nothing retries it
    "ORDER-CONFIRMED": {"unconfirmed_orders": lambda t: t + 5},
    # the cut-off leader kept its role past the lock's expiry (retry_timeout > ttl / 2)
    "PG-PARTITION": {
        "dual_primary_s": lambda t: t + 4.5,
        "old_primary_demoted_s": lambda t: t + 4.5,
    },
    # min-replicas-to-write 0: the cut-off master takes writes until the heal
    "REDIS-PARTITION": {"split_brain_window_s": lambda t: t + 20},
    # no readiness probe: the cut instance stays in the rotation
    "APP-DB-PARTITION": {"failed_request_ratio": lambda t: t + 0.23},
    # Patroni ttl 60: the restarted leader keeps its lock, writes wait on the pooler's retries
    "PG-RESTART": {"write_outage_s": lambda t: t + 6},
    # no append-only file: the master restarted in place comes back with its last snapshot
    "REDIS-RESTART": {"lost_tasks": lambda t: t + 4},
}
_NEGATED = {"<=": ">", "<": ">=", "==": "!=", ">=": "<", ">": "<="}


def healthy_value(check: Check) -> float:
    t = check.threshold
    return {
        "<=": t * 0.7,
        "<": t * 0.5 if t > 0 else t - 1,
        "==": t,
        ">=": t * 1.3 + 1,
        ">": t + 1,
    }[check.comparison]


def measurements_for(promise: Promise, overrides: dict[str, float] | None = None):
    overrides = overrides or {}
    return [
        Measurement(
            name=c.measurement,
            value=overrides.get(c.measurement, healthy_value(c)),
            unit=c.unit,
        )
        for c in promise.checks
    ]


def shown(value: float, unit: str) -> str:
    return fmt(value) if unit in ("count", "ratio") else f"{fmt(value)} {unit}"


def target_for(promise: Promise) -> str:
    return promise.targets[0]


def test_file_has_every_required_promise_and_experiment():
    for pid, experiment in REQUIRED.items():
        assert experiment in CATALOG.get(pid).experiments
    assert set(BROKEN) == set(CATALOG.ids), "every promise needs a seeded violation here"


@pytest.mark.parametrize("promise", CATALOG.promises, ids=CATALOG.ids)
def test_healthy_numbers_pass(promise: Promise):
    r = judge(promise, measurements_for(promise), target_for(promise))
    assert r.verdict is Verdict.PASS, r.reason


@pytest.mark.parametrize("promise", CATALOG.promises, ids=CATALOG.ids)
def test_seeded_violation_fails_with_numbers(promise: Promise):
    by_name = {c.measurement: c for c in promise.checks}
    broken = {name: f(by_name[name].threshold) for name, f in BROKEN[promise.id].items()}
    r = judge(promise, measurements_for(promise, broken), target_for(promise))
    assert r.verdict is Verdict.FAIL
    for name, value in broken.items():
        c = by_name[name]
        expected = (
            f"{c.human_label()} {shown(value, c.unit)} {_NEGATED[c.comparison]} "
            f"{shown(c.threshold, c.unit)}"
        )
        assert expected in r.reason


@pytest.mark.parametrize(
    ("promise", "check"),
    [(p, c) for p in CATALOG.promises for c in p.checks if c.enforce],
    ids=[f"{p.id}:{c.measurement}" for p in CATALOG.promises for c in p.checks if c.enforce],
)
def test_each_enforced_check_flips_the_verdict(promise: Promise, check: Check):
    """No threshold in the file is decorative: violating it alone gives FAIL; missing, ERROR."""
    bad = {
        ">": check.threshold,
        "<=": check.threshold + 1,
        "<": check.threshold,
        "==": check.threshold + 1,
        ">=": check.threshold - 1,
    }[check.comparison]
    r = judge(promise, measurements_for(promise, {check.measurement: bad}), target_for(promise))
    assert r.verdict is Verdict.FAIL and check.human_label() in r.reason
    rest = [m for m in measurements_for(promise) if m.name != check.measurement]
    r = judge(promise, rest, target_for(promise))
    assert r.verdict is Verdict.ERROR
    assert f"{check.human_label()} not measured" in r.reason


def test_hpa_is_skipped_on_local_with_reason():
    hpa = CATALOG.get("HPA-SCALES")
    r = judge(hpa, measurements_for(hpa), "local")
    assert r.verdict is Verdict.SKIPPED
    assert "not local" in r.reason and "--target kind" in r.reason


def test_redis_lost_tasks_are_reported_in_a_passing_verdict():
    redis = CATALOG.get("REDIS-FAILOVER")
    r = judge(redis, measurements_for(redis, {"lost_tasks": 2}), "local")
    assert r.verdict is Verdict.PASS
    assert "reported, not enforced: " in r.reason and "lost tasks 2 != 0" in r.reason


# ---- end to end: a hand-built timeline of a broken and a healthy stack ----------------------


def _pg_failover_timeline(outage_s: float, lost: int):
    fault = 10.0
    # last success at 9.9 s; each edge is placed in the middle of its 0.1 s bracket, so n failed
    # samples read as an outage of n x 0.1 s (+ 0.005: the failures' 0.01 s latency)
    n_fail = round(outage_s / 0.1)
    pattern = "." * 100 + "x" * n_fail + "." * 50
    samples = series(pattern)
    new_leader_at = fault + outage_s - 1.0
    obs = roles(
        "postgres",
        (9.5, "m1", "leader", True),
        (9.5, "m2", "replica", True),
        (new_leader_at, "m2", "leader", True),
    )
    acked = [LedgerEntry(kind="order", key=f"o{i}", acknowledged_at=i * 0.1) for i in range(99)]
    check = LedgerCheck(present=frozenset(e.key for e in acked[lost:]))
    return [
        measure_outage(samples, fault_at=fault),
        measure_time_to_new_role(obs, component="postgres", role="leader", fault_at=fault),
        measure_lost(acked, check, kind="order"),
    ]


def test_pg_failover_end_to_end_fail_and_pass():
    promise = CATALOG.get("PG-FAILOVER")
    limits = {c.measurement: c.threshold for c in promise.checks}
    limit, leader_limit = limits["write_outage_s"], limits["time_to_new_leader_s"]
    r = judge(promise, _pg_failover_timeline(limit + 4.2, lost=0), "local")
    assert r.verdict is Verdict.FAIL
    leader_s = limit + 4.2 - 1.0  # the new leader shows up 1 s before writes succeed
    assert r.reason == "; ".join(
        [
            *(
                [f"time to new leader {fmt(leader_s)} s > {fmt(leader_limit)} s"]
                if leader_s > leader_limit
                else []
            ),
            f"write outage {fmt(limit + 4.2)} s > {fmt(limit)} s",
        ]
    )
    r = judge(promise, _pg_failover_timeline(limit - 9.3, lost=0), "local")
    assert r.verdict is Verdict.PASS, r.reason
    r = judge(promise, _pg_failover_timeline(limit - 9.3, lost=2), "local")
    assert r.verdict is Verdict.FAIL and r.reason == "lost orders 2 != 0"


def test_celery_noloss_end_to_end_with_deadline_from_params():
    promise = CATALOG.get("CELERY-NOLOSS")
    deadline = promise.params["deadline_s"]  # users' deadline, not the broker's timeout
    assert deadline <= 150, "the deadline must end within one run (task_wait_s 150)"
    tasks = [LedgerEntry(kind="task", key=f"t{i}", acknowledged_at=100.0) for i in range(5)]
    ran_in_time = {"t0": 1, "t1": 2, "t2": 1, "t3": 1, "t4": 1}
    first_seen = {k: 110.0 for k in ran_in_time}
    first_seen["t4"] = 100.0 + deadline + 1  # ran, but too late: lost by the promise's rule
    check = LedgerCheck(executions=ran_in_time, first_seen=first_seen, checked_at=1000.0)
    ms = [
        measure_lost(tasks, check, kind="task", deadline_s=deadline),
        measure_duplicates(tasks, check, kind="task"),
    ]
    r = judge(promise, ms, "local")
    assert r.verdict is Verdict.FAIL
    assert r.reason.startswith("lost tasks 1 != 0")
    assert "reported, not enforced: duplicate tasks 1 != 0" in r.reason


def test_celery_noloss_on_production_settings_fails_and_names_the_visibility_timeout():
    """Tasks running at the kill come back only after the 3600 s visibility timeout: after the
    120 s deadline they are lost (FAIL, never ERROR), and the way forward is named."""
    from hasuite.analysis.recommend import with_recommendation
    from hasuite.settings import flat_settings, load_stack

    promise = CATALOG.get("CELERY-NOLOSS")
    deadline = promise.params["deadline_s"]
    tasks = [LedgerEntry(kind="task", key=f"t{i}", acknowledged_at=100.0) for i in range(4)]
    # t3 was running at the kill: not run yet when the read-back came, 130 s later
    check = LedgerCheck(executions={"t0": 1, "t1": 1, "t2": 1}, checked_at=100.0 + 130)
    lost = measure_lost(tasks, check, kind="task", deadline_s=deadline)
    r = judge(promise, [lost, measure_duplicates(tasks, check, kind="task")], "local")
    assert r.verdict is Verdict.FAIL, r.reason
    # cut short before the deadline, the unsettled task still counts against the promise
    early = LedgerCheck(executions={"t0": 1, "t1": 1, "t2": 1}, checked_at=100.0 + 50)
    short = measure_lost(tasks, early, kind="task", deadline_s=deadline)
    assert (short.value, short.at_least) == (1.0, True)
    assert judge(promise, [short], "local").verdict is Verdict.FAIL
    rec = with_recommendation(
        r,
        promise,
        current=flat_settings(load_stack()),
        known_good=flat_settings(load_stack(profile="known-good")),
    ).recommendation
    assert rec is not None and rec.startswith("celery.visibility_timeout 3600 -> 30")


def test_partition_split_brain_losses_are_reported_not_enforced():
    """Asynchronous replication loses the cut-off leader's writes by design: counted, shown,
    separate from lost orders, and a demotion in time still PASSes."""
    pg = CATALOG.get("PG-PARTITION")
    r = judge(pg, measurements_for(pg, {"split_brain_lost_orders": 7, "lost_orders": 7}), "local")
    assert r.verdict is Verdict.PASS, r.reason
    assert "split brain lost orders 7 != 0" in r.reason.replace("-", " ")
    assert "lost orders 7 != 0" in r.reason
    app = CATALOG.get("APP-DB-PARTITION")
    assert judge(app, measurements_for(app), "local").verdict is Verdict.SKIPPED
