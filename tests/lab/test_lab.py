"""The local lab on real processes: health, failovers, self-healing, and a clean stop."""

from __future__ import annotations

import http.client
import json
import re
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import TypeVar

import pytest

from hasuite.cli import main as cli_main
from hasuite.drivers.local import procs
from hasuite.drivers.local.lab import LocalLab
from hasuite.drivers.local.target import LocalTarget
from hasuite.errors import ConfigError, InjectionError

pytestmark = [pytest.mark.lab, pytest.mark.slow]
T = TypeVar("T")


def wait_for(what: str, fn: Callable[[], T | None], timeout_s: float) -> T:
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"{what} not reached within {timeout_s} s (last: {last!r})")


def test_lab_comes_up_healthy(lab: LocalLab, capsys: pytest.CaptureFixture[str]) -> None:
    rows = lab.status()
    assert rows, "status listed nothing"
    unhealthy = [(r.instance, r.state, r.health) for r in rows if not r.healthy]
    assert not unhealthy
    components = {r.component for r in rows}
    assert {
        "postgres",
        "pooler",
        "redis",
        "sentinel",
        "django",
        "celery-worker",
        "celery-beat",
        "nginx",
        "prometheus",
        "alertmanager",
    } <= components
    roles = sorted(r.role for r in rows if r.component == "postgres")
    assert roles == ["leader", "replica", "replica"]
    code = cli_main(
        [
            "lab",
            "status",
            "--json",
            "--lab-dir",
            str(lab.layout.root),
            "--port-base",
            str(lab.layout.port_base),
        ]
    )
    listed = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {"component", "instance", "role", "pid", "healthy"} <= set(listed[0])
    assert all(item["healthy"] is True for item in listed)


def test_second_up_starts_no_second_copy(lab: LocalLab) -> None:
    before = {r.instance: r.pid for r in lab.status()}
    lab.up(timeout_s=60)
    after = {r.instance: r.pid for r in lab.status()}
    assert after == before


def test_bad_selectors_list_valid_names(target: LocalTarget) -> None:
    with pytest.raises(ConfigError, match="valid: postgres, pooler"):
        target.crash("mysql")
    with pytest.raises(ConfigError, match="valid: leader, replica"):
        target.crash("postgres", role="master")
    with pytest.raises(ConfigError, match="valid: etcd"):
        target.lab.log_files("nope")


def test_postgres_leader_crash_elects_another_and_old_rejoins(target: LocalTarget) -> None:
    old = next(i.name for i in target.instances("postgres") if i.role == "leader")
    injection = target.crash("postgres", role="leader")
    assert injection.instances == (old,)

    def new_leader() -> str | None:
        leaders = [i.name for i in target.instances("postgres") if i.role == "leader" and i.ready]
        return leaders[0] if leaders and leaders[0] != old else None

    leader = wait_for("a new postgres leader", new_leader, 90)
    assert leader != old

    def old_is_replica() -> bool:
        return any(
            i.name == old and i.role == "replica" and i.ready for i in target.instances("postgres")
        )

    wait_for(f"{old} back as a streaming replica", old_is_replica, 120)
    target.restore(timeout_s=120)


def test_redis_master_crash_promotes_a_replica(target: LocalTarget) -> None:
    old = next(i.name for i in target.instances("redis") if i.role == "master")
    target.crash("redis", role="master")

    def new_master() -> str | None:
        masters = [i.name for i in target.instances("redis") if i.role == "master" and i.ready]
        return masters[0] if masters and masters[0] != old else None

    assert wait_for("a new redis master", new_master, 60) != old
    target.restore(timeout_s=120)
    masters = [i.name for i in target.instances("redis") if i.role == "master"]
    assert len(masters) == 1


def test_killed_gunicorn_instance_comes_back(target: LocalTarget) -> None:
    before = target.lab.supervisor.processes()["django-1"].pid
    workers = procs.children(before)
    injection = target.crash("django")  # the first instance: master and workers
    assert injection.instances == ("django-1",)
    wait_for(
        "the old master and workers gone",
        lambda: not [p for p in [before, *workers] if procs.alive(p)],
        10,
    )

    def back() -> bool:
        pid = target.lab.supervisor.processes()["django-1"].pid
        ready = {i.name: i.ready for i in target.instances("django")}
        return pid not in (0, before) and ready["django-1"]

    wait_for("django-1 restarted and ready", back, 60)


def test_rollout_of_a_component_outside_nginx_restarts_it(target: LocalTarget) -> None:
    before = target.lab.supervisor.processes()["celery-beat"].pid
    injection = target.rollout("celery-beat")
    assert injection.instances == ("celery-beat",)
    assert target.lab.supervisor.processes()["celery-beat"].pid not in (0, before)
    # nginx's upstream was never touched: every app instance is still listed
    upstream = (target.lab.layout.conf_dir / "nginx-upstream.conf").read_text()
    assert " down" not in upstream and upstream.count("server ") == 3


def test_gunicorn_keeps_an_idle_upstream_connection_until_nginx_drops_it(lab: LocalLab) -> None:
    """Once idle past the old 5 s keep-alive, a pooled connection must still take a request.

    nginx closes its idle pooled connections after nginx.upstream_keepalive_timeout; gunicorn
    must hold them longer, or it closes one at the instant nginx reuses it (a failed POST).
    """
    conf = (lab.layout.conf_dir / "nginx.conf").read_text()
    nginx_idle = re.search(r"upstream shop \{[^}]*keepalive_timeout (\d+)s;", conf)
    assert nginx_idle and int(nginx_idle.group(1)) == lab.stack.nginx.upstream_keepalive_timeout
    conn = http.client.HTTPConnection("127.0.0.1", lab.layout.port("django", 0), timeout=5)
    sockets = []
    try:
        for request in range(2):
            if request:
                # The second request goes out on the idle socket: a socket gunicorn closed
                # meanwhile fails it (RemoteDisconnected), as it failed nginx's reused ones.
                time.sleep(6.5)  # past gunicorn's old 5 s keep-alive, far below nginx's 60 s
            conn.request("GET", "/healthz")
            answer = conn.getresponse()
            body = answer.read()
            assert answer.status == 200, body[:80]
            assert (answer.getheader("Connection") or "").lower() != "close"
            sockets.append(conn.sock)
    finally:
        conn.close()
    assert sockets[0] is sockets[1]  # one connection, kept alive across the idle time


def test_a_rollback_waits_quietly_and_lab_up_says_what_it_waits_for(target: LocalTarget) -> None:
    """An experiment's run prints its own progress: its rollback adds no "waiting for" lines."""
    lines: list[str] = []
    saved = target.lab.progress
    target.lab.progress = lines.append
    try:
        target.restore()
        assert lines == []
        target.lab.wait_healthy(time.monotonic() + 60)
    finally:
        target.lab.progress = saved
    assert lines[0] == "waiting for etcd" and lines[-1] == "every component is healthy"


def test_a_database_outage_does_not_take_the_app_out_of_nginx(lab: LocalLab) -> None:
    """The app's 503 during a backend outage passes through; nginx ejects no instance for it.

    With nginx retrying GETs on 503 (proxy_next_upstream http_503), a few 503 pages retried
    across the instances marked all three failed (max_fails), and users got 502 "no live
    upstreams" up to fail_timeout after the database was back (~4.5 s measured). kube-proxy
    never does this.
    """

    def get() -> int:
        try:
            with urllib.request.urlopen(f"{lab.layout.app_url}/products/6", timeout=10) as r:
                return int(r.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    assert get() == 200
    names = {f"pooler-{i + 1}" for i in range(lab.stack.pooler.instances)}
    poolers = [p.pid for n, p in lab.supervisor.processes().items() if n in names]
    assert len(poolers) == lab.stack.pooler.instances and all(poolers)
    statuses: list[int] = []

    def user(until: float) -> None:  # several users: nginx's last retry of one is never counted
        while time.monotonic() < until:
            statuses.append(get())

    procs.kill_all(poolers, signal.SIGSTOP)  # every database connection now times out
    try:
        until = time.monotonic() + 4
        users = [threading.Thread(target=user, args=(until,)) for _ in range(4)]
        for u in users:
            u.start()
        for u in users:
            u.join(timeout=60)
    finally:
        procs.kill_all(poolers, signal.SIGCONT)
    after = [get() for _ in range(30)]  # ~3 s of requests once the poolers are back
    assert 503 in statuses, statuses  # the outage was visible, as the app's own answer
    assert 502 not in statuses + after, (statuses, after)
    assert after[-10:] == [200] * 10, after


def test_nothing_to_hit_is_an_injection_error(target: LocalTarget) -> None:
    with pytest.raises(InjectionError, match="count must be >= 1"):
        target.crash("django", count=0)


@pytest.mark.lab_down
def test_down_leaves_no_process(lab: LocalLab) -> None:
    pids = [r.pid for r in lab.status() if r.pid]
    pids += procs.lab_processes(lab.layout.root)
    assert pids
    summary = lab.down()
    assert "stopped" in summary
    assert [p for p in pids if procs.alive(p)] == []
    assert procs.lab_processes(lab.layout.root) == []
    assert lab.down().startswith("no lab running")


@pytest.mark.lab_down
def test_a_purge_frees_every_port_of_the_lab(lab: LocalLab) -> None:
    # The purge kills at once, supervisord first: redis-server and nginx hide the environment
    # marker, so only the supervisor's process tree finds them (a leftover blocks the next lab).
    lab.up(timeout_s=240)
    ports = lab.layout.all_ports()
    assert [k for k, p in ports.items() if procs.port_in_use(p)], "the lab listens on nothing"
    lab.down(purge=True)
    assert {k: p for k, p in ports.items() if procs.port_in_use(p)} == {}
    assert not lab.layout.root.exists()
