"""Partition experiments through chaoslib on a fake target and a fake app: the cut, the hold,
the heal on every exit, the split-brain measurements and the verdicts (SKIPPED when the machine
cannot partition).

Uses the real postgres-leader-partition.yaml with a short cut, so the action, the control and
the run folder run as on a lab. The fake members report their own roles, as the lab's do.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hasuite.errors import PartitionUnavailable
from hasuite.model import Injection
from hasuite.session.config import RunConfig
from hasuite.session.runner import run_experiments
from hasuite.target import Instance, Partitioner

from .fakes import FakeApp, FakeTarget, fast_experiments, serve

ROOT = Path(__file__).resolve().parents[2]
NAME = "postgres-leader-partition"
OLD, NEW = "127.0.0.1:5432", "127.0.0.1:5433"
QUIET_S = 0.3  # the last answer before a cut or a heal reaches the probe within this


@dataclass
class PartitionTarget(FakeTarget):
    """postgres-1 leads; a cut makes postgres-2 leader after ``elect_s``. ``demotes``: the
    cut-off postgres-1 says replica at once (Patroni's rule); else it stays leader (a split
    brain) and the orders it acknowledges are lost. ``unavailable``: PartitionUnavailable.

    The cut and the heal quiesce the app's orders (``gate``): no order is being handled while
    the cut goes in or comes out, and ``QUIET_S`` lets the last answers reach the probe before
    either edge. So an order is handled as cut exactly when the probe acknowledged it inside
    the window, which is how the analysis counts it."""

    demotes: bool = True
    elect_s: float = 0.3
    unavailable: str = ""
    interrupt_after_s: float | None = None
    cut_at: float | None = None
    healed: list[float] = field(default_factory=list)
    gate: threading.Lock = field(default_factory=threading.Lock)

    def instances(self, component: str) -> list[Instance]:
        if component != "postgres" or self.cut_at is None or self.healed:
            return super().instances(component)
        elected = time.monotonic() >= self.cut_at + self.elect_s
        roles = {
            "postgres-1": "replica" if self.demotes else "leader",
            "postgres-2": "leader" if elected else "replica",
            "postgres-3": "replica",
        }
        return [
            Instance(component="postgres", name=n, role=r, ready=True) for n, r in roles.items()
        ]

    def partition(
        self,
        component: str,
        *,
        role: str | None = None,
        cut_from: tuple[str, ...],
        keep: tuple[str, ...] = (),
    ) -> Injection:
        if self.unavailable:
            raise PartitionUnavailable(self.unavailable)
        with self.gate:
            time.sleep(QUIET_S)
            self.cut_at = time.monotonic()
            # after the cut: FakeTarget.instances makes postgres-2 leader once a call is made
            self.calls.append(f"partition {component} {role} {','.join(cut_from)} keep {keep}")
        if self.interrupt_after_s is not None:
            threading.Timer(self.interrupt_after_s, os.kill, (os.getpid(), signal.SIGTERM)).start()
        return Injection(
            at=self.cut_at,
            wall=time.time(),
            component=component,
            action="partition",
            instances=("postgres-1",),
            role=role,
        )

    def heal(self) -> list[str]:
        with self.gate:
            time.sleep(QUIET_S)
            self.healed.append(time.monotonic())
        return []

    def server_address(self, component: str, instance: str) -> str | None:
        return OLD if instance == "postgres-1" else NEW


def _split_brain_app(app: FakeApp, target: PartitionTarget) -> None:
    """During the cut the app's orders go to the old leader while it still says leader (and are
    lost: never replicated); else to the new one. Outside the cut: the old one."""
    original = app.handle

    def handle(method: str, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        cut = target.cut_at is not None and not target.healed
        if method != "POST" or path != "/probe/order":
            return original(method, path, query)
        with target.gate:
            cut = target.cut_at is not None and not target.healed
            status, body = original(method, path, query)
            if cut and target.demotes:
                body["backend"] = {"kind": "postgres", "address": NEW, "in_recovery": False}
            elif cut:
                app.orders.pop(body["id"], None)  # acknowledged by the minority, then rewound
            return status, body

    app.handle = handle  # type: ignore[method-assign]


def _run(tmp_path: Path, target: PartitionTarget) -> dict[str, Any]:
    folder = fast_experiments(tmp_path, NAME)
    path = folder / f"{NAME}.yaml"
    path.write_text(path.read_text().replace("duration_s: 45", "duration_s: 1.0"))
    result = run_experiments(
        RunConfig(
            target=target.name,
            experiments=(NAME,),
            reports_dir=tmp_path / "reports",
            experiments_dir=folder,
            promises_path=ROOT / "suites" / "promises.yaml",
            probe_hz=20,
            run_id="test-run",
        ),
        target,
    )
    summary: dict[str, Any] = json.loads((result.run_dir / "summary.json").read_text())
    return summary


def _measured(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "reports" / "test-run" / NAME / "measurements.json"
    return {m["name"]: m for m in json.loads(path.read_text())}


def _events(tmp_path: Path) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = json.loads(
        (tmp_path / "reports" / "test-run" / NAME / "events.json").read_text()
    )
    return events


def test_the_fake_target_is_a_partitioner() -> None:
    assert isinstance(PartitionTarget(app=FakeApp(), app_url=""), Partitioner)
    assert not isinstance(FakeTarget(app=FakeApp(), app_url=""), Partitioner)


def test_a_leader_that_demotes_passes_with_the_partition_measured(tmp_path: Path) -> None:
    app = FakeApp()
    with serve(app) as url:
        target = PartitionTarget(app=app, app_url=url)
        _split_brain_app(app, target)
        summary = _run(tmp_path, target)
    (exp,) = summary["experiments"]
    (promise,) = exp["promises"]
    assert promise["id"] == "PG-PARTITION"
    assert promise["verdict"] == "PASS", promise["reason"]
    assert target.calls == ["partition postgres leader dcs,replicas keep ('app',)"]
    m = _measured(tmp_path)
    assert m["dual_primary_s"]["value"] == 0
    # no order was in flight at the cut: none was acknowledged by the old leader after it
    assert m["split_brain_orders"]["value"] == 0 and m["lost_orders"]["value"] == 0
    assert m["split_brain_lost_orders"]["value"] == 0
    assert m["old_primary_demoted_s"]["value"] < 0.5
    assert 0.2 <= m["time_to_new_leader_s"]["value"] <= 1.0
    assert 0.9 <= m["partition_s"]["value"] <= 2.0
    kinds = [e["kind"] for e in _events(tmp_path)]
    assert kinds.index("fault") < kinds.index("healed")
    (cut,) = [e for e in _events(tmp_path) if e["kind"] == "cut"]
    assert cut["detail"]["member"] == "postgres-1" and cut["detail"]["server"] == OLD
    assert len(target.healed) >= 1


def test_a_split_brain_that_loses_writes_fails_with_the_numbers(tmp_path: Path) -> None:
    app = FakeApp()
    with serve(app) as url:
        target = PartitionTarget(app=app, app_url=url, demotes=False)
        _split_brain_app(app, target)
        summary = _run(tmp_path, target)
    (promise,) = summary["experiments"][0]["promises"]
    assert promise["verdict"] == "FAIL", promise["reason"]
    m = _measured(tmp_path)
    dual = m["dual_primary_s"]["value"]
    assert dual > 0.3 and "postgres-1 and postgres-2" in m["dual_primary_s"]["detail"]
    lost = int(m["split_brain_lost_orders"]["value"])
    assert lost > 5 and m["split_brain_orders"]["value"] == lost
    # every loss is a split-brain loss and the other way round (the fake quiesces at the edges)
    assert m["lost_orders"]["value"] == lost
    reason = promise["reason"]
    assert reason.startswith("dual primary ") and "!= 0 s" in reason
    assert f"split brain lost orders {lost} != 0" in reason.replace("-", " ")
    assert f"lost orders {int(m['lost_orders']['value'])} != 0" in reason
    # the old leader said replica only once the heal let it see the new one
    assert m["old_primary_demoted_s"]["value"] >= m["partition_s"]["value"] - 0.3


def test_no_partition_on_this_machine_is_skipped_with_the_reason(tmp_path: Path) -> None:
    why = "network partitions cannot be made on this machine: run hasuite as root"
    app = FakeApp()
    with serve(app) as url:
        target = PartitionTarget(app=app, app_url=url, unavailable=why)
        summary = _run(tmp_path, target)
    exp = summary["experiments"][0]
    assert exp["status"] == "SKIPPED"
    (promise,) = exp["promises"]
    assert promise["verdict"] == "SKIPPED" and why in promise["reason"]
    assert summary["status"] in ("SKIPPED", "PASS")
    assert not any(e["kind"] == "fault" for e in _events(tmp_path))


def test_an_interrupt_during_the_cut_heals_it(tmp_path: Path) -> None:
    from hasuite.session import signals

    app = FakeApp()
    with serve(app) as url:
        target = PartitionTarget(app=app, app_url=url, interrupt_after_s=0.3)
        summary = _run(tmp_path, target)
    assert summary["status"] == "INTERRUPTED"
    assert signals.signal_name() == "SIGTERM"
    assert target.cut_at is not None and target.healed
    assert target.healed[0] - target.cut_at < 0.9  # healed at the interrupt, not after 1 s
    events = _events(tmp_path)
    assert [e["kind"] for e in events if e["kind"] in ("cut", "healed")] == ["cut", "healed"]


@pytest.mark.parametrize("duration", [0, -1, 601])
def test_an_unbounded_cut_is_refused(duration: float) -> None:
    from hasuite.chaos.actions import partition
    from hasuite.errors import ConfigError

    with pytest.raises(ConfigError, match="duration_s"):
        partition("postgres", "leader", ["dcs"], duration_s=duration)
