"""The timeline of a partition: the window from the cut to the heal and, when two members were
primary at once, both of them over that span."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from hasuite.model import Event, RoleObservation, Sample
from hasuite.report.timeline import render_timeline
from hasuite.runfolder import ExperimentData

NS = "{http://www.w3.org/2000/svg}"


def _obs(at: float, instance: str, role: str) -> RoleObservation:
    return RoleObservation(
        at=at, wall=at, component="postgres", instance=instance, role=role, ready=True
    )


def _experiment(old_leader_demotes: bool) -> ExperimentData:
    cut, heal = 10.0, 40.0
    roles = []
    for t in range(0, 50):
        at = float(t)
        during = cut <= at < heal
        old = "replica" if during and old_leader_demotes else ("leader" if at < heal else "replica")
        roles += [
            _obs(at, "postgres-1", old),
            _obs(at, "postgres-2", "leader" if at >= 30 else "replica"),
            _obs(at, "postgres-3", "replica"),
        ]
    detail = {
        "member": "postgres-1",
        "server": "127.0.0.1:25020",
        "component": "postgres",
        "role": "leader",
        "cut_from": ["dcs", "replicas"],
        "keep": ["app"],
    }
    events = (
        Event(
            at=cut,
            wall=cut,
            kind="fault",
            component="postgres",
            detail={"action": "partition", "role": "leader", "instances": ["postgres-1"]},
        ),
        Event(at=cut, wall=cut, kind="cut", component="postgres", detail=detail),
        Event(
            at=heal,
            wall=heal,
            kind="healed",
            component="postgres",
            detail={"member": "postgres-1", "left": []},
        ),
    )
    samples = tuple(
        Sample(at=t * 0.5, wall=t * 0.5, probe="order-write", ok=True) for t in range(100)
    )
    return ExperimentData(
        name="postgres-leader-partition",
        status="FAIL",
        reason="",
        promises=(),
        folder=Path("."),
        ran=True,
        samples=samples,
        roles=tuple(roles),
        events=events,
    )


def _titled(svg: ET.Element, cls: str) -> list[str]:
    return [(el.findtext(f"{NS}title") or "") for el in svg.iter() if el.get("class") == cls]


def test_the_partition_window_and_both_primaries_are_drawn() -> None:
    svg = ET.fromstring(render_timeline(_experiment(old_leader_demotes=False)))
    (window,) = _titled(svg, "partition")
    assert "postgres-1 cut off from dcs, replicas (kept: app)" in window
    assert "+0.0 s" in window or "0 s" in window
    (dual,) = _titled(svg, "dual-primary")
    assert "two postgres leaders at once: postgres-1 and postgres-2, 10 s" in dual
    holders = _titled(svg, "dual-primary-holder")
    assert sorted(h.split(":")[0] for h in holders) == ["postgres-1", "postgres-2"]
    assert any("healed: postgres-1" in t for t in _titled(svg, "healed"))


def test_a_leader_that_demoted_shows_the_window_and_no_dual_primary() -> None:
    svg = ET.fromstring(render_timeline(_experiment(old_leader_demotes=True)))
    assert len(_titled(svg, "partition")) == 1
    assert _titled(svg, "dual-primary") == []
