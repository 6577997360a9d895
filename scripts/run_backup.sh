#!/usr/bin/env bash
# Back the lake up once (weatherlake backup: an HDFS snapshot, or hard links on a local
# lake, with a manifest of checksums) and print BACKUP_ID=<id>. Extra arguments go to
# `weatherlake backup`, e.g. --copy-to file:///mnt/offsite.
#
#   scripts/run_backup.sh [ARGS...]              on this machine: the lake of your settings (.env)
#   scripts/run_backup.sh --cluster [ARGS...]    on the compose cluster: in the scheduler container,
#                                                against hdfs://namenode:8020
#
# The scheduler service already takes one every BACKUP_EVERY (1d); this is for cron
# instead. Never two at once (a backup still going makes the next one exit 0 at once, with
# a message); the exit status is the backup's. Example crontab line, daily at 02:30:
#
#   30 2 * * * cd /srv/weatherlake && scripts/run_backup.sh >> var/log/backup.log 2>&1
#
# The lock file is $BACKUP_LOCK (default /tmp/weatherlake-backup.lock).
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v flock > /dev/null; then
  exec 9> "${BACKUP_LOCK:-/tmp/weatherlake-backup.lock}"
  if ! flock -n 9; then
    echo "run_backup: another backup is still going; skipping this one" >&2
    exit 0
  fi
fi

if [ "${1:-}" = "--cluster" ]; then
  shift
  exec docker compose exec -T scheduler weatherlake backup "$@"
fi

if [ ! -x .venv/bin/weatherlake ] && command -v weatherlake > /dev/null; then
  exec weatherlake backup "$@"
fi
scripts/bootstrap.sh
exec .venv/bin/weatherlake backup "$@"
