#!/bin/sh
# Sourced by redis-start.sh and sentinel-start.sh (local-images overlay), both under `set -eu`.
# Sets `me` to this pod's announce name and `master` to the master another Sentinel knows, else
# redis-announce-0 (a fresh cluster: pod 0 is the master). Written with `if`, never `[ ] &&`: a
# false test as the last command would make the sourcing `.` fail, and `set -e` would end the
# caller (a pod restarted into a running cluster exited 1 with no log, in a crash loop).
me="redis-announce-${POD_NAME##*-}"
master=""
for i in 0 1 2; do
  if [ "redis-announce-$i" = "$me" ]; then
    continue
  fi
  master=$(redis-cli -h "redis-announce-$i" -p 26379 --raw \
    sentinel get-master-addr-by-name shop 2>/dev/null | head -n 1 || true)
  if [ -n "$master" ]; then
    break
  fi
done
if [ -z "$master" ]; then
  master=redis-announce-0
fi
