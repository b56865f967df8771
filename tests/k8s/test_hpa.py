"""HPA-SCALES: the pure measurements, the driver's scale cycle (fake boundary), the experiment."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from hasuite.analysis.hpa import (
    HpaObservation,
    measure_hpa,
    measure_hpa_pods_ready,
    measure_hpa_scale_down_excess,
    measure_hpa_scale_up,
)
from hasuite.analysis.verdict import judge
from hasuite.chaos import hpa as hpa_chaos
from hasuite.drivers.k8s.boundary import HpaStatus, PodInfo
from hasuite.drivers.k8s.runtime import hpa as hpa_driver
from hasuite.drivers.k8s.runtime.target import KubeTarget
from hasuite.errors import ConfigError, HasuiteError
from hasuite.model import Verdict
from hasuite.promises import load_promises
from hasuite.session.options import parse_options, select_promises
from hasuite.session.registry import REGISTRY
from hasuite.target import Endpoints

from .conftest import ROOT
from .test_driver import FakeApi

EXPERIMENT = ROOT / "experiments" / "django-hpa-scale.yaml"


def ob(at: float, desired: int, current: int, ready: int, minimum: int = 3) -> HpaObservation:
    return HpaObservation(
        at=at,
        wall=1000 + at,
        desired=desired,
        current=current,
        ready=ready,
        min_replicas=minimum,
        max_replicas=6,
    )


# A healthy cycle: load at 10, scale-up asked at 55, 5 pods ready at 100, load stops at 110,
# back at 3 at 260 (150 s after the stop; window 120 -> 30 s beyond it).
HEALTHY = [
    ob(10, 3, 3, 3),
    ob(40, 3, 3, 3),
    ob(55, 5, 3, 3),
    ob(70, 5, 5, 4),
    ob(100, 5, 5, 5),
    ob(110, 5, 5, 5),
    ob(200, 4, 4, 4),
    ob(260, 3, 3, 3),
]


def test_healthy_cycle_measured() -> None:
    up, ready, down = measure_hpa(HEALTHY, load_start=10, load_stop=110, window_s=120, end=300)
    assert (up.name, up.value, up.at_least) == ("hpa_scale_up_s", 45, False)
    assert (ready.name, ready.value) == ("hpa_pods_ready_s", 90)
    assert (down.name, down.value, down.at_least) == ("hpa_scale_down_excess_s", 30, False)


@pytest.mark.parametrize(
    ("obs", "value", "at_least", "detail"),
    [
        ([ob(10, 3, 3, 3), ob(200, 3, 3, 3)], 190, True, "stayed at 3"),
        ([ob(5, 6, 6, 6), ob(12, 4, 3, 3)], 2, False, "desiredReplicas 4 > minimum 3"),
        ([], None, False, "no HPA observation"),
    ],
)
def test_scale_up(obs, value, at_least, detail) -> None:  # type: ignore[no-untyped-def]
    m = measure_hpa_scale_up(obs, load_start=10, end=200)
    assert (m.value, m.at_least) == (value, at_least)
    assert detail in m.detail


def test_pods_ready_waits_for_the_peak_desired() -> None:
    obs = [ob(10, 4, 3, 3), ob(20, 4, 4, 4), ob(30, 6, 4, 4), ob(50, 6, 6, 5), ob(80, 6, 6, 6)]
    m = measure_hpa_pods_ready(obs, load_start=10, load_stop=90, end=90)
    assert m.value == 70 and "peak desired 6" in m.detail
    never = measure_hpa_pods_ready(obs[:4], load_start=10, load_stop=90, end=90)
    assert never.at_least and never.value == 80 and "at most 5 of 6" in never.detail
    flat = measure_hpa_pods_ready([ob(10, 3, 3, 3)], load_start=10, load_stop=90, end=90)
    assert flat.value is None and "never asked" in flat.detail


def test_scale_down_excess() -> None:
    fast = measure_hpa_scale_down_excess(HEALTHY, load_stop=110, window_s=300, end=400)
    assert fast.value == 0 and "150.0 s after" in fast.detail
    stuck = [ob(10, 5, 5, 5), ob(110, 5, 5, 5), ob(400, 4, 4, 4)]
    late = measure_hpa_scale_down_excess(stuck, load_stop=110, window_s=120, end=410)
    assert late.at_least and late.value == pytest.approx(180) and "still 4 replicas" in late.detail
    none = measure_hpa_scale_down_excess([ob(10, 3, 3, 3)], load_stop=110, window_s=120, end=400)
    assert none.value is None and "never scaled up" in none.detail


def test_promise_judged_from_the_measurements() -> None:
    promise = load_promises(ROOT / "suites" / "promises.yaml").get("HPA-SCALES")
    good = measure_hpa(HEALTHY, load_start=10, load_stop=110, window_s=120, end=300)
    assert judge(promise, good, "kind").verdict == Verdict.PASS
    slow = [ob(10, 3, 3, 3), ob(150, 5, 3, 3), ob(200, 5, 5, 5), ob(210, 3, 3, 3)]
    bad = measure_hpa(slow, load_start=10, load_stop=205, window_s=0, end=220)
    result = judge(promise, bad, "kind")
    assert result.verdict == Verdict.FAIL and "140" in result.reason
    skipped = judge(promise, good, "local")
    assert skipped.verdict == Verdict.SKIPPED and "--target kind" in skipped.reason


# -- the driver's scale cycle against a fake of our boundary ---------------------------------


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> tuple[float, float]:
        return self.now, 1000.0 + self.now

    def sleep(self, s: float) -> None:
        self.now += s


@dataclass
class ScriptedApi(FakeApi):
    """The HPA reacts to the load: up 30 s after it starts, pods ready 20 s later, down after."""

    clock: Clock = field(default_factory=Clock)
    load_on: float | None = None
    load_off: float | None = None
    down_after_s: float = 150.0
    #: the HPA has metrics (ScalingActive) from this instant on; None: it does not say
    metrics_from: float | None = None

    def desired(self) -> int:
        t = self.clock.now
        if self.load_off is not None and t >= self.load_off + self.down_after_s:
            return 3
        if self.load_on is not None and t >= self.load_on + 30:
            return 5
        return 3

    def read_hpa(self, namespace: str, name: str) -> HpaStatus:
        self.calls.append(("hpa", namespace, name))
        d = self.desired()
        return HpaStatus(
            name=name,
            current_replicas=d,
            desired_replicas=d,
            min_replicas=3,
            max_replicas=6,
            scale_down_window_s=120,
            scaling_active=None
            if self.metrics_from is None
            else self.clock.now >= self.metrics_from,
        )

    def list_pods(self, namespace: str, selector: str) -> list[PodInfo]:
        d = self.desired()
        late = self.load_on is not None and self.clock.now < self.load_on + 50
        ready = 3 if late else d
        return [PodInfo(name=f"django-{i}", namespace=namespace, ready=i < ready) for i in range(d)]


@dataclass
class FakeLoad:
    api: ScriptedApi
    events: list[str] = field(default_factory=list)

    def start(self) -> None:
        self.events.append("start")
        self.api.load_on = self.api.clock.now

    def stop(self) -> None:
        self.events.append("stop")
        self.api.load_off = self.api.clock.now


def scripted_target() -> tuple[KubeTarget, ScriptedApi, Clock]:
    clock = Clock()
    api = ScriptedApi(context="kind-hasuite", clock=clock)
    target = KubeTarget.create(
        target="kind", context="kind-hasuite", api_factory=lambda c: api, clock=clock
    )
    return target, api, clock


def test_scale_cycle_measures_what_the_hpa_did() -> None:
    target, api, clock = scripted_target()
    load = FakeLoad(api)
    run = hpa_driver.run_hpa_scale(target, load, interval_s=1.0, sleep=clock.sleep)
    assert load.events == ["start", "stop"]
    got = {m.name: m for m in run.measurements}
    assert got["hpa_scale_up_s"].value == 30
    assert got["hpa_pods_ready_s"].value == 50
    assert run.load_stop == 50  # the load stopped once every desired pod was ready
    assert run.window_s == 120  # read from the HPA's behavior
    assert got["hpa_scale_down_excess_s"].value == 30  # back 150 s after the stop
    assert all(c[1] == "shop" for c in api.calls if c[0] == "hpa")


def test_scale_cycle_is_bounded_when_the_hpa_never_reacts() -> None:
    target, api, clock = scripted_target()

    class DeadLoad(FakeLoad):
        def start(self) -> None:  # the load never reaches the app
            self.events.append("start")

    load = DeadLoad(api)
    run = hpa_driver.run_hpa_scale(target, load, interval_s=2.0, sleep=clock.sleep)
    assert load.events == ["start", "stop"]
    assert clock.now <= 180 + 2  # max(up bound, ready bound); no scale-down wait
    up = next(m for m in run.measurements if m.name == "hpa_scale_up_s")
    assert up.at_least and up.value is not None and up.value >= 120


def test_the_clock_starts_only_once_the_hpa_has_metrics() -> None:
    target, api, clock = scripted_target()
    api.metrics_from = 24.0  # metrics-server's first CPU samples arrive late
    load = FakeLoad(api)
    run = hpa_driver.run_hpa_scale(target, load, interval_s=2.0, sleep=clock.sleep)
    assert run.metrics_wait_s == 24 and run.load_start == 24  # not timed for metrics-server
    assert next(m for m in run.measurements if m.name == "hpa_scale_up_s").value == 30


def test_an_hpa_without_metrics_starts_no_stimulus_and_says_what_to_check() -> None:
    target, api, clock = scripted_target()
    api.metrics_from = 10_000.0
    load = FakeLoad(api)
    with pytest.raises(HasuiteError, match=r"no metrics after 60 s.*metrics-server"):
        hpa_driver.run_hpa_scale(
            target, load, interval_s=5.0, metrics_bound_s=60, sleep=clock.sleep
        )
    assert load.events == [] and clock.now <= 65


def test_the_cpu_stimulus_asks_its_rate_with_the_probe_token_and_stops() -> None:
    import http.server
    import threading
    import time

    seen: list[tuple[str, str | None]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append((self.path, self.headers.get("X-Probe-Token")))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"ok": true}')

        def log_message(self, *args: object) -> None: ...

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        stimulus = hpa_driver.CpuStimulus(host=url, token="t0k", millicores=200, burn_ms=20)
        assert stimulus.rate == 10
        stimulus.start()
        time.sleep(1.0)
        stimulus.stop()
        sent = len(seen)
        time.sleep(0.3)
    finally:
        server.shutdown()
    assert 3 <= sent <= 20  # ~10 in one second; loose: a loaded machine delays ticks
    assert len(seen) == sent  # nothing after stop()
    assert set(seen) == {("/probe/burn?ms=20", "t0k")}
    assert stimulus.failed == 0


@pytest.mark.parametrize(
    ("millicores", "burn_ms", "token", "why"),
    [(10, 20, "t", "millicores >= burn_ms"), (200, 0, "t", "1..500"), (200, 20, "", "token")],
)
def test_a_cpu_stimulus_that_cannot_meter_is_refused(millicores, burn_ms, token, why) -> None:
    stimulus = hpa_driver.CpuStimulus(
        host="http://127.0.0.1:9", token=token, millicores=millicores, burn_ms=burn_ms
    )
    with pytest.raises(ConfigError, match=why):
        stimulus.start()


def test_load_is_stopped_when_reading_the_hpa_blows_up() -> None:
    target, api, clock = scripted_target()

    healthy = api.read_hpa

    def broken(namespace: str, name: str) -> HpaStatus:
        if api.load_on is None:  # the metrics check before the load still reads fine
            return healthy(namespace, name)
        raise KeyboardInterrupt

    api.read_hpa = broken  # type: ignore[method-assign]
    load = FakeLoad(api)
    with pytest.raises(KeyboardInterrupt):
        hpa_driver.run_hpa_scale(target, load, sleep=clock.sleep)
    assert load.events == ["start", "stop"]


def test_provider_skips_without_an_hpa_and_runs_no_load() -> None:
    @dataclass
    class NoHpaTarget:  # our own Target seam: anything that is not a KubeTarget
        name: str = "local"

        def endpoints(self) -> Endpoints:
            raise AssertionError("no load may start on a target without an HPA")

    with REGISTRY.bind(NoHpaTarget()):  # type: ignore[arg-type]
        out = hpa_chaos.scale_under_load(configuration={"target": "local"})
    assert "skipped" in out and "--target kind or cluster" in out["skipped"]


# -- the experiment file ---------------------------------------------------------------------


def test_experiment_judges_hpa_scales_through_our_provider() -> None:
    experiment = yaml.safe_load(EXPERIMENT.read_text())
    options = parse_options(experiment)
    assert options.name == "django-hpa-scale"
    promises = select_promises(load_promises(ROOT / "suites" / "promises.yaml"), options)
    assert [p.id for p in promises] == ["HPA-SCALES"]
    assert promises[0].targets == ("kind", "cluster")
    action = experiment["method"][0]["provider"]
    assert (action["module"], action["func"]) == ("hasuite.chaos.hpa", "scale_under_load")
    # the action's bounds are the promise's thresholds
    checks = {c.measurement: c.threshold for c in promises[0].checks}
    assert action["arguments"]["up_bound_s"] == checks["hpa_scale_up_s"]
    assert action["arguments"]["ready_bound_s"] == checks["hpa_pods_ready_s"]
    assert action["arguments"]["down_slack_s"] == checks["hpa_scale_down_excess_s"]
    assert experiment["configuration"]["target"]["key"] == "HASUITE_TARGET"
    assert options.fault is False and experiment["rollbacks"] == []  # load, not a fault
    assert options.load is None  # the action runs (and stops) its own load


def test_chaos_validate_passes_on_the_k8s_experiment() -> None:
    chaos = Path(sys.executable).parent / "chaos"
    result = subprocess.run(
        [str(chaos), "--no-version-check", "validate", str(EXPERIMENT)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "look valid" in result.stdout + result.stderr


def test_whole_experiment_on_a_local_target_is_skipped_not_error(tmp_path: Path) -> None:
    """chaoslib runs the real experiment file on the suite's fake local target (tests/chaos)."""
    import json

    from chaos.fakes import FakeApp, FakeTarget, serve

    from hasuite.session.config import RunConfig
    from hasuite.session.runner import run_experiments

    experiment = yaml.safe_load(EXPERIMENT.read_text())
    experiment["extensions"][0].update(baseline_s=0.3, settle_s=0.2, settle_timeout_s=3)
    folder = tmp_path / "experiments"
    folder.mkdir()
    (folder / EXPERIMENT.name).write_text(yaml.safe_dump(experiment))
    app = FakeApp()
    with serve(app) as url:
        target = FakeTarget(app=app, app_url=url)
        result = run_experiments(
            RunConfig(
                target=target.name,
                experiments=("django-hpa-scale",),
                reports_dir=tmp_path / "reports",
                experiments_dir=folder,
                promises_path=ROOT / "suites" / "promises.yaml",
                probe_hz=20,
                run_id="hpa-local",
            ),
            target,
        )
    summary = json.loads((result.run_dir / "summary.json").read_text())
    (exp,) = summary["experiments"]
    (promise,) = exp["promises"]
    assert (promise["id"], promise["verdict"]) == ("HPA-SCALES", "SKIPPED"), promise
    assert "--target kind" in promise["reason"]
    assert target.calls == []  # nothing was crashed, stopped or rolled out
    # not run at all: none of its promises is judged on local, so no load was started either
    journal = json.loads((result.run_dir / "django-hpa-scale" / "journal.json").read_text())
    assert journal["status"] == "skipped" and "--target kind" in journal["reason"]
