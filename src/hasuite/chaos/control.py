"""The ``hasuite`` Chaos Toolkit control: recorders around the method, verdicts at the end.

Declared in every experiment::

    controls:
      - name: hasuite
        provider: {type: python, module: hasuite.chaos.control}

- before the experiment: the session (target and run dir from ``configuration``; promises from
  the experiment's ``extensions: [{name: hasuite, promises: [...]}]``), unless ``hasuite run``
  already made one;
- after the first steady-state hypothesis: an unhealthy stack makes every verdict ERROR;
- before the method: probes and observers start (plus a short baseline);
- after the method: settle, stop the recorders, read the ledger back, measure;
- after the experiment (after rollbacks): if rollbacks did not run, restore the stack; judge and
  write ``<run_dir>/<experiment>/``.

chaoslib swallows exceptions raised by controls (logged at debug level only), so every step
here logs its own failures as warnings.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hasuite.chaos._common import target_from
from hasuite.errors import HasuiteError
from hasuite.model import Verdict
from hasuite.promises import load_promises
from hasuite.session import signals
from hasuite.session.config import RunConfig, build_run_config
from hasuite.session.experiment import ExperimentSession
from hasuite.session.options import parse_options
from hasuite.session.registry import REGISTRY, active_session
from hasuite.session.targets import stack_of
from hasuite.session.waits import bounded
from hasuite.settings import suite_settings_from_env

log = logging.getLogger(__name__)
# chaostoolkit prints its own logger to the console; verdicts belong there too.
console = logging.getLogger("chaostoolkit")

__all__ = [
    "after_experiment_control",
    "after_hypothesis_control",
    "after_method_control",
    "before_experiment_control",
    "before_method_control",
]


def config_from(configuration: Mapping[str, Any] | None, target: str) -> RunConfig:
    """The run of a single ``chaos run`` (no ``hasuite run`` around it), built as every entry
    point builds one: the HASUITE_* settings of the chaos CLI's environment (it is an entry
    point like ours), with the experiment's ``probe_hz`` configuration on top."""
    raw = (configuration or {}).get("probe_hz")
    probe_hz = None
    try:
        probe_hz = float(raw) if raw not in (None, "") else None
    except (TypeError, ValueError):
        log.warning("configuration probe_hz=%r is not a number; using the suite's", raw)
    return build_run_config(target, suite_settings_from_env(os.environ, probe_hz=probe_hz))


def before_experiment_control(
    context: Mapping[str, Any],
    configuration: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    signals.reinstall()  # chaoslib replaced SIGTERM's handler for this experiment
    try:
        options = parse_options(context)
        session = active_session()
        if session is not None and session.name == options.name:
            return  # made by hasuite.session.runner.run_experiments
        target = target_from(configuration)
        config = config_from(configuration, target.name)
        session = ExperimentSession.for_run(
            config,
            options,
            load_promises(config.promises_path),
            target,
            run_dir=Path(str((configuration or {}).get("run_dir") or "reports/adhoc")),
            stack=stack_of(target),
        )
        # made here (``chaos run`` of one file): this control clears it at the end
        REGISTRY.activate(session, owner="control")
    except Exception:
        console.warning("hasuite control could not start a session", exc_info=True)
        raise


def after_hypothesis_control(
    context: Mapping[str, Any], state: Mapping[str, Any] | None = None, **kwargs: Any
) -> None:
    session = active_session()
    if session is None:
        return
    seen = session.hypothesis_runs
    session.hypothesis_runs = seen + 1
    if seen == 0 and state is not None and not state.get("steady_state_met", False):
        why = session.last_health or "the steady-state hypothesis was not met"
        session.note_error(f"stack unhealthy before the fault: {why}")


def before_method_control(context: Mapping[str, Any], **kwargs: Any) -> None:
    session = active_session()
    if session is None:
        return
    load = session.options.load
    budget = (
        30.0
        + session.options.baseline_s
        + session.options.baseline_timeout_s * session.timeout_multiplier
        + (load.ramp_s if load is not None else 0.0)
    )
    try:
        bounded(session.start_recorders, budget, "start recorders")
    except Exception as exc:
        console.warning("hasuite: recorders could not start: %s", exc)
        session.refuse(f"fault not injected: recorders could not start: {exc}")
        return
    if session.refused is not None:
        console.warning("hasuite: %s", session.refused)


def after_method_control(context: Mapping[str, Any], **kwargs: Any) -> None:
    session = active_session()
    if session is None:
        return
    # settle, then wait for the expected alerts (bounded by ALERT-FIRES / ALERT-RESOLVES),
    # then the ledger and load-order read-backs
    alert_wait = (session.threshold("alert_fire_s") or 0.0) + (
        session.threshold("alert_resolve_s") or 0.0
    )
    budget = (
        session.options.settle_s
        + session.options.settle_timeout_s
        + alert_wait
        + (session.order_confirm_wait_s * session.timeout_multiplier)
        + 120.0
    )
    try:
        bounded(session.stop_and_measure, budget, "stop recorders and measure")
    except Exception as exc:
        console.warning("hasuite: measuring failed: %s", exc)
        session.note_error(f"measuring failed: {exc}")


def after_experiment_control(
    context: Mapping[str, Any], state: Mapping[str, Any] | None = None, **kwargs: Any
) -> None:
    session = active_session()
    if session is None:
        return
    status = (state or {}).get("status")
    try:
        if not (state or {}).get("rollbacks"):
            # chaoslib skips rollbacks after a failed hypothesis or an interruption (default
            # strategy): bring the stack back anyway, a fault must never outlive its experiment.
            console.info("hasuite: rollbacks did not run; restoring the stack")
            try:
                bounded(session.target.restore, 240.0, "restore the stack")
            except (HasuiteError, Exception) as exc:
                console.warning("hasuite: restore failed: %s", exc)
                session.note_error(f"restore after the experiment failed: {exc}")
        result = session.finish(status)
        console.info("hasuite: %s %s (%s)", result.name, result.status.value, result.dir)
        for p in result.promises:
            log_at = console.info if p.verdict == Verdict.PASS else console.warning
            log_at("hasuite:   %s %s: %s", p.id, p.verdict.value, p.reason)
    finally:
        if REGISTRY.owner() == "control":
            REGISTRY.clear(session)


def configure_control(**kwargs: Any) -> None:
    """Nothing to configure: the session is made per experiment (kept for chaoslib)."""
    del kwargs
