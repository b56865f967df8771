#!/bin/sh
# Sourced by redis-start.sh and sentinel-start.sh (local-images overlay). Sets `me` to this
# pod's announce name and `master` to the master another Sentinel knows, else redis-announce-0
# (a fresh cluster: pod 0 is the master).
me="redis-announce-${POD_NAME##*-}"
master=""
for i in 0 1 2; do
  [ "redis-announce-$i" = "$me" ] && continue
  master=$(redis-cli -h "redis-announce-$i" -p 26379 --raw \
    sentinel get-master-addr-by-name shop 2>/dev/null | head -n 1 || true)
  [ -n "$master" ] && break
done
[ -z "$master" ] && master=redis-announce-0
