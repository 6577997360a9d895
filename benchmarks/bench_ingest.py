"""Ingestion benchmark: producer, lake sink and the raw kafka-python consume ceiling.

    .venv/bin/python benchmarks/bench_ingest.py [--records 300000]

Starts its own embedded broker on 127.0.0.1, produces M synthetic records through the
real producer path (generate -> validate -> encode -> send, LZ4), then in the same run
measures a plain kafka-python consumer reading the same topic (the ceiling a sink can
reach) and `weatherlake consume` (a separate process, as deployed) sinking it into a
local lake. Prints records/s for each and the sink's peak memory (VmHWM). Figures, not
assertions: these machines are shared, so compare runs, not single numbers.
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import free_port  # noqa: E402

from weatherlake.cities import catalogue  # noqa: E402
from weatherlake.config import Settings  # noqa: E402
from weatherlake.ingest import kafka  # noqa: E402
from weatherlake.ingest.broker import EmbeddedBroker  # noqa: E402
from weatherlake.ingest.producer import ObservationPublisher  # noqa: E402
from weatherlake.lake import open_lake  # noqa: E402
from weatherlake.sources import SyntheticSource  # noqa: E402


def synthetic(count: int):
    """Per-minute observations of every catalogue city, ending now: the shape of live data
    (a catch-up after an outage), so a sink batch spans a day or two, not months."""
    cities = list(catalogue().values())
    minutes = -(-count // len(cities))
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    records = SyntheticSource(seed=1).history(cities, end - timedelta(minutes=minutes), end, step=timedelta(minutes=1))
    for i, record in enumerate(records):
        if i == count:
            return
        yield record


def produce(settings: Settings, observations: list[dict]) -> float:
    """The producer's own work: validate, encode, send, flush (the source is timed apart)."""
    started = time.perf_counter()
    with ObservationPublisher(settings, origin="benchmark") as publisher:
        stats = publisher.publish(observations)
        assert publisher.flush() == 0 and stats.sent == len(observations), stats
    return len(observations) / (time.perf_counter() - started)


def raw_consume(settings: Settings, count: int) -> float:
    consumer = kafka.consumer(settings, group_id=None)
    try:
        partitions = [kafka.TopicPartition(settings.kafka_topic, p) for p in range(settings.kafka_partitions)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        seen = 0
        started = time.perf_counter()
        while seen < count:
            for messages in consumer.poll(timeout_ms=1000).values():
                seen += len(messages)
        return count / (time.perf_counter() - started)
    finally:
        consumer.close()


def committed_offsets(lake, settings: Settings) -> int:
    total = 0
    for partition in range(settings.kafka_partitions):
        data = lake.read_atomic(f"raw/_state/{settings.kafka_topic}+{partition}.json")
        total += orjson.loads(data)["next_offset"] if data else 0
    return total


def sink(settings: Settings, count: int) -> tuple[float, int]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "KAFKA_TOPIC": settings.kafka_topic,
        "KAFKA_DLQ_TOPIC": settings.kafka_dlq_topic,
        "LAKE_URL": settings.lake_url,
        "LOG_LEVEL": "WARNING",
        # Batches of 20,000 records, and a short age limit so the last, partial batch of
        # each partition does not wait the default minute (that would be idle time).
        "SINK_MAX_RECORDS": "20000",
        "SINK_MAX_AGE_SECONDS": "1",
    }
    process = subprocess.Popen([sys.executable, "-m", "weatherlake", "consume"], env=env)
    lake = open_lake(settings)
    peak = [0]

    def watch_memory():
        while process.poll() is None:
            try:
                status = Path(f"/proc/{process.pid}/status").read_text()
                peak[0] = max(peak[0], int(status.split("VmHWM:")[1].split()[0]))
            except (OSError, IndexError):
                pass
            time.sleep(0.05)

    threading.Thread(target=watch_memory, daemon=True).start()
    try:
        # Time from the first commit, so the consumer-group join is not counted.
        while (first := committed_offsets(lake, settings)) == 0:
            time.sleep(0.01)
        started = time.perf_counter()
        while (done := committed_offsets(lake, settings)) < count:
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    return (done - first) / elapsed, peak[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=300_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as lake_dir, EmbeddedBroker(free_port()) as broker:
        topic = f"bench-{uuid.uuid4().hex[:8]}"
        settings = Settings.from_env(
            {}, kafka_bootstrap_servers=broker.bootstrap_servers, kafka_topic=topic,
            kafka_dlq_topic=f"{topic}.dlq", lake_url=Path(lake_dir).as_uri(),
        )
        kafka.ensure_topics(settings)
        count = args.records
        print(f"records: {count:,} synthetic observations, {settings.kafka_partitions} partitions, lz4", flush=True)
        started = time.perf_counter()
        observations = list(synthetic(count))
        print(f"synthetic source: {count / (time.perf_counter() - started):,.0f} records/s generated", flush=True)
        # The input is materialised only to time the source apart; the real producer
        # streams it. Frozen, the list stays out of the garbage collector's full passes,
        # which would otherwise scan all of it again and again (~15% of the send time).
        gc.freeze()
        produce_rate = produce(settings, observations)
        gc.unfreeze()
        del observations
        print(f"producer: {produce_rate:,.0f} records/s (validate + encode + send + flush)", flush=True)
        raw_rate = raw_consume(settings, count)
        print(f"raw kafka-python consume (ceiling): {raw_rate:,.0f} records/s", flush=True)
        sink_rate, peak_kib = sink(settings, count)
        print(f"sink: {sink_rate:,.0f} records/s ({100 * sink_rate / raw_rate:.0f}% of raw consume), "
              f"peak memory {peak_kib / 1024:.0f} MiB", flush=True)


if __name__ == "__main__":
    main()
