#!/usr/bin/env bash
# Run the Spark batch jobs once: raw lake -> city_stats, hourly_trends, diurnal_profile,
# anomalies (a new run of each view, then its _LATEST pointer). Extra arguments go to
# `weatherlake analytics`, e.g. --job anomalies --from 2026-11-01 --to 2026-11-23.
#
#   scripts/run_analytics.sh [ARGS...]              on this machine: the lake and Spark master
#                                                   of your settings (.env; default local[*])
#   scripts/run_analytics.sh --cluster [ARGS...]    on the compose cluster: spark-submit runs in
#                                                   the scheduler container against
#                                                   spark://spark-master:7077 and hdfs://namenode:8020
#
# For cron: never two runs at once (a run still going makes the next one exit 0 at once,
# with a message), exit status is the run's. Example crontab line, every hour at :05:
#
#   5 * * * * cd /srv/weatherlake && scripts/run_analytics.sh >> var/log/analytics.log 2>&1
#
# The lock file is $ANALYTICS_LOCK (default /tmp/weatherlake-analytics.lock); scripts/run_job.sh does the rest.
set -euo pipefail
WEATHERLAKE_LOCK=${ANALYTICS_LOCK:-/tmp/weatherlake-analytics.lock} exec "$(dirname "$0")/run_job.sh" analytics "$@"
