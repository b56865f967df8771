#!/bin/sh
# Run by the local-images overlay (rendered into a ConfigMap by hasuite.drivers.k8s.overlay).
# Monitors the master the other Sentinels know (by its announce name), else redis-announce-0;
# announces itself by its own announce name (see redis-start.sh).
set -eu
me="redis-announce-${POD_NAME##*-}"
master=""
for i in 0 1 2; do
  [ "redis-announce-$i" = "$me" ] && continue
  master=$(redis-cli -h "redis-announce-$i" -p 26379 --raw \
    sentinel get-master-addr-by-name shop 2>/dev/null | head -n 1 || true)
  [ -n "$master" ] && break
done
[ -z "$master" ] && master=redis-announce-0
sed -e "s/@MASTER@/$master/" -e "s/@ME@/$me/" /etc/redis-config/sentinel.conf > /data/sentinel.conf
exec redis-sentinel /data/sentinel.conf
