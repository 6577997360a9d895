#!/usr/bin/env bash
# Run the same tests N times in a row, stopping at the first failure: the check that a
# test is not flaky. Each run keeps its temporary files (logs of the processes the tests
# started) under var/repeat/run-<i>.
#   scripts/repeat-tests.sh 20 tests/ingest/test_pipeline.py -k "two_sinks"
# With no tests named, it repeats the multi-process ingest tests (docs/development.md).
set -euo pipefail
cd "$(dirname "$0")/.."
times=${1:?usage: scripts/repeat-tests.sh N [pytest arguments]}
shift
if [ $# -eq 0 ]; then
  set -- tests/ingest/test_pipeline.py tests/ingest/test_zombies.py tests/engines/test_ingest_on_engines.py \
    -k "sigkill or two_sinks or two_workers or frozen or exactly_once_through_kills"
fi
scripts/bootstrap.sh --test >/dev/null
rm -rf var/repeat && mkdir -p var/repeat
for i in $(seq 1 "$times"); do
  started=$(date +%s)
  if ! .venv/bin/python -m pytest -q -x -p no:cacheprovider --basetemp="var/repeat/run-$i" "$@"; then
    echo "repeat-tests: run $i of $times failed after $((i - 1)) passing run(s); its files: var/repeat/run-$i"
    exit 1
  fi
  echo "repeat-tests: run $i of $times passed in $(($(date +%s) - started)) s"
done
echo "repeat-tests: all $times runs passed"
