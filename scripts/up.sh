#!/usr/bin/env bash
# Run the whole pipeline on this machine with the embedded defaults (no Docker needed):
# a week of history first, then live polling. Ctrl-C stops everything.
# Extra arguments go to `weatherlake up`, e.g. scripts/up.sh --duration 2m
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/weatherlake up --demo "$@"
