#!/usr/bin/env bash
# Create weatherlake's Kafka topics on the compose cluster's broker with Kafka's own
# kafka-topics.sh, or grow an existing topic to more partitions. Safe to run again.
#
#   scripts/create_kafka_topic.sh                     both topics, KAFKA_PARTITIONS (3) partitions
#   scripts/create_kafka_topic.sh --partitions 6      create, or grow existing topics to 6
#   scripts/create_kafka_topic.sh --partitions 6 weather.observations
#
# The compose service kafka-init (`weatherlake broker`) already creates the topics on
# `docker compose up`; this is for operators. Kafka can add partitions but never remove
# them. The producer reads the topic's partition count at its first send: after growing
# weather.observations, restart the producer, and set KAFKA_PARTITIONS to the new count so
# that kafka-init would create the same (docs/deployment.md, "Scaling").
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'create_kafka_topic: %s\n' "$*" >&2; }

partitions=${KAFKA_PARTITIONS:-3}
topics=()
while [ $# -gt 0 ]; do
  case $1 in
    --partitions) partitions=${2:?--partitions needs a number}; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) say "unknown option $1 (see --help)"; exit 2 ;;
    *) topics+=("$1"); shift ;;
  esac
done
if ! [[ $partitions =~ ^[1-9][0-9]*$ ]]; then
  say "--partitions must be a positive integer, got '$partitions'"
  exit 2
fi
[ ${#topics[@]} -gt 0 ] || topics=("${KAFKA_TOPIC:-weather.observations}" "${KAFKA_DLQ_TOPIC:-weather.observations.dlq}")

kafka_topics() {
  docker compose exec -T kafka /opt/kafka/bin/kafka-topics.sh --bootstrap-server kafka:19092 "$@"
}

if ! kafka_topics --list > /dev/null; then
  say "cannot reach the broker: start it first (docker compose up -d kafka)"
  exit 1
fi

for topic in "${topics[@]}"; do
  # Empty when the topic does not exist (kafka-topics.sh then exits non-zero).
  current=$({ kafka_topics --describe --topic "$topic" 2> /dev/null || true; } \
    | sed -n 's/.*PartitionCount: *\([0-9]*\).*/\1/p' | sed -n 1p)
  if [ -z "$current" ]; then
    kafka_topics --create --if-not-exists --topic "$topic" --partitions "$partitions" --replication-factor 1
    say "created $topic with $partitions partitions"
  elif [ "$current" -lt "$partitions" ]; then
    kafka_topics --alter --topic "$topic" --partitions "$partitions"
    say "grew $topic from $current to $partitions partitions; set KAFKA_PARTITIONS=$partitions (what kafka-init creates) and restart the producer so that it uses them"
  else
    say "$topic already has $current partitions"
  fi
done
for topic in "${topics[@]}"; do
  kafka_topics --describe --topic "$topic" | sed -n 1p
done
