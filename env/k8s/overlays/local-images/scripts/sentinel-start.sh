#!/bin/sh
# Run by the local-images overlay (rendered into a ConfigMap by hasuite.drivers.k8s.overlay).
set -eu
master=""
for try in $(seq 1 60); do
  for i in 0 1 2; do
    master=$(redis-cli -h redis-announce-$i -p 26379 --raw sentinel get-master-addr-by-name shop 2>/dev/null | head -n 1 || true)
    [ -n "$master" ] && break 2
  done
  if [ "${POD_NAME##*-}" = 0 ]; then master=$POD_IP; break; fi
  master=$(getent hosts redis-ha-server-0.redis-ha-headless | cut -d ' ' -f 1 || true)
  [ -n "$master" ] && break
  sleep 1
done
sed "s/@MASTER@/$master/" /etc/redis-config/sentinel.conf > /data/sentinel.conf
exec redis-sentinel /data/sentinel.conf
