"""One command at a time on a lab: ``hasuite run``, ``lab up`` and ``lab down`` take its lock.

The lock is an advisory ``flock`` on ``<lab folder>.lock`` (beside the folder, which ``lab down
--purge`` deletes), so the kernel releases it when its holder dies, even by SIGKILL: a lock left
by a killed run is taken over at once. The file names its holder (pid, command, since), so a
refused second command says who has the lab.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from hasuite.drivers.local import procs
from hasuite.errors import LabError

__all__ = ["LabBusyError", "lab_lock", "lock_path"]


class LabBusyError(LabError):
    """Another hasuite command holds the lab."""


def lock_path(lab_dir: Path) -> Path:
    return lab_dir.with_name(lab_dir.name + ".lock")


def _holder(fh: IO[str]) -> dict[str, object]:
    fh.seek(0)
    try:
        data = json.loads(fh.read() or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _alive(pid: object) -> bool:
    return isinstance(pid, int) and pid > 0 and procs.alive(pid)


@contextlib.contextmanager
def lab_lock(lab_dir: Path, command: str | None = None) -> Iterator[str | None]:
    """Hold the lab's lock for the block; LabBusyError naming the holder when it is taken.

    Yields a note when a lock left by a dead process was taken over (else None).
    """
    path = lock_path(lab_dir)
    command = command or " ".join(["hasuite", *sys.argv[1:]])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = path.open("a+")
    except OSError as exc:
        raise LabError(
            f"the lab's lock {path} cannot be written: {exc.strerror or exc}; set "
            "HASUITE_LAB_DIR (or --lab-dir) to a writable folder on a local disk"
        ) from exc
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            who = _holder(fh)
            raise LabBusyError(
                f"the lab {lab_dir} is in use by pid {who.get('pid', '?')} "
                f"(`{who.get('command', 'unknown command')}`) since {who.get('since', '?')}; "
                "wait for it to finish, or stop it (Ctrl-C), then retry"
            ) from None
        previous = _holder(fh)
        note = None
        if previous.get("pid") and not _alive(previous.get("pid")):
            note = (
                f"took over the lab's lock left by pid {previous['pid']} "
                f"(`{previous.get('command', '?')}`, since {previous.get('since', '?')}), "
                "which is gone"
            )
        fh.seek(0)
        fh.truncate()
        since = datetime.fromtimestamp(time.time(), UTC).isoformat(timespec="seconds")
        fh.write(json.dumps({"pid": os.getpid(), "command": command, "since": since}))
        fh.flush()
        try:
            yield note
        finally:
            fh.seek(0)
            fh.truncate()
            fh.flush()
            fcntl.flock(fh, fcntl.LOCK_UN)
