#!/bin/sh
# Run by the local-images overlay (rendered into a ConfigMap by hasuite.drivers.k8s.manifests.overlay).
# Every Redis and Sentinel is known by its announce Service's name (redis-announce-N), which
# outlives the pod's IP: a replaced pod keeps its address, as in the redis-ha chart. It starts
# as a replica of the master the Sentinels know (known-master.sh).
set -eu
. /etc/redis-config/known-master.sh
cp /etc/redis-config/redis.conf /data/redis.conf
echo "replica-announce-ip $me" >> /data/redis.conf
if [ "$master" != "$me" ]; then
  echo "replicaof $master 6379" >> /data/redis.conf
fi
exec redis-server /data/redis.conf
