"""The names the Kubernetes packages share: the manifests render them, the images carry them,
the runtime driver looks for them. One module, so that no package reaches into another's for a
constant (the runtime never imports the image builder or the manifests, see pyproject.toml).
"""

from __future__ import annotations

__all__ = [
    "ALERT_RECEIVER_URL",
    "EXPORTER_FILE",
    "EXPORTER_PORT",
    "NAMESPACE",
    "PG_CLUSTER",
    "PLACEHOLDER",
    "PRODUCTION",
    "PROFILE_ANNOTATION",
    "STACK_IMAGE_REPO",
    "STUB_STATUS_PORT",
    "VENV",
]

# -- the stack on the cluster ------------------------------------------------------------------

NAMESPACE = "shop"
PG_CLUSTER = "shop-db"
STUB_STATUS_PORT = 8081
EXPORTER_PORT = 9113
ALERT_RECEIVER_URL = "http://hasuite-alert-receiver.shop.svc:9095/alerts"

#: On the shop's Namespace: the env/stack.yaml profile the overlay was rendered with (what a run
#: on the cluster judges against; :data:`PRODUCTION` for none).
PROFILE_ANNOTATION = "hasuite.io/stack-profile"
PRODUCTION = "production"

# -- the stack image of the local-images overlay -------------------------------------------------

STACK_IMAGE_REPO = "hasuite.local/stack"
#: The image the overlay's manifests name; replaced by the built ``STACK_IMAGE_REPO:<hash>``.
PLACEHOLDER = f"{STACK_IMAGE_REPO}:overlay"
#: The image's venv (the shop's and Patroni's requirements).
VENV = "/opt/hasuite/venv"
#: PgBouncer's exporter in the image (the lab's own, src/hasuite/drivers/local/
#: pgbouncer_exporter.py, copied as a plain script).
EXPORTER_FILE = "/opt/hasuite/pgbouncer_exporter.py"
