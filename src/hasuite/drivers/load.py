"""Locust load as its own process: profiles, start, stop, records -> samples and ledger.

Locust (and gevent's monkey-patching) never enters the suite's process: :func:`start_load` runs
``python -m locust -f loadtests/locustfile.py --headless ...`` as a child in its own session,
with ``--run-time`` from the profile so it always stops by itself, even if the suite dies.
:meth:`LoadRun.stop` ends it early (SIGTERM, which Locust handles by stopping the users and
flushing the records, then SIGKILL after a bound). The locustfile writes one JSON line per
request (see its docstring); :func:`read_records` turns them into ``Sample(probe="http")`` and
``LedgerEntry(kind="order")`` records for the timeline.

CPU of the load process comes from the kernel: ``/proc/<pid>/stat`` while it runs and the
child's rusage (``os.wait4``) once it has exited.
"""

# size: the Locust load: profiles, the process's lifecycle and its records; the analysis of
# the records is pure, in analysis/load.py.
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from hasuite.analysis.load import DEFAULT_MIN_RATIO, LoadAdequacy, build_load_adequacy
from hasuite.errors import ConfigError, HasuiteError
from hasuite.model import LedgerEntry, Sample

__all__ = [
    "DEFAULT_LOCUSTFILE",
    "DEFAULT_PROFILES",
    "LoadError",
    "LoadProfile",
    "LoadRecords",
    "LoadResult",
    "LoadRun",
    "check_reachable",
    "load_profile",
    "load_profiles",
    "parse_profile",
    "read_records",
    "start_load",
]

logger = logging.getLogger(__name__)

_REPO = Path(__file__).resolve().parents[3]
DEFAULT_LOCUSTFILE = _REPO / "loadtests" / "locustfile.py"
DEFAULT_PROFILES = _REPO / "loadtests" / "profiles.yaml"

_CLK_TCK = os.sysconf("SC_CLK_TCK")


class LoadError(HasuiteError):
    """The load could not be started, or its process misbehaved (e.g. unreachable host)."""


# --------------------------------------------------------------------------------------------
# Profiles
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LoadProfile:
    """A named load: see loadtests/profiles.yaml for the meaning of each field."""

    name: str
    users: int
    spawn_rate: float
    duration_s: float
    fixed_rate: float = 0.0
    think_min_s: float = 1.0
    think_max_s: float = 3.0
    request_timeout_s: float = 10.0
    stop_timeout_s: float = 2.0
    min_ratio: float = DEFAULT_MIN_RATIO
    description: str = ""

    @property
    def asked_rps(self) -> float | None:
        """fixed_rate, or users / mean think time (an upper bound); None when unbounded."""
        if self.fixed_rate > 0:
            return self.fixed_rate
        mean_think = (self.think_min_s + self.think_max_s) / 2
        return self.users / mean_think if mean_think > 0 else None

    @property
    def ramp_s(self) -> float:
        """Seconds until every user is spawned."""
        return self.users / self.spawn_rate

    def scaled(self, factor: float) -> LoadProfile:
        """This load times ``factor`` (users, spawn rate, fixed rate): for a machine that cannot
        carry the profile as written. The name says so, and so does every report of it."""
        if factor == 1.0:
            return self
        if not 0 < factor <= 10:
            raise ConfigError(f"load scale must be > 0 and <= 10, got {factor:g}")
        return dataclasses.replace(
            self,
            name=f"{self.name} x{factor:g}",
            users=max(1, round(self.users * factor)),
            spawn_rate=self.spawn_rate * factor,
            fixed_rate=self.fixed_rate * factor,
            description=f"{self.description} (scaled x{factor:g})".strip(),
        )


_REQUIRED = ("users", "spawn_rate", "duration_s")


def _number(name: str, field_name: str, value: Any, *, integer: bool = False) -> float:
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(
            f"load profile {name!r}: field {field_name} must be {kind}, got {value!r}"
        )
    if integer and not isinstance(value, int):
        raise ConfigError(
            f"load profile {name!r}: field {field_name} must be an integer, got {value!r}"
        )
    if not math.isfinite(value):
        raise ConfigError(f"load profile {name!r}: field {field_name} must be finite")
    return value


def parse_profile(name: str, raw: Any) -> LoadProfile:
    """Validate one profile mapping; a ConfigError names the profile and the field."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"load profile {name!r} must be a mapping of fields, got {raw!r}")
    known = {f.name for f in fields(LoadProfile)} - {"name"}
    unknown = sorted(set(map(str, raw)) - known)
    if unknown:
        raise ConfigError(
            f"load profile {name!r}: unknown field {', '.join(unknown)} "
            f"(known: {', '.join(sorted(known))})"
        )
    missing = [f for f in _REQUIRED if f not in raw]
    if missing:
        raise ConfigError(f"load profile {name!r}: field {missing[0]} is required")
    values: dict[str, Any] = {"name": name}
    for key, value in raw.items():
        if key == "description":
            if not isinstance(value, str):
                raise ConfigError(f"load profile {name!r}: field description must be text")
            values[key] = value
        elif key == "users":
            values[key] = int(_number(name, key, value, integer=True))
        else:
            values[key] = float(_number(name, key, value))
    p = LoadProfile(**values)
    rules: list[tuple[str, bool, str]] = [
        ("users", p.users > 0, "must be > 0"),
        ("spawn_rate", p.spawn_rate > 0, "must be > 0"),
        ("duration_s", p.duration_s > 0, "must be > 0"),
        ("fixed_rate", p.fixed_rate >= 0, "must be >= 0 (0 = think-time mode)"),
        ("think_min_s", p.think_min_s >= 0, "must be >= 0"),
        ("think_max_s", p.think_max_s >= p.think_min_s, "must be >= think_min_s"),
        ("request_timeout_s", p.request_timeout_s > 0, "must be > 0"),
        ("stop_timeout_s", p.stop_timeout_s >= 0, "must be >= 0"),
        ("min_ratio", 0 < p.min_ratio <= 1, "must be in (0, 1]"),
    ]
    for field_name, ok, rule in rules:
        if not ok:
            raise ConfigError(
                f"load profile {name!r}: field {field_name} {rule}, got {getattr(p, field_name)!r}"
            )
    return p


def load_profiles(path: Path = DEFAULT_PROFILES) -> dict[str, LoadProfile]:
    """Every profile of a profiles file, validated."""
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read load profiles {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"load profiles {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(f"load profiles {path}: expected a mapping of profile names")
    return {str(name): parse_profile(str(name), body) for name, body in raw.items()}


def load_profile(name: str, path: Path = DEFAULT_PROFILES) -> LoadProfile:
    """One named profile; an unknown name lists the known ones."""
    profiles = load_profiles(path)
    if name not in profiles:
        raise ConfigError(
            f"no load profile {name!r} in {path} (known: {', '.join(sorted(profiles))})"
        )
    return profiles[name]


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LoadRecords:
    """What a record file held: samples, ledger, the load's start/stop instants (monotonic)."""

    samples: tuple[Sample, ...] = ()
    ledger: tuple[LedgerEntry, ...] = ()
    load_started_at: float | None = None
    load_stopped_at: float | None = None
    bad_lines: int = 0


def read_records(path: Path) -> LoadRecords:
    """Parse a JSON-lines record file (a torn last line, e.g. after SIGKILL, counts as bad)."""
    samples: list[Sample] = []
    ledger: list[LedgerEntry] = []
    started: float | None = None
    stopped: float | None = None
    bad = 0
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return LoadRecords()
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            event = rec["event"]
            if event == "start":
                started = float(rec["mono"]) if started is None else started
                continue
            if event == "stop":
                stopped = float(rec["mono"])
                continue
            at = float(rec["mono"])
            order_id = rec.get("order_id")
            latency = rec.get("latency_s")
            samples.append(
                Sample(
                    at=at,
                    wall=float(rec["wall"]),
                    probe="http",
                    ok=bool(rec["ok"]),
                    latency_s=float(latency) if latency is not None else None,
                    error=rec.get("error"),
                    key=str(order_id) if order_id is not None else None,
                )
            )
            if order_id is not None and rec["ok"]:
                ledger.append(
                    LedgerEntry(kind="order", key=str(order_id), acknowledged_at=at, source="load")
                )
        except (ValueError, KeyError, TypeError):
            bad += 1
    return LoadRecords(
        samples=tuple(samples),
        ledger=tuple(ledger),
        load_started_at=started,
        load_stopped_at=stopped,
        bad_lines=bad,
    )


# --------------------------------------------------------------------------------------------
# Reachability
# --------------------------------------------------------------------------------------------


def check_reachable(host: str, *, timeout_s: float = 3.0) -> int:
    """GET ``host`` + ``/``; return the HTTP status (any status means reachable).

    Raises LoadError when nothing answers (refused, timeout, DNS), so an experiment is ERROR
    before any fault is injected.
    """
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"load host must be an http(s) URL like http://127.0.0.1:8080, got {host!r}"
        )
    url = host.rstrip("/") + "/"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:  # an answer, even a 5xx: the host is there
        return int(exc.code)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise LoadError(
            f"load host {host} is unreachable: GET {url} failed with {reason} within "
            f"{timeout_s:g} s; expected an HTTP answer; is the stack up (hasuite run) and the "
            f"URL right?"
        ) from exc


# --------------------------------------------------------------------------------------------
# The load process
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LoadResult:
    """A finished load run: how it ended, what it cost, what it recorded."""

    profile: LoadProfile
    host: str
    exit_code: int | None
    stopped_by: str  # "self" (run-time over), "request" (SIGTERM), "killed" (SIGKILL)
    started_at: float  # monotonic, process start
    ended_at: float  # monotonic, process reaped
    cpu_s: float
    record_path: Path
    log_path: Path
    records: LoadRecords = field(default_factory=LoadRecords)

    @property
    def samples(self) -> tuple[Sample, ...]:
        return self.records.samples

    @property
    def ledger(self) -> tuple[LedgerEntry, ...]:
        return self.records.ledger

    @property
    def cpu_percent(self) -> float:
        """CPU of the load process in % of one core over its lifetime."""
        wall = self.ended_at - self.started_at
        return 100.0 * self.cpu_s / wall if wall > 0 else 0.0

    def load_window(self) -> tuple[float, float]:
        """(all users spawned, load stopped): the window the achieved rate is judged over."""
        start = self.records.load_started_at or self.started_at
        stop = self.records.load_stopped_at or self.ended_at
        steady = start + self.profile.ramp_s
        return (steady, stop) if steady < stop else (start, stop)

    def adequacy(self, exclude: tuple[float, float] | None = None) -> LoadAdequacy:
        """Achieved vs asked request rate over :meth:`load_window`, without ``exclude``."""
        start, end = self.load_window()
        return build_load_adequacy(
            self.samples,
            asked_rps=self.profile.asked_rps,
            start=start,
            end=end,
            min_ratio=self.profile.min_ratio,
            exclude=exclude,
        )


def _proc_cpu_s(pid: int) -> float | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    parts = stat.rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / _CLK_TCK  # utime, stime


class LoadRun:
    """A running Locust process; get one from :func:`start_load`."""

    def __init__(
        self,
        *,
        proc: subprocess.Popen[bytes],
        profile: LoadProfile,
        host: str,
        record_path: Path,
        log_path: Path,
        started_at: float,
        timeout_multiplier: float,
    ) -> None:
        self._proc = proc
        self.profile = profile
        self.host = host
        self.record_path = record_path
        self.log_path = log_path
        self.started_at = started_at
        self._mult = timeout_multiplier
        self._result: LoadResult | None = None
        self._cpu_s = 0.0
        self._stopped_by = "self"
        self._ended_at: float | None = None

    @property
    def pid(self) -> int:
        return self._proc.pid

    def __enter__(self) -> LoadRun:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _reap(self, block_s: float) -> bool:
        """Reap the child within ``block_s`` (keeping its rusage); True when it has exited."""
        deadline = time.monotonic() + block_s
        while True:
            if self._proc.returncode is not None:
                return True
            try:
                pid, status, usage = os.wait4(self._proc.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: exit code and rusage unknown
                self._proc.returncode = -1
                self._ended_at = time.monotonic()
                return True
            if pid:
                self._proc.returncode = os.waitstatus_to_exitcode(status)
                self._cpu_s = usage.ru_utime + usage.ru_stime
                self._ended_at = time.monotonic()
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def running(self) -> bool:
        return not self._reap(0)

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) used so far by the load process."""
        if self.running():
            live = _proc_cpu_s(self._proc.pid)
            return live if live is not None else self._cpu_s
        return self._cpu_s

    def _finish(self) -> LoadResult:
        if self._result is None:
            self._result = LoadResult(
                profile=self.profile,
                host=self.host,
                exit_code=self._proc.returncode,
                stopped_by=self._stopped_by,
                started_at=self.started_at,
                ended_at=self._ended_at if self._ended_at is not None else time.monotonic(),
                cpu_s=self._cpu_s,
                record_path=self.record_path,
                log_path=self.log_path,
                records=read_records(self.record_path),
            )
            if self._result.records.bad_lines:
                logger.warning(
                    "%d unreadable load record line(s) in %s",
                    self._result.records.bad_lines,
                    self.record_path,
                )
        return self._result

    def wait(self, timeout_s: float | None = None) -> LoadResult:
        """Wait for Locust to stop by itself (run-time over); stop it when that takes too long.

        The default bound is the profile's duration + stop timeout + 15 s of start-up/shutdown
        slack, times the timeout multiplier, counted from the start.
        """
        if timeout_s is None:
            bound = self.profile.duration_s + self.profile.stop_timeout_s + 15.0
            timeout_s = self.started_at + bound * self._mult - time.monotonic()
        if not self._reap(max(timeout_s, 0.0)):
            logger.warning("load pid %d still running after its run time: stopping it", self.pid)
            return self.stop()
        return self._finish()

    def stop(self, *, grace_s: float | None = None) -> LoadResult:
        """SIGTERM (Locust stops users and flushes records), SIGKILL after ``grace_s``."""
        if self._reap(0):
            return self._finish()
        grace = (grace_s if grace_s is not None else self.profile.stop_timeout_s + 5.0) * self._mult
        self._stopped_by = "request"
        self._proc.send_signal(signal.SIGTERM)
        if not self._reap(grace):
            logger.warning("load pid %d ignored SIGTERM for %.1f s: SIGKILL", self.pid, grace)
            self._stopped_by = "killed"
            self._proc.kill()
            self._reap(10.0 * self._mult)
        return self._finish()


def _locust_command(
    python: str, locustfile: Path, host: str, profile: LoadProfile, record_path: Path
) -> list[str]:
    return [
        python,
        "-m",
        "locust",
        "-f",
        str(locustfile),
        "--host",
        host,
        "--headless",
        "--only-summary",
        "--users",
        str(profile.users),
        "--spawn-rate",
        f"{profile.spawn_rate:g}",
        "--run-time",
        f"{max(math.ceil(profile.duration_s), 1)}s",
        "--stop-timeout",
        f"{profile.stop_timeout_s:g}",
        "--exit-code-on-error",
        "0",  # failed requests are data, not a process failure
        "--loglevel",
        "INFO",
        "--fixed-rate",
        f"{profile.fixed_rate:g}",
        "--think-min",
        f"{profile.think_min_s:g}",
        "--think-max",
        f"{profile.think_max_s:g}",
        "--request-timeout",
        f"{profile.request_timeout_s:g}",
        "--record-file",
        str(record_path),
    ]


def start_load(
    host: str,
    profile: LoadProfile,
    *,
    run_dir: Path,
    locustfile: Path = DEFAULT_LOCUSTFILE,
    python: str = sys.executable,
    check_host: bool = True,
    reach_timeout_s: float = 3.0,
    timeout_multiplier: float = 1.0,
) -> LoadRun:
    """Check ``host`` answers, then start Locust headless with ``profile`` as a child process.

    Records go to ``run_dir/load-records.jsonl`` (truncated first), Locust's output to
    ``run_dir/locust.log``. Raises LoadError (host unreachable, Locust exits at once) before
    any load runs; ConfigError for a bad host URL or missing locustfile.
    """
    if check_host:
        check_reachable(host, timeout_s=reach_timeout_s * timeout_multiplier)
    if not locustfile.is_file():
        raise ConfigError(f"locustfile {locustfile} not found")
    run_dir.mkdir(parents=True, exist_ok=True)
    record_path = run_dir / "load-records.jsonl"
    log_path = run_dir / "locust.log"
    record_path.write_text("")
    # The child gets our environment minus Locust's own variables, so nothing overrides the
    # profile behind our back; run in run_dir so no stray locust.conf is picked up.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LOCUST_") and not k.startswith("HASUITE_LOAD_")
    }
    cmd = _locust_command(python, locustfile.resolve(), host, profile, record_path.resolve())
    logger.info("starting load %s against %s: %s", profile.name, host, " ".join(cmd))
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=run_dir,
            env=env,
            start_new_session=True,  # a Ctrl-C of the suite is handled by the suite, not Locust
        )
    run = LoadRun(
        proc=proc,
        profile=profile,
        host=host,
        record_path=record_path,
        log_path=log_path,
        started_at=time.monotonic(),
        timeout_multiplier=timeout_multiplier,
    )
    if run._reap(0.3):
        result = run._finish()
        tail = log_path.read_text(errors="replace")[-800:]
        raise LoadError(
            f"locust exited at once with code {result.exit_code}; see {log_path}:\n{tail}"
        )
    return run
