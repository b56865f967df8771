"""Run experiment files through chaoslib on a target and write the run folder (a stage).

:func:`run_experiments` is the entry point of ``hasuite run``, the pytest suites and the tests:
one :class:`~hasuite.session.experiment.ExperimentSession` per file, made active in the
registry while chaoslib runs the file. Must be called from the main thread (chaoslib installs
signal handlers).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hasuite.analysis import (
    aggregate_status,
)
from hasuite.errors import ConfigError, HasuiteError
from hasuite.model import (
    PromiseResult,
    Verdict,
)
from hasuite.promises import PromiseCatalog, load_promises
from hasuite.runfolder import dump, new_run_id, point_latest, write_summary
from hasuite.session import signals
from hasuite.session.config import RunConfig
from hasuite.session.experiment import ExperimentSession
from hasuite.session.options import (
    ExperimentOptions,
    parse_options,
    resolve_experiments,
    select_promises,
)
from hasuite.session.registry import REGISTRY
from hasuite.session.result import ExperimentResult
from hasuite.session.signals import UNDO_S
from hasuite.session.targets import stack_of
from hasuite.session.waits import bounded
from hasuite.settings import (
    StackSettings,
)
from hasuite.target import Target

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    run_id: str
    run_dir: Path
    status: Verdict
    experiments: list[ExperimentResult]


def load_checked(
    path: Path, settings: Mapping[str, Any], catalog: PromiseCatalog
) -> tuple[Any, ExperimentOptions]:
    """Read an experiment file and check it: valid YAML, a valid Chaos Toolkit experiment, a
    valid ``hasuite`` extension, promises that name it. ConfigError naming the file otherwise."""
    from chaoslib.exceptions import ChaosException
    from chaoslib.experiment import ensure_experiment_is_valid
    from chaoslib.loader import load_experiment

    try:
        experiment = load_experiment(str(path), dict(settings))
        ensure_experiment_is_valid(experiment)
    except ChaosException as exc:
        raise ConfigError(
            f"{path}: not a valid experiment: {exc}; fix the file (`chaos --no-version-check "
            f"validate {path}` shows the same)"
        ) from exc
    try:
        options = parse_options(experiment)
        select_promises(catalog, options)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return experiment, options


# size: the run's one loop: per experiment load, activate, run chaoslib, finish,
# write the summary, with the interrupt and error paths each must take; read top to bottom.
def run_experiments(
    config: RunConfig,
    target: Target,
    *,
    progress: Callable[[str], None] = lambda _: None,
    stack: StackSettings | None = None,
) -> RunResult:
    """Run ``config``'s experiment files through chaoslib on ``target``; write
    ``config.reports_dir/<run-id>/``.

    ``stack`` is the settings under test (default: what ``target`` runs, see
    :func:`~hasuite.session.targets.stack_of`). Must be called from the main thread (chaoslib
    installs signal handlers). Rollbacks always run (also when the stack was unhealthy before
    the fault). Ctrl-C stops the run after the current experiment's rollbacks; the summary is
    then marked INTERRUPTED.
    """
    from chaoslib.exceptions import InterruptExecution
    from chaoslib.run import Runner
    from chaoslib.types import Strategy

    if threading.current_thread() is not threading.main_thread():
        raise HasuiteError("run_experiments must be called from the main thread (chaoslib)")
    if config.target != target.name:
        raise ConfigError(
            f"the run is configured for target {config.target!r} but was given "
            f"{target.name!r}; build the RunConfig for the target it runs on"
        )
    files = resolve_experiments(config.experiments, config.experiments_dir)
    catalog = load_promises(config.promises_path)
    settings = {"runtime": {"rollbacks": {"strategy": "always"}}}
    # Every file is read and checked before anything runs: a bad one is refused up front.
    loaded = {path: load_checked(path, settings, catalog) for path in files}
    run_id = config.run_id or new_run_id()
    run_dir = config.reports_dir / run_id
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        point_latest(config.reports_dir, run_dir)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the run folder {run_dir}: {exc.strerror or exc}; choose a writable "
            "reports folder (HASUITE_REPORTS_DIR) or fix its permissions"
        ) from exc
    started = time.time()
    results: list[ExperimentResult] = []
    interrupted = False

    summary = _Summary(run_dir=run_dir, run_id=run_id, target=target.name, started=started)

    def summarize(finished: float | None) -> Verdict:
        return summary.write(files, results, interrupted=interrupted, finished=finished)

    summarize(None)
    with signals.trap(), REGISTRY.bind(target), contextlib.suppress(KeyboardInterrupt):
        for path in files:
            if interrupted:
                break
            experiment, options = loaded[path]
            session = ExperimentSession.for_run(
                config,
                options,
                catalog,
                target,
                run_dir=run_dir,
                stack=stack if stack is not None else stack_of(target),
            )
            if (skipped := _not_for_target(session, target.name, progress)) is not None:
                results.append(skipped)
                summarize(None)
                continue
            REGISTRY.activate(session, owner="runner")
            progress(f"{options.name}: running")
            t0 = time.monotonic()
            journal: dict[str, Any] = {}
            try:
                journal = Runner(Strategy.DEFAULT).run(
                    experiment,
                    settings,
                    experiment_vars=({"run_dir": str(run_dir), "target": target.name}, {}),
                )
            except (KeyboardInterrupt, InterruptExecution) as exc:
                journal = _escaped(target, exc)
            finally:
                REGISTRY.clear(session)
            if journal.get("status") == "interrupted":
                interrupted = True
            result = session.finish(journal.get("status"))
            session.out_dir.mkdir(parents=True, exist_ok=True)
            dump(session.out_dir / "journal.json", journal)
            results.append(result)
            progress(f"{options.name}: {result.status.value} in {time.monotonic() - t0:.0f} s")
            summarize(None)
    if len(results) < len(files) and not interrupted:
        interrupted = True  # Ctrl-C between experiments (suppressed above)
    status = summarize(time.time())
    if summary.unwritten:
        raise RunFolderUnwritable(
            f"the run's summary could not be written ({summary.unwritten[-1]}); what each "
            f"experiment measured is in its folder under {run_dir}. Free disk space, then run "
            "again"
        )
    return RunResult(run_id=run_id, run_dir=run_dir, status=status, experiments=results)


def _not_for_target(
    session: ExperimentSession, target: str, progress: Callable[[str], None]
) -> ExperimentResult | None:
    """An experiment none of whose promises is judged on ``target`` is not run: its fault would
    be made for nothing. Its result (every promise SKIPPED with its targets), else None."""
    promises = session.promises
    if not promises or any(p.applies_to(target) for p in promises):
        return None
    where = sorted({t for p in promises for t in p.targets})
    session.skip(
        f"its promises ({', '.join(p.id for p in promises)}) are judged on {', '.join(where)}, "
        f"not {target}: nothing was injected; run it with "
        + " or ".join(f"--target {t}" for t in where)
    )
    result = session.finish(None)
    session.out_dir.mkdir(parents=True, exist_ok=True)
    # no chaoslib journal: the experiment did not run; say so where the journal would be
    dump(session.out_dir / "journal.json", {"status": "skipped", "reason": session.skipped})
    progress(f"{session.name}: {result.status.value} (not for the {target} target)")
    return result


def _escaped(target: Target, exc: BaseException) -> dict[str, Any]:
    """An interrupt escaped chaoslib (e.g. a second Ctrl-C): rollbacks may not have run. Its own
    SIGTERM handler is in place until the control's first hook puts ours back: a SIGTERM in
    that window arrives as chaoslib's InterruptExecution."""
    if not isinstance(exc, KeyboardInterrupt):
        signals.record(signal.SIGTERM)
    try:
        bounded(target.restore, UNDO_S, "restore the stack after the interrupt")
    except (HasuiteError, KeyboardInterrupt) as err:
        log.warning("restore after the interrupt: %s", err)
    return {"status": "interrupted"}


@dataclass
class _Summary:
    """The run's summary.json, rewritten after each experiment."""

    run_dir: Path
    run_id: str
    target: str
    started: float
    unwritten: list[str] = field(default_factory=list)

    def write(
        self,
        files: Sequence[Path],
        results: Sequence[ExperimentResult],
        *,
        interrupted: bool,
        finished: float | None,
    ) -> Verdict:
        status = Verdict.INTERRUPTED if interrupted else _run_status(results)
        path = self.run_dir / "summary.json"
        try:
            with signals.deferred():
                write_summary(
                    self.run_dir,
                    run_id=self.run_id,
                    target=self.target,
                    started=self.started,
                    finished=finished,
                    status=status.value,
                    experiments=_summary_entries(files, results, interrupted),
                )
        except OSError as exc:
            # a full disk: the experiments' folders keep what they hold; the run goes on (its
            # rollbacks must run) and its end says the summary is missing
            self.unwritten.append(f"{path}: {exc.strerror or exc}")
            log.error("cannot write %s: %s", path, exc)
        return status


def _summary_entries(
    files: Sequence[Path], results: Sequence[ExperimentResult], interrupted: bool
) -> list[dict[str, Any]]:
    """The summary's experiments: those that ran, then the ones not run (yet)."""
    pending = [f.stem for f in files if f.stem not in {r.name for r in results}]
    return [r.to_dict() for r in results] + [
        {
            "name": n,
            "status": Verdict.INTERRUPTED.value if interrupted else "PENDING",
            "reason": "not run: the run was interrupted" if interrupted else "not run yet",
            "dir": "",
            "promises": [],
        }
        for n in pending
    ]


def _run_status(results: Sequence[ExperimentResult]) -> Verdict:
    """The worst experiment status (ERROR when none ran)."""
    if not results:
        return Verdict.ERROR
    return aggregate_status(
        [
            PromiseResult(
                id=r.name, verdict=r.status, measured=None, threshold=None, unit="", reason=""
            )
            for r in results
        ]
    )


class RunFolderUnwritable(HasuiteError):
    """The run folder could not be written (a full disk, a folder gone read-only)."""
