"""SIGINT, SIGTERM and SIGHUP during a run: the first one interrupts, a second one exits at once.

CI cancels a job with SIGINT or SIGTERM and sends SIGKILL about 10 s later; people press Ctrl-C;
a closed terminal sends SIGHUP. Python turns only SIGINT into KeyboardInterrupt, and chaoslib
turns SIGTERM into an exception that its Python provider then swallows as a failed activity (the
experiment went on and was judged). So hasuite handles all three itself:

- the first signal raises KeyboardInterrupt in the main thread, which every stage already treats
  as the end of the run: the rollbacks undo the fault without waiting for health, the recorders
  stop, the run folder is written as INTERRUPTED with what was measured, and the command exits
  with 128 + the signal's number (130, 143, 129);
- a second signal SIGKILLs every child process (Locust, port-forwards, tools) and exits at once
  with the same code. A fault the rollback could not undo is repaired by the next run.

:func:`trap` installs the handlers for a block; chaoslib replaces SIGTERM's inside each
experiment, so :func:`reinstall` puts ours back from the control's first hook.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

from hasuite.drivers.local import procs

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: An interrupted run's rollback gets this long (s) to undo the fault (resume, start, remove);
#: it does not wait for the stack to be healthy again. With the recorders' stop it keeps the
#: exit within CI's 10 s between its first signal and SIGKILL.
UNDO_S = 5.0


@dataclass
class _State:
    signum: int | None = None
    count: int = 0
    depth: int = 0
    deferring: int = 0  # inside deferred(): the first signal waits for the block's end
    pending: bool = False


_STATE = _State()


def received() -> int | None:
    """The first signal of this run (None: none)."""
    return _STATE.signum


def interrupted() -> bool:
    return _STATE.signum is not None


def record(signum: int) -> None:
    """A signal someone else's handler took (chaoslib's SIGTERM): this run was interrupted."""
    if _STATE.signum is None:
        _STATE.signum, _STATE.count = signum, 1


def signal_name() -> str:
    return signal.Signals(_STATE.signum).name if _STATE.signum is not None else "no signal"


def exit_code(default: int = 130) -> int:
    """128 + the signal's number (SIGINT 130, SIGTERM 143, SIGHUP 129)."""
    return 128 + _STATE.signum if _STATE.signum is not None else default


def kill_children() -> int:
    """SIGKILL every descendant of this process; how many were signalled."""
    n = 0
    for pid in procs.children(os.getpid()):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
            n += 1
    return n


def _handle(signum: int, frame: FrameType | None) -> None:
    del frame
    _STATE.count += 1
    name = signal.Signals(signum).name
    if _STATE.count == 1:
        _STATE.signum = signum
        log.warning("%s: interrupting the run (rollbacks run; a second signal exits at once)", name)
        if _STATE.deferring:
            _STATE.pending = True  # raised when the file being written is complete
            return
        raise KeyboardInterrupt(name)
    killed = kill_children()
    os.write(2, f"{name} again: exiting now ({killed} child process(es) killed)\n".encode())
    os._exit(exit_code())


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """The first signal waits until the block is done (a run folder file being written: a file
    cut in half by the interrupt was left empty); a second one still exits at once."""
    _STATE.deferring += 1
    try:
        yield
    finally:
        _STATE.deferring -= 1
        if not _STATE.deferring and _STATE.pending:
            _STATE.pending = False
            raise KeyboardInterrupt(signal_name())


def reinstall() -> None:
    """Put hasuite's handlers back (chaoslib installs its own SIGTERM handler per experiment)."""
    if _STATE.depth and threading.current_thread() is threading.main_thread():
        for sig in SIGNALS:
            signal.signal(sig, _handle)


@contextlib.contextmanager
def trap() -> Iterator[None]:
    """hasuite's handlers for the block (main thread only; nested blocks share one state)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}
    if _STATE.depth == 0:
        _STATE.signum, _STATE.count, _STATE.pending = None, 0, False
        previous = {sig: signal.signal(sig, _handle) for sig in SIGNALS}
    _STATE.depth += 1
    try:
        yield
    finally:
        _STATE.depth -= 1
        if _STATE.depth == 0:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
