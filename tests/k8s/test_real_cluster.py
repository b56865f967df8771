"""Real-cluster checks of the kind/cluster driver. Skipped on the local target (no cluster here).

Run on kind:       pytest tests/k8s/test_real_cluster.py --target kind [--keep-cluster]
Run on staging:    pytest tests/k8s/test_real_cluster.py --target cluster --kube-context NAME \
                       --allow-context NAME --app-url https://shop.staging.example
NEVER run on a cluster so far: these tests are written against the driver and the manifests only.
"""

from __future__ import annotations

from typing import Any

import pytest

from hasuite.drivers.k8s.hpa import LocustLoad, run_hpa_scale
from hasuite.drivers.k8s.target import KubeTarget
from hasuite.run import check_stack_healthy

pytestmark = pytest.mark.k8s_only


def test_stack_is_healthy_with_one_leader_and_one_master(hasuite_target: Any) -> None:
    assert isinstance(hasuite_target, KubeTarget)
    healthy, why = check_stack_healthy(hasuite_target)
    assert healthy, why
    leaders = [i for i in hasuite_target.instances("postgres") if i.role == "leader"]
    masters = [i for i in hasuite_target.instances("redis") if i.role == "master"]
    assert len(leaders) == 1 and len(masters) == 1, (leaders, masters)
    assert len([i for i in hasuite_target.instances("django") if i.ready]) >= 3


def test_hpa_is_readable_and_at_its_minimum_when_idle(hasuite_target: Any) -> None:
    status = hasuite_target.observe_hpa("django")
    assert status.min_replicas == 3 and status.max_replicas >= 4
    assert status.desired_replicas == status.min_replicas, status


@pytest.mark.slow
def test_hpa_scales_out_and_back_under_rising_load(hasuite_target: Any, tmp_path: Any) -> None:
    load = LocustLoad(host=hasuite_target.endpoints().app_url, profile="rising", run_dir=tmp_path)
    run = run_hpa_scale(hasuite_target, load)
    got = {m.name: m for m in run.measurements}
    assert got["hpa_scale_up_s"].value is not None and not got["hpa_scale_up_s"].at_least, got
    assert not run.errors, run.errors
