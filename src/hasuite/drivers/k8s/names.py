"""Names the Kubernetes manifests and the driver share (namespace, Patroni cluster, ports)."""

from __future__ import annotations

__all__ = ["ALERT_RECEIVER_URL", "EXPORTER_PORT", "NAMESPACE", "PG_CLUSTER", "STUB_STATUS_PORT"]

NAMESPACE = "shop"
PG_CLUSTER = "shop-db"
STUB_STATUS_PORT = 8081
EXPORTER_PORT = 9113
ALERT_RECEIVER_URL = "http://hasuite-alert-receiver.shop.svc:9095/alerts"
