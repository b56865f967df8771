"""Image and Go builds on a machine without a registry, cached by content hash.

Every setting a build takes from the machine (cache folder, Debian mirror, the environment of
its commands) comes in as a :class:`~hasuite.drivers.k8s.images.build.BuildSettings` that the
entry point makes once (:func:`~hasuite.drivers.k8s.images.build.build_settings`).
"""
