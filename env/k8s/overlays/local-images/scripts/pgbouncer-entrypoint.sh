#!/bin/sh
# Run by the local-images overlay (rendered into a ConfigMap by hasuite.drivers.k8s.manifests.overlay).
set -eu
mkdir -p /tmp/pgbouncer
printf '"shop" "%s"\n' "$SHOP_DB_PASSWORD" > /tmp/pgbouncer/userlist.txt
cp /etc/pgbouncer-config/pgbouncer.ini /tmp/pgbouncer/pgbouncer.ini
chown -R postgres:postgres /tmp/pgbouncer
chmod 600 /tmp/pgbouncer/userlist.txt
exec setpriv --reuid=postgres --regid=postgres --init-groups pgbouncer /tmp/pgbouncer/pgbouncer.ini
