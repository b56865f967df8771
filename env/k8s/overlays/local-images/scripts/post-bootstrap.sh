#!/bin/sh
# Run by the local-images overlay (rendered into a ConfigMap by hasuite.drivers.k8s.manifests.overlay).
set -eu
# Patroni calls this once, on the new cluster's first leader, with a superuser connection URL.
psql -v ON_ERROR_STOP=1 "$1" -c "CREATE ROLE shop LOGIN PASSWORD '$SHOP_DB_PASSWORD'"
psql -v ON_ERROR_STOP=1 "$1" -c "CREATE DATABASE shop OWNER shop"
