"""Thin Chaos Toolkit glue: providers (``actions``, ``probes``) and a control (``control``).

The logic lives in :mod:`hasuite.session`; these modules only translate chaoslib's calling
conventions (``configuration``, ``state``, JSON-able outputs) and enforce their own timeouts.
"""
