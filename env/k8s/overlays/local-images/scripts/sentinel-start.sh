#!/bin/sh
# Run by the local-images overlay (rendered into a ConfigMap by hasuite.drivers.k8s.manifests.overlay).
# Monitors the master the other Sentinels know (known-master.sh) and announces itself by its
# own announce name (see redis-start.sh).
set -eu
. /etc/redis-config/known-master.sh
sed -e "s/@MASTER@/$master/" -e "s/@ME@/$me/" /etc/redis-config/sentinel.conf > /data/sentinel.conf
exec redis-sentinel /data/sentinel.conf
