#!/bin/sh
# Run by the local-images overlay (rendered into a ConfigMap by hasuite.drivers.k8s.overlay).
# Every Redis and Sentinel is known by its announce Service's name (redis-announce-N), which
# outlives the pod's IP: a replaced pod keeps its address, as in the redis-ha chart. It starts
# as a replica of the master the Sentinels know; with none known (a fresh cluster), pod 0 is
# the master and the others replicate it.
set -eu
me="redis-announce-${POD_NAME##*-}"
cp /etc/redis-config/redis.conf /data/redis.conf
echo "replica-announce-ip $me" >> /data/redis.conf
master=""
for i in 0 1 2; do
  [ "redis-announce-$i" = "$me" ] && continue
  master=$(redis-cli -h "redis-announce-$i" -p 26379 --raw \
    sentinel get-master-addr-by-name shop 2>/dev/null | head -n 1 || true)
  [ -n "$master" ] && break
done
[ -z "$master" ] && master=redis-announce-0
if [ "$master" != "$me" ]; then
  echo "replicaof $master 6379" >> /data/redis.conf
fi
exec redis-server /data/redis.conf
