#!/bin/sh
# Run by the local-images overlay (rendered into a ConfigMap by hasuite.drivers.k8s.overlay).
set -eu
# Start as a replica of the master the Sentinels know; with none known yet (a fresh cluster),
# pod 0 is the master and the others replicate it.
cp /etc/redis-config/redis.conf /data/redis.conf
master=""
for i in 0 1 2; do
  master=$(redis-cli -h redis-announce-$i -p 26379 --raw sentinel get-master-addr-by-name shop 2>/dev/null | head -n 1 || true)
  [ -n "$master" ] && break
done
if [ -z "$master" ] && [ "${POD_NAME##*-}" != 0 ]; then
  master=$(getent hosts redis-ha-server-0.redis-ha-headless | cut -d ' ' -f 1 || true)
fi
if [ -n "$master" ] && [ "$master" != "$POD_IP" ]; then
  echo "replicaof $master 6379" >> /data/redis.conf
fi
exec redis-server /data/redis.conf
