#!/bin/sh
# Run by the local-images overlay (rendered into a ConfigMap by hasuite.drivers.k8s.manifests.overlay).
set -eu
# The data folder belongs to postgres (PostgreSQL refuses to run as root); then Patroni runs as
# postgres with everything the pod gave it.
mkdir -p /home/postgres/pgdata
chown -R postgres:postgres /home/postgres
chmod 700 /home/postgres/pgdata
exec setpriv --reuid=postgres --regid=postgres --init-groups \
  patroni /etc/patroni/patroni.yml
