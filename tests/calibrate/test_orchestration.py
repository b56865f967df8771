"""calibrate() against a real local HTTP server that a fake target can 'pause' or 'refuse'.

The server plays nginx under SIGSTOP: while paused, connections are accepted and requests hang
until the resume (the listening socket stays open), exactly what the probes meet on the lab.
Refused, it drops every request's connection without an answer, so each fails at once, as a
reset from the lab's iptables rule makes it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hasuite.calibrate import calibrate
from hasuite.errors import ConfigError, HasuiteError
from hasuite.model import Injection
from hasuite.target import Endpoints, Instance


class Door:
    """A door that can be held shut (requests wait), refusing (connections dropped at once) or
    broken (503)."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.open.set()
        self.broken = False
        self.refusing = False


def _handler(door: Door) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if door.refusing:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            door.open.wait(30)
            body = b'{"ok": false}' if door.broken else b'{"ok": true, "id": 1}'
            self.send_response(503 if door.broken else 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    return Handler


@pytest.fixture
def door() -> Iterator[tuple[Door, str]]:
    d = Door()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(d))
    server.daemon_threads = True
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield d, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        d.open.set()
        server.shutdown()
        server.server_close()


@dataclass
class FakeTarget:
    door: Door
    url: str
    name: str = "fake"
    calls: list[str] = field(default_factory=list)

    def endpoints(self) -> Endpoints:
        return Endpoints(
            app_url=self.url,
            prometheus_url="",
            alertmanager_url="",
            alert_receiver_url="",
            probe_token="t",
        )

    def instances(self, component: str) -> list[Instance]:
        return []

    def pause(self, component: str, *, role: str | None = None) -> Injection:
        self.calls.append(f"pause {component}")
        inj = Injection(
            at=time.monotonic(),
            wall=time.time(),
            component=component,
            action="pause",
            instances=("door",),
        )
        self.door.open.clear()
        return inj

    def resume(self) -> None:
        self.calls.append("resume")
        self.door.open.set()

    # -- the rest of the Target protocol: not used by calibrate() --------------------------

    def up(self) -> None:
        raise NotImplementedError

    def down(self) -> None:
        raise NotImplementedError

    def crash(
        self,
        component: str,
        *,
        role: str | None = None,
        count: int = 1,
        hold_s: float | None = None,
    ) -> Injection:
        raise NotImplementedError

    def stop(self, component: str, *, role: str | None = None, count: int = 1) -> Injection:
        raise NotImplementedError

    def rollout(self, component: str) -> Injection:
        raise NotImplementedError

    def restore(self) -> None:
        raise NotImplementedError


@dataclass
class RefusingTarget(FakeTarget):
    def refuse(self, component: str) -> Injection:
        self.calls.append(f"refuse {component}")
        self.door.refusing = True
        return Injection(
            at=time.monotonic(),
            wall=time.time(),
            component=component,
            action="refuse",
            instances=("door",),
        )

    def heal(self) -> list[str]:
        self.calls.append("heal")
        self.door.refusing = False
        return []


def test_calibrate_measures_a_paused_door(door: tuple[Door, str]) -> None:
    d, url = door
    target = FakeTarget(d, url)
    lines: list[str] = []
    results = calibrate(
        target,
        durations_s=(1.5,),
        settle_s=0.6,
        progress=lines.append,
        fault="pause",
    )
    assert target.calls == ["pause nginx", "resume"]
    assert d.open.is_set()
    [r] = results
    assert r.duration_s == 1.5
    assert r.reference_s >= 1.5
    assert r.measured_s is not None and r.error_s is not None
    assert r.error_s == pytest.approx(r.measured_s - r.reference_s)
    assert r.failures >= 1  # requests held longer than the 1 s timeout failed
    assert r.detection_s is not None and r.detection_s > 0.5  # the timeout delays detection
    assert any("paused door" in line for line in lines)
    assert "error" in lines[-1]


@pytest.mark.parametrize(
    ("fault", "said", "calls"),
    [
        ("pause", "paused", ["pause nginx", "resume"]),
        ("refuse", "refusing", ["refuse nginx", "heal"]),
    ],
)
def test_the_door_is_brought_back_when_interrupted_while_out(
    door: tuple[Door, str], fault: str, said: str, calls: list[str]
) -> None:
    d, url = door
    target = RefusingTarget(d, url)

    def interrupt(msg: str) -> None:
        if said in msg:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        calibrate(target, durations_s=(5.0,), settle_s=0.3, progress=interrupt, fault=fault)
    assert target.calls == calls
    assert d.open.is_set() and not d.refusing


def test_an_unhealthy_door_is_an_error_not_a_measurement(door: tuple[Door, str]) -> None:
    d, url = door
    d.broken = True
    target = FakeTarget(d, url)
    with pytest.raises(HasuiteError, match=r"no success in the 0\.3 s before the pause"):
        calibrate(target, durations_s=(2.0,), settle_s=0.3, fault="pause")
    assert target.calls == []


@pytest.mark.parametrize("durations", [(), (0.0,), (2.0, -1.0)])
def test_bad_durations_are_rejected(door: tuple[Door, str], durations: tuple[float, ...]) -> None:
    d, url = door
    with pytest.raises(ConfigError, match="durations must be > 0"):
        calibrate(FakeTarget(d, url), durations_s=durations, fault="pause")


def test_calibrate_measures_a_refusing_door_whose_requests_fail_at_once(
    door: tuple[Door, str],
) -> None:
    d, url = door
    target = RefusingTarget(d, url)
    lines: list[str] = []
    [r] = calibrate(target, durations_s=(1.5,), settle_s=0.6, progress=lines.append)
    assert target.calls == ["refuse nginx", "heal"] and not d.refusing
    assert r.fault == "refuse" and r.reference_s >= 1.5
    assert r.measured_s is not None and r.error_s is not None and not r.at_least
    assert r.failures >= 5  # every request of the refusal failed, none waited for a timeout
    # detected by the first request after the refusal, not by the 0.5 s timeout of a hang
    assert r.detection_s is not None and r.detection_s < 0.5
    assert any("refusing connections to door" in line for line in lines)


def test_a_target_that_cannot_refuse_is_told_to_pause(door: tuple[Door, str]) -> None:
    d, url = door
    with pytest.raises(ConfigError, match="cannot refuse connections; calibrate with fault pause"):
        calibrate(FakeTarget(d, url), durations_s=(1.0,))
    with pytest.raises(ConfigError, match="fault must be one of refuse, pause"):
        calibrate(RefusingTarget(d, url), durations_s=(1.0,), fault="sigkill")
