"""Provisioning: ``hasuite up/down --target kind|cluster`` and the target the suites open.

The only package of the Kubernetes driver that puts the others together (host, images,
manifests, runtime). The entry points (CLI, pytest plugin, ``chaos run``) call
:func:`.options.build_options` with their environment, then :func:`.updown.bring_up`,
:func:`.updown.bring_down` and :func:`.connect.open_target`.
"""
