#!/usr/bin/env bash
# Run one weatherlake command once, never two at once, here or on the compose cluster:
# what scripts/run_analytics.sh and scripts/run_backup.sh share.
#
#   scripts/run_job.sh COMMAND [--cluster] [ARGS...]
#
# A run still going makes the next one exit 0 at once, with a message (the lock file is
# $WEATHERLAKE_LOCK, default /tmp/weatherlake-COMMAND.lock); the exit status is the run's.
# --cluster runs it in the scheduler container (docker compose exec -T: no TTY, so the
# output can be piped); otherwise the weatherlake of this checkout (bootstrapped), or the
# installed one inside the image.
set -euo pipefail
cd "$(dirname "$0")/.."

command=${1:?usage: scripts/run_job.sh COMMAND [--cluster] [ARGS...]}
shift

if command -v flock > /dev/null; then
  exec 9> "${WEATHERLAKE_LOCK:-/tmp/weatherlake-$command.lock}"
  if ! flock -n 9; then
    echo "run_$command: another $command run is still going; skipping this one" >&2
    exit 0
  fi
fi

if [ "${1:-}" = "--cluster" ]; then
  shift
  exec docker compose exec -T scheduler weatherlake "$command" "$@"
fi

if [ ! -x .venv/bin/weatherlake ] && command -v weatherlake > /dev/null; then
  exec weatherlake "$command" "$@"  # inside the image, or wherever weatherlake is installed
fi
scripts/bootstrap.sh
# exec keeps the lock (fd 9) open in the run itself, until it and its children end.
exec .venv/bin/weatherlake "$command" "$@"
