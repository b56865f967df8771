"""Running experiments, one stage a module.

A run goes through these stages, each in its own module:

- :mod:`~hasuite.session.options`: experiment files and their ``hasuite`` extension, the
  promises each judges;
- :mod:`~hasuite.session.targets`: the target and the settings under test;
- :mod:`~hasuite.session.waits`: bounded calls, the stack's health, the wait for recovery;
- :mod:`~hasuite.session.experiment`: one experiment's session: recorders, read-backs,
  verdicts (the pure measurement is :mod:`hasuite.analysis.experiment`);
- the run folder it writes is :mod:`hasuite.runfolder` (which owns the format and reads it
  back for the report);
- :mod:`~hasuite.session.registry`: the one registry through which the Chaos Toolkit
  providers reach the active session;
- :mod:`~hasuite.session.runner`: the runner (``hasuite run``, pytest, the tests).
"""
