"""Shared helpers of the Chaos Toolkit providers: the target from ``configuration``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from hasuite.errors import HasuiteError
from hasuite.model import Injection
from hasuite.session.registry import active_session
from hasuite.session.targets import make_target
from hasuite.target import Target

DEFAULT_TARGET = "local"


def target_from(configuration: Mapping[str, Any] | None) -> Target:
    """The session's target, else the one named by ``configuration['target']`` (env-backed)."""
    session = active_session()
    if session is not None:
        return session.target
    name = str((configuration or {}).get("target") or DEFAULT_TARGET)
    # The chaos CLI is an entry point like ours: HASUITE_* settings come from its environment.
    return make_target(name, os.environ)


def record(injection: Injection) -> dict[str, Any]:
    """Put the injection on the active session's timeline; return it JSON-able for the journal."""
    session = active_session()
    if session is not None:
        session.note_injection(injection)
    out = asdict(injection)
    out["instances"] = list(injection.instances)
    return out


def refuse_if_blocked(what: str) -> None:
    """Raise (the action fails, nothing is injected) when the session refused the fault.

    The session refuses when its recorders could not start: an unreachable app or Alertmanager,
    a load that did not start. A fault nobody measures would only break the stack.
    """
    session = active_session()
    if session is not None and session.refused is not None:
        raise HasuiteError(f"{what}: refused, {session.refused}")
