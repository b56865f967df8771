"""The report's own error (a bad argument, a run that cannot be found or compared)."""

from __future__ import annotations

from hasuite.errors import HasuiteError

__all__ = ["ReportError"]


class ReportError(HasuiteError):
    """A report cannot be made: no such run, a bad tolerance, an unreadable history.

    A run folder that cannot be read is :class:`hasuite.runfolder.RunFolderError`.
    """
