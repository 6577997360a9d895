#!/usr/bin/env bash
# End-to-end check of the Docker cluster, for a machine with Docker and Compose v2:
# builds the image, starts the stack in its own Compose project, waits until it is
# healthy, seeds a day of synthetic weather, and verifies that records reach HDFS, that
# the Spark analytics run on the cluster and that the API serves their results.
#
#   scripts/smoke_cluster.sh           start, check, then remove the project and its volumes
#   scripts/smoke_cluster.sh --keep    leave it running to look around; remove it later with
#                                      docker compose -p weatherlake-smoke down -v
#
# Every wait is bounded: SMOKE_TIMEOUT seconds per step (default 300). It publishes the
# same host ports as `docker compose up` (5000, 8080, 9092, 9870): stop a running stack
# first. SMOKE_WORKERS / SMOKE_CONSUMERS set the scale (default 2 and 2).
set -euo pipefail
cd "$(dirname "$0")/.."

project=${SMOKE_PROJECT:-weatherlake-smoke}
timeout=${SMOKE_TIMEOUT:-300}
workers=${SMOKE_WORKERS:-2}
consumers=${SMOKE_CONSUMERS:-2}
keep=false
for arg in "$@"; do
  case $arg in
    --keep) keep=true ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) printf 'smoke: unknown argument %s (see --help)\n' "$arg" >&2; exit 2 ;;
  esac
done

# Messages go to fd 3 (stderr), so they show even from checks whose output is discarded.
exec 3>&2
say() { printf 'smoke: %s\n' "$*" >&3; }
fail() { printf 'smoke: FAILED: %s\n' "$*" >&3; exit 1; }

command -v docker > /dev/null || fail "docker is not installed"
docker info > /dev/null 2>&1 || fail "cannot reach the Docker engine (is it running, and may this user use it?)"
docker compose version > /dev/null 2>&1 || fail "needs Docker Compose v2 (the 'docker compose' plugin)"

# scripts/run_analytics.sh --cluster and every `docker compose` below use this project.
export COMPOSE_PROJECT_NAME=$project
lake_root=/weather_data
started=false

finish() {
  local status=$?
  if [ "$status" -ne 0 ] && $started; then
    say "last log lines of every service:"
    docker compose logs --no-color --tail 30 >&2 || true
  fi
  if $keep; then
    say "left running: docker compose -p $project ps   (remove: docker compose -p $project down -v)"
  elif $started; then
    say "removing project $project and its volumes"
    docker compose down -v --remove-orphans > /dev/null 2>&1 || true
  fi
  exit "$status"
}
trap finish EXIT

# bounded SECONDS DESCRIPTION COMMAND...: run COMMAND, stop it and fail after SECONDS.
bounded() {
  local limit=$1 what=$2
  shift 2
  "$@" < /dev/null &
  local pid=$! deadline=$((SECONDS + limit))
  while kill -0 "$pid" 2> /dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      kill "$pid" 2> /dev/null || true
      fail "$what took longer than ${limit}s"
    fi
    sleep 2
  done
  wait "$pid" || fail "$what failed (exit status $?)"
}

# wait_until DESCRIPTION COMMAND...: retry COMMAND every 5 s until it succeeds, for at most SMOKE_TIMEOUT.
wait_until() {
  local what=$1
  shift
  local deadline=$((SECONDS + timeout))
  until "$@" > /dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || fail "$what: not within ${timeout}s"
    sleep 5
  done
  say "ok: $what"
}

# healthy SERVICE: every container of SERVICE reports healthy.
healthy() {
  local ids id
  ids=$(docker compose ps -q "$1")
  [ -n "$ids" ] || return 1
  for id in $ids; do
    [ "$(docker inspect -f '{{.State.Health.Status}}' "$id")" = healthy ] || return 1
  done
}

# completed SERVICE: the one-shot SERVICE exited 0 (and fail at once if it exited otherwise).
completed() {
  local id state
  id=$(docker compose ps -a -q "$1" | sed -n 1p)
  [ -n "$id" ] || return 1
  state=$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$id")
  case $state in
    "exited 0") return 0 ;;
    exited*) fail "$1 exited with status ${state#exited }: docker compose -p $project logs $1" ;;
    *) return 1 ;;
  esac
}

hdfs_() { docker compose exec -T namenode hdfs "$@"; }

raw_files_in_hdfs() { hdfs_ dfs -ls -R "$lake_root/raw" 2> /dev/null | grep -q "/raw/date=.*\.jsonl\$"; }

views_published() {
  local view
  for view in city_stats hourly_trends diurnal_profile anomalies; do
    hdfs_ dfs -test -e "$lake_root/analytics/$view/_LATEST" || return 1
  done
}

# Run inside the web container: needs nothing on the host but Docker.
api_check='
import json, os, sys, urllib.request

def get(path):
    with urllib.request.urlopen("http://127.0.0.1:5000" + path, timeout=10) as response:
        return json.load(response)

health = get("/api/health")
if health.get("status") != "ok":
    sys.exit(f"/api/health: {health}")
wanted = {c.strip() for c in os.environ["CITIES"].split(",") if c.strip()}
stats = get("/api/city-statistics")
if not stats.get("cutoff"):
    sys.exit("/api/city-statistics has no batch cutoff yet")
for path, answer in (("/api/city-statistics", stats), ("/api/hourly-trends", get("/api/hourly-trends"))):
    missing = wanted - {row.get("city_id") for row in answer.get("data", [])}
    if missing:
        sys.exit(f"{path}: no rows for {sorted(missing)}")
'
api_serves_views() { docker compose exec -T web python -c "$api_check"; }

say "building the image and starting project $project ($workers Spark workers, $consumers consumers)"
started=true
bounded 1800 "docker compose up" \
  docker compose up -d --build --scale "spark-worker=$workers" --scale "consumer=$consumers"

for service in kafka namenode datanode spark-master spark-worker web; do
  wait_until "$service is healthy" healthy "$service"
done
for service in kafka-init hdfs-init; do
  wait_until "$service finished" completed "$service"
done

say "seeding a day of synthetic weather through Kafka"
bounded "$timeout" "the backfill" \
  docker compose run --rm --no-deps -T producer weatherlake produce --source synthetic --backfill 1d --cycles 0

wait_until "the sink committed raw files to HDFS ($lake_root/raw/date=...)" raw_files_in_hdfs

say "running the Spark analytics on the cluster"
bounded "$timeout" "the analytics run" scripts/run_analytics.sh --cluster
wait_until "every batch view has a _LATEST pointer in HDFS" views_published

wait_until "the API serves statistics and trends for every city" api_serves_views
if command -v curl > /dev/null; then
  curl -fsS -o /dev/null http://127.0.0.1:5000/api/health || fail "the dashboard port 5000 does not answer on the host"
  say "ok: http://127.0.0.1:5000 answers on the host"
fi

say "PASSED: Kafka -> HDFS -> Spark -> API works (dashboard http://127.0.0.1:5000, Spark http://127.0.0.1:8080, HDFS http://127.0.0.1:9870)"
