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
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--cluster" ]; then
  shift
  # -T: no TTY, so the output can be piped and the exit status is the job's.
  exec docker compose exec -T scheduler weatherlake analytics "$@"
fi

if [ ! -x .venv/bin/weatherlake ] && command -v weatherlake > /dev/null; then
  exec weatherlake analytics "$@"  # inside the image, or wherever weatherlake is installed
fi
scripts/bootstrap.sh
exec .venv/bin/weatherlake analytics "$@"
