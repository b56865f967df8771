"""The checkout's paths, named once: the project folder and the files a run reads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hasuite.errors import ConfigError

__all__ = ["PROMISES_IN_CHECKOUT", "ProjectPaths", "project_dir", "project_paths"]

#: The promises file, relative to the checkout's root.
PROMISES_IN_CHECKOUT = Path("suites/promises.yaml")


def project_dir() -> Path:
    """The checkout this package runs from (holds env/, experiments/, suites/)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "env" / "stack.yaml").is_file() and (parent / "pyproject.toml").is_file():
            return parent
    cwd = Path.cwd()
    if (cwd / "env" / "stack.yaml").is_file():
        return cwd
    raise ConfigError(
        f"cannot find the hasuite checkout (env/stack.yaml) above {here} or in {cwd}; "
        "run hasuite from the project folder"
    )


@dataclass(frozen=True)
class ProjectPaths:
    """The checkout's files a run reads, named once (experiments, promises, the stack's settings,
    the default reports folder)."""

    root: Path

    @property
    def experiments(self) -> Path:
        return self.root / "experiments"

    @property
    def promises(self) -> Path:
        return self.root / PROMISES_IN_CHECKOUT

    @property
    def stack(self) -> Path:
        return self.root / "env" / "stack.yaml"

    def reports(self, configured: Path) -> Path:
        """The reports folder: ``configured`` (SuiteSettings.reports_dir), relative to the
        checkout unless absolute."""
        return configured if configured.is_absolute() else self.root / configured


def project_paths() -> ProjectPaths:
    """The paths of the checkout this package runs from."""
    return ProjectPaths(project_dir())
