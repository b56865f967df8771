"""One run, described once: :class:`RunConfig` (a stage of the run).

Every entry point builds it once, with :func:`build_run_config`, from what it parsed (the CLI's
options, the pytest plugin's, a ``chaos run``'s configuration) and the suite's settings (which
hold the ``HASUITE_*`` environment, read by the entry point): ``hasuite run``, the pytest suites
and the Chaos Toolkit control of a single ``chaos run``. The runner and each experiment's session
take it as it is; nothing below reads the environment or rebuilds a part of it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from hasuite.errors import ConfigError
from hasuite.paths import ProjectPaths, project_paths
from hasuite.session.options import task_deadline
from hasuite.settings import SuiteSettings

__all__ = ["TARGETS", "RunConfig", "build_run_config"]

#: The targets a run can act on.
TARGETS = ("local", "kind", "cluster")


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """What a run does, where, and how long it may wait.

    ``experiments`` empty: every experiment file. ``profile``: the env/stack.yaml profile the
    run judges (None: the production settings). ``task_deadline_s``: when an acknowledged task
    counts as lost (CELERY-NOLOSS's ``deadline_s``). ``timeout_multiplier`` scales every wait of
    the run. ``reports_dir`` is absolute; the run writes ``reports_dir/<run_id>/``.
    """

    target: str
    experiments: tuple[str, ...] = ()
    profile: str | None = None
    only_promises: frozenset[str] | None = None
    probe_hz: float = 10.0
    load_scale: float = 1.0
    task_deadline_s: float | None = None
    timeout_multiplier: float = 1.0
    reports_dir: Path
    run_id: str | None = None
    experiments_dir: Path
    promises_path: Path

    def scaled(self, seconds: float) -> float:
        """A wait of ``seconds``, scaled by the run's one timeout multiplier."""
        return seconds * self.timeout_multiplier


def build_run_config(
    target: str,
    suite: SuiteSettings,
    *,
    experiments: Sequence[str] = (),
    profile: str | None = None,
    only_promises: Collection[str] | None = None,
    run_id: str | None = None,
    paths: ProjectPaths | None = None,
    promises_path: Path | None = None,
) -> RunConfig:
    """The run's config from the entry point's choices and the suite's settings.

    The task deadline comes from the promises file (CELERY-NOLOSS), on every target.
    ``promises_path`` overrides the checkout's promises (tests of a changed catalog).
    """
    if target not in TARGETS:
        raise ConfigError(f"unknown target {target!r}; known: {', '.join(TARGETS)}")
    paths = paths or project_paths()
    promises = promises_path or paths.promises
    return RunConfig(
        target=target,
        experiments=tuple(experiments),
        profile=profile,
        only_promises=frozenset(only_promises) if only_promises is not None else None,
        probe_hz=suite.probe_hz,
        load_scale=suite.load_scale,
        task_deadline_s=task_deadline(promises),
        timeout_multiplier=suite.timeout_multiplier,
        reports_dir=paths.reports(suite.reports_dir),
        run_id=run_id,
        experiments_dir=paths.experiments,
        promises_path=promises,
    )
