#!/usr/bin/env bash
# Run the whole test suite on this machine (sets up everything it needs first).
# Extra arguments go to pytest, e.g. scripts/test.sh -k sink -x
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --test
exec .venv/bin/python -m pytest "$@"
