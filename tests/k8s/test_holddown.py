"""A crash that stays down on kind (kubelet held) and who leads Postgres (Patroni's lock), against
fakes of the driver's boundary."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from hasuite.drivers.k8s.runtime import holddown
from hasuite.drivers.k8s.runtime.members import lock_holder
from hasuite.drivers.k8s.runtime.target import KubeTarget
from hasuite.errors import ConfigError, FaultUnavailable, HasuiteError, InjectionError
from hasuite.model import CRASH_HELD_DOWN, CRASH_RESTARTED_IN_PLACE

from .test_driver import FakeApi, FakeRunner, kind_target, make_api, spilo

NOW = 1_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> tuple[float, float]:
        return self.now, 1_800_000_000.0 + self.now


def _iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).isoformat()


def held_target() -> tuple[KubeTarget, FakeApi, FakeRunner, Clock]:
    t, api, runner = kind_target()
    clock = Clock()
    t.clock = clock
    return t, api, runner, clock


def test_a_held_crash_arms_the_release_before_it_stops_kubelet_then_kills() -> None:
    t, _, runner, _ = held_target()
    inj = t.crash("postgres", role="leader", hold_s=45)
    assert inj.held_s == 45 and inj.fault_class == CRASH_HELD_DOWN
    node = [c for c in runner.commands if c[:3] == ("docker", "exec", "hasuite-worker2")]
    assert [c[3] for c in node] == ["systemd-run", "crictl", "systemctl", "kill"]
    arm, inspect, stop, kill = node
    assert "--on-active=45.000s" in arm and arm[-3:] == ("systemctl", "start", "kubelet.service")
    assert "inspect" in inspect and inspect[-1] == "shop-db-1-c1"
    assert stop[-2:] == ("stop", "kubelet.service")
    # SIGKILL to the container's first process, the pid crictl named
    pid = str(4000 + runner.commands.index(inspect) + 1)  # what the fake crictl answered
    assert kill[3:5] == ("kill", "-KILL") and kill[5:] == (pid,)
    assert [p.verb for p in t.planned] == ["hold-down"]
    assert "held 45 s" in t.planned[0].detail


def test_an_in_place_crash_is_its_own_fault_class() -> None:
    t, _, runner, _ = held_target()
    inj = t.crash("postgres", role="leader")
    assert inj.held_s is None and inj.fault_class == CRASH_RESTARTED_IN_PLACE
    assert not [c for c in runner.commands if "kubelet.service" in c]


def test_the_held_pod_is_down_until_the_hold_ends_and_kubelet_replaced_its_containers() -> None:
    t, api, _, clock = held_target()
    t.crash("postgres", role="leader", hold_s=30)
    # the API still says Ready (kubelet is stopped): the driver's own record says down
    held = next(i for i in t.instances("postgres") if i.name == "shop-db-1")
    assert not held.ready and "held down" in held.detail and "30 s more" in held.detail
    clock.now += 31  # the hold is over, but kubelet has not restarted the container yet
    assert not next(i for i in t.instances("postgres") if i.name == "shop-db-1").ready
    pods = api.pods["application=spilo"]
    api.pods["application=spilo"] = [
        replace(p, container_ids=("shop-db-1-c2",)) if p.name == "shop-db-1" else p for p in pods
    ]
    assert next(i for i in t.instances("postgres") if i.name == "shop-db-1").ready


def test_restore_starts_kubelet_again_and_stops_the_timer() -> None:
    t, _, runner, _ = held_target()
    t.crash("postgres", role="leader", hold_s=20)
    (hold,) = t.holds
    runner.commands.clear()
    t.restore()
    assert runner.commands == [
        ("docker", "exec", hold.node, "systemctl", "start", "kubelet.service"),
        ("docker", "exec", hold.node, "systemctl", "stop", f"{hold.unit}.timer"),
    ]
    assert hold.unit.startswith("hasuite-release-shop-db-1-")
    assert t.holds == []


class FailingRunner(FakeRunner):
    """kubelet will not start again: every ``systemctl start`` fails."""

    def run(self, argv, *, timeout_s, check=True, cwd=None):  # type: ignore[no-untyped-def]
        if "start" in argv and "kubelet.service" in argv and "systemd-run" not in argv:
            raise HasuiteError("Job for kubelet.service failed")
        return super().run(argv, timeout_s=timeout_s, check=check, cwd=cwd)


def test_a_hold_that_cannot_be_undone_names_the_node_and_what_to_run() -> None:
    runner = FailingRunner()
    t = KubeTarget.create(
        target="kind", context="kind-hasuite", api_factory=make_api, runner=runner
    )
    t.crash("postgres", role="leader", hold_s=10)
    with pytest.raises(InjectionError) as err:
        t.restore()
    text = str(err.value)
    assert "hasuite-worker2" in text and "systemctl start kubelet.service" in text
    assert "hasuite down --target kind" in text


def test_a_kill_that_fails_starts_kubelet_again_at_once() -> None:
    class KillFails(FakeRunner):
        def run(self, argv, *, timeout_s, check=True, cwd=None):  # type: ignore[no-untyped-def]
            if "kill" in argv:
                raise HasuiteError("kill: no such process")
            return super().run(argv, timeout_s=timeout_s, check=check, cwd=cwd)

    runner = KillFails()
    t = KubeTarget.create(
        target="kind", context="kind-hasuite", api_factory=make_api, runner=runner
    )
    with pytest.raises(HasuiteError, match="no such process"):
        t.crash("postgres", role="leader", hold_s=10)
    assert runner.commands[-2][-3:] == ("systemctl", "start", "kubelet.service")
    assert t.holds == []


@pytest.mark.parametrize("hold_s", [0.0, -1.0, holddown.MAX_HOLD_S + 1])
def test_a_hold_out_of_bounds_is_refused_before_anything_runs(hold_s: float) -> None:
    t, _, runner, _ = held_target()
    with pytest.raises(ConfigError, match="node-monitor grace period"):
        holddown.hold_down(runner, t._pods("postgres")[0], hold_s, now=NOW)
    assert runner.commands == []


def test_the_cluster_target_cannot_hold_a_crash_down() -> None:
    t = KubeTarget.create(
        target="cluster",
        context="staging",
        allowed_contexts=("staging",),
        api_factory=make_api,
    )
    with pytest.raises(FaultUnavailable, match="needs the node's kubelet"):
        t.crash("postgres", role="leader", hold_s=30)


def test_the_leader_is_patronis_lock_holder_not_the_label() -> None:
    t, api, _, clock = held_target()
    # the old leader's pod keeps spilo-role=master (it died with its node); Patroni's lock moved
    pods = api.pods["application=spilo"]
    api.pods["application=spilo"] = [*pods[:2], spilo("shop-db-2", "master", "hasuite-worker3")]
    wall = clock()[1]
    api.locks = {
        ("configmap", "shop-db-leader"): {
            "leader": "shop-db-2",
            "renewTime": _iso(wall - 1),
            "ttl": "30",
        }
    }
    roles = {i.name: i.role for i in t.instances("postgres")}
    assert roles == {"shop-db-0": "replica", "shop-db-1": "replica", "shop-db-2": "leader"}


def test_an_expired_lock_means_no_leader_and_zalandos_endpoints_lock_is_read_too() -> None:
    wall = 1_800_000_000.0
    fresh = {"leader": "shop-db-0", "renewTime": _iso(wall - 5), "ttl": "30"}
    assert lock_holder(fresh, wall) == "shop-db-0"
    assert lock_holder({**fresh, "renewTime": _iso(wall - 31)}, wall) is None
    assert lock_holder({"leader": ""}, wall) is None
    t, api, _, _ = held_target()
    api.locks = {("endpoints", "shop-db"): {"leader": "shop-db-0"}}
    assert [i.name for i in t.instances("postgres") if i.role == "leader"] == ["shop-db-0"]
