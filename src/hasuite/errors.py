"""The suite's errors: one root, a few subclasses.

A message says what happened, what was seen, what was expected and a hint what to do.
"""


class HasuiteError(Exception):
    """Root of every error the suite raises on purpose."""


class ConfigError(HasuiteError):
    """Bad input: a settings file, a CLI argument, a promise or experiment definition."""


class LabError(HasuiteError):
    """The local lab could not be brought up, inspected or brought down."""


class InjectionError(HasuiteError):
    """A fault could not be injected (no such role, nothing to kill, timeout)."""


class FaultUnavailable(InjectionError):
    """This target or machine cannot make the fault at all (it was not tried), so the promises
    judged on it are SKIPPED with the reason, never judged on another fault."""


class PartitionUnavailable(FaultUnavailable):
    """This machine cannot cut the network between processes (not root, no iptables or its
    cgroup match, no net_cls cgroup): the fault was not tried, so its promise is not judged."""
