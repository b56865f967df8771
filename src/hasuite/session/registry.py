"""The one registry through which the Chaos Toolkit providers reach the running experiment.

chaoslib calls our control and providers as plain functions in the same process, so they need
a shared place to find the experiment's :class:`~hasuite.session.experiment.ExperimentSession`
and the target the runner bound. That place is :data:`REGISTRY`: explicit, typed, locked, and
the only one (no module globals elsewhere, no sets keyed by ``id()``).
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from hasuite.target import Target

if TYPE_CHECKING:
    from hasuite.session.experiment import ExperimentSession

__all__ = ["REGISTRY", "Owner", "SessionRegistry", "active_session"]

#: Who made the active session: the runner (``hasuite run``, pytest) or the control
#: (``chaos run`` of an experiment file by itself), which must then also clear it.
Owner = Literal["runner", "control"]


@dataclass
class SessionRegistry:
    """The active session, who owns it, and the target the runner bound (thread-safe)."""

    _session: ExperimentSession | None = None
    _owner: Owner | None = None
    _target: Target | None = None
    #: a target opened for the whole process (``chaos run`` on kind/cluster: port-forwards),
    #: with what closes it; closed at exit
    _opened: tuple[Target, Callable[[], None]] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def active(self) -> ExperimentSession | None:
        with self._lock:
            return self._session

    def activate(self, session: ExperimentSession, *, owner: Owner) -> None:
        with self._lock:
            self._session, self._owner = session, owner

    def owner(self) -> Owner | None:
        with self._lock:
            return self._owner

    def clear(self, session: ExperimentSession | None = None) -> None:
        """Forget the active session (only if it is ``session``, when given)."""
        with self._lock:
            if session is None or self._session is session:
                self._session, self._owner = None, None

    def bound_target(self) -> Target | None:
        with self._lock:
            return self._target

    def opened(self, name: str) -> Target | None:
        """The target opened for this process under ``name``, if any."""
        with self._lock:
            if self._opened is not None and self._opened[0].name == name:
                return self._opened[0]
            return None

    def adopt(self, target: Target, close: Callable[[], None]) -> Target:
        """Keep ``target`` open for the rest of the process; ``close`` runs at exit (once)."""
        with self._lock:
            if self._opened is not None:
                raise RuntimeError(f"a {self._opened[0].name} target is already open")
            self._opened = (target, close)
        atexit.register(self.close_opened)
        return target

    def close_opened(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, None
        if opened is not None:
            opened[1]()

    @contextlib.contextmanager
    def bind(self, target: Target) -> Iterator[Target]:
        """Make providers and the control use ``target`` instead of building one."""
        with self._lock:
            previous, self._target = self._target, target
        try:
            yield target
        finally:
            with self._lock:
                self._target = previous


REGISTRY = SessionRegistry()


def active_session() -> ExperimentSession | None:
    """The running experiment's session, if any (``REGISTRY.active()``)."""
    return REGISTRY.active()
