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
# The lock file is $BACKUP_LOCK (default /tmp/weatherlake-backup.lock); scripts/run_job.sh does the rest.
set -euo pipefail
WEATHERLAKE_LOCK=${BACKUP_LOCK:-/tmp/weatherlake-backup.lock} exec "$(dirname "$0")/run_job.sh" backup "$@"
