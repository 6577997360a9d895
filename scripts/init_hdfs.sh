#!/usr/bin/env bash
# Prepare HDFS for weatherlake: wait until the namenode has left safe mode and a datanode
# is live, create the lake root, give it to the services' user and allow snapshots of it
# (`weatherlake backup`). Safe to run again.
#
#   scripts/init_hdfs.sh            from the host: runs the compose service hdfs-init
#   init_hdfs.sh --here             where the `hdfs` command talks to the cluster as the
#                                   HDFS superuser (how the hdfs-init service runs it)
#
# Settings (environment): LAKE_ROOT (default /weather_data), LAKE_OWNER (weatherlake),
# HDFS_INIT_TIMEOUT seconds to wait for HDFS (default 180).
set -euo pipefail

say() { printf 'init_hdfs: %s\n' "$*" >&2; }

if [ "${1:-}" != "--here" ]; then
  cd "$(dirname "$0")/.."
  exec docker compose run --rm hdfs-init
fi

lake_root=${LAKE_ROOT:-/weather_data}
owner=${LAKE_OWNER:-weatherlake}
timeout=${HDFS_INIT_TIMEOUT:-180}
deadline=$((SECONDS + timeout))

wait_for() {  # wait_for DESCRIPTION COMMAND...: retry COMMAND until it succeeds or time runs out
  local what=$1
  shift
  until "$@" > /dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "gave up after ${timeout}s waiting for $what"
      exit 1
    fi
    sleep 3
  done
}

live_datanode() { hdfs dfsadmin -report -live 2> /dev/null | grep -q '^Live datanodes ([1-9]'; }
out_of_safe_mode() { hdfs dfsadmin -safemode get 2> /dev/null | grep -q 'Safe mode is OFF'; }

say "waiting for a live datanode"
wait_for "a live datanode" live_datanode
say "waiting for the namenode to leave safe mode"
wait_for "the namenode to leave safe mode" out_of_safe_mode

hdfs dfs -mkdir -p "$lake_root" "/user/$owner"
hdfs dfs -chown "$owner:$owner" "$lake_root" "/user/$owner"
hdfs dfs -chmod 755 "$lake_root"
hdfs dfsadmin -allowSnapshot "$lake_root"
say "ready: $lake_root and /user/$owner belong to $owner; $lake_root is snapshottable"
hdfs dfs -ls -d "$lake_root"
