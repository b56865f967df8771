"""The context safety check of the Kubernetes targets: which kube context a run may act on.

Called before any API call or tool (``KubeTarget.create``, and the provisioning's options).
"""

from __future__ import annotations

from hasuite.errors import ConfigError


def check_context(
    *, target: str, context: str, allowed: tuple[str, ...], kind_cluster: str
) -> None:
    """Refuse a context before any API call. Raises ConfigError."""
    if target == "cluster":
        if not allowed:
            raise ConfigError(
                f"--target cluster refused context {context!r}: no context is allow-listed; "
                "add it with --allow-context or `allowed_contexts` in the settings file"
            )
        if context not in allowed:
            raise ConfigError(
                f"--target cluster refused context {context!r}: not on the allow-list "
                f"({', '.join(allowed)})"
            )
    elif target == "kind":
        expected = f"kind-{kind_cluster}"
        if context != expected:
            raise ConfigError(
                f"--target kind acts only on the cluster it created (context {expected!r}), "
                f"not {context!r}"
            )
    else:
        raise ConfigError(f"unknown Kubernetes target {target!r}; valid: kind, cluster")
