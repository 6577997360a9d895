"""Ingestion benchmark: producer, lake sink and the raw kafka-python consume ceiling.

    .venv/bin/python benchmarks/bench_ingest.py [--records 300000] [--workers 1,2] [--kafka embedded,apache]

Starts its own brokers on 127.0.0.1, one after the other: the embedded broker (Tansu) and
Apache Kafka (``weatherlake engines``' broker, from its Maven jars, in a temporary
directory). On each, for each worker count N:

* produces M synthetic records through the real producer path (validate -> encode ->
  send -> flush, LZ4) in N processes, each with its share of the cities, as
  ``weatherlake produce --workers N`` does (the source is generated before the clock
  starts, so it is timed apart);
* in the same run, reads the topic with one plain kafka-python consumer: the ceiling
  (the most one consumer process can take);
* sinks the topic into a fresh local lake with ``weatherlake consume --workers N`` (a
  separate process, as deployed); its peak memory is the largest VmHWM of its processes.

Both consume rates are timed over the steady middle of the run, from 10% to 90% of the
records (read, or committed to the lake): see :func:`steady_rate`.

Figures, not assertions: these machines are shared, so compare runs, not single numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import free_port  # noqa: E402

from weatherlake.cities import catalogue  # noqa: E402
from weatherlake.config import Settings  # noqa: E402
from weatherlake.engines.kafka import KafkaEngine  # noqa: E402
from weatherlake.ingest import kafka  # noqa: E402
from weatherlake.ingest.broker import EmbeddedBroker  # noqa: E402
from weatherlake.ingest.producer import ObservationPublisher  # noqa: E402
from weatherlake.lake import layout, open_lake  # noqa: E402
from weatherlake.sources import SyntheticSource  # noqa: E402
from weatherlake.workers import run_processes, streaming_gc  # noqa: E402

CITIES = list(catalogue().values())


def synthetic(minutes: int, share: int = 0, shares: int = 1):
    """Per-minute observations of the catalogue's cities for the last ``minutes``: the shape
    of live data (a catch-up after an outage), so a sink batch spans a day or two, not
    months. With ``shares``, only share number ``share`` of the cities (as the producer's
    workers split them)."""
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    start = end - timedelta(minutes=minutes)
    return SyntheticSource(seed=1).history(CITIES[share::shares], start, end, step=timedelta(minutes=1))


def produce_share(settings: Settings, minutes: int, share: int, shares: int, ready, *, stop) -> tuple[int, float, float]:
    """One producer process: generate its share, wait for the others, then time the sending."""
    observations = list(synthetic(minutes, share, shares))
    # The real producer streams its input; materialised here only to time the source
    # apart. Frozen with the rest of the heap, as the producer's backfill does
    # (streaming_gc), the list stays out of the collector's full passes.
    streaming_gc()
    ready.wait()
    started = time.monotonic()
    with ObservationPublisher(settings, origin="benchmark") as publisher:
        stats = publisher.publish(observations)
        assert publisher.flush() == 0 and stats.sent == len(observations), stats
    return len(observations), started, time.monotonic()


def produce(settings: Settings, count: int, workers: int) -> float:
    """Records/s of ``workers`` producer processes sending ``count`` records between them."""
    ready = multiprocessing.get_context("spawn").Barrier(workers)
    shares = [(settings, count // len(CITIES), n, workers, ready) for n in range(workers)]
    results = run_processes("producer", produce_share, shares, stop=threading.Event(), log_level="WARNING")
    sent = sum(n for n, _, _ in results)
    assert sent == count, (sent, count)
    return sent / (max(end for _, _, end in results) - min(start for _, start, _ in results))


def steady_rate(samples: list[tuple[float, int]], count: int) -> float:
    """Records/s between the first (time, records done) samples at 10% and at 90% of ``count``.

    The steady middle of a run: the start is a consumer-group join or a first fetch, and
    the sink's last batch of each partition waits out its age limit (latency, not
    throughput) once the topic is drained.
    """
    def first_at(tenths: int) -> tuple[float, int]:
        return next((t, n) for t, n in samples if n >= count * tenths // 10)

    (t0, n0), (t1, n1) = first_at(1), first_at(9)
    return (n1 - n0) / (t1 - t0)


def raw_consume(settings: Settings, count: int) -> float:
    consumer = kafka.consumer(settings, group_id=None)
    try:
        partitions = [kafka.TopicPartition(settings.kafka_topic, p) for p in range(settings.kafka_partitions)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        seen = 0
        samples = []
        deadline = time.monotonic() + 300
        while seen < count:
            if time.monotonic() > deadline:
                raise SystemExit(f"the raw consumer read only {seen:,} of {count:,} records in 300 s")
            for messages in consumer.poll(timeout_ms=1000).values():
                seen += len(messages)
            samples.append((time.perf_counter(), seen))
        return steady_rate(samples, count)
    finally:
        consumer.close()


def committed_offsets(lake, settings: Settings) -> int:
    return sum(layout.sink_positions(lake, settings.kafka_topic).values())


def peak_memory_kib(pids: list[int]) -> int:
    peak = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            peak = max(peak, int(status.split("VmHWM:")[1].split()[0]))
        except (OSError, IndexError):
            pass
    return peak


def sink(settings: Settings, count: int, workers: int) -> tuple[float, int]:
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
    process = subprocess.Popen([sys.executable, "-m", "weatherlake", "consume", "--workers", str(workers)], env=env)
    lake = open_lake(settings)
    peak = [0]

    def watch_memory():
        while process.poll() is None:
            children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
            try:
                pids = [process.pid, *map(int, children.read_text().split())]
            except OSError:
                pids = [process.pid]
            peak[0] = max(peak[0], peak_memory_kib(pids))
            time.sleep(0.05)

    threading.Thread(target=watch_memory, daemon=True).start()
    samples = []
    try:
        while (done := committed_offsets(lake, settings)) < count:
            if process.poll() is not None:
                raise SystemExit(f"the sink exited with code {process.returncode} after committing {done:,} records")
            samples.append((time.perf_counter(), done))
            time.sleep(0.01)
        samples.append((time.perf_counter(), done))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    return steady_rate(samples, count), peak[0]


@contextlib.contextmanager
def broker(kind: str) -> Iterator[str]:
    """Bootstrap servers of a fresh broker of ``kind`` (embedded or apache), stopped after."""
    if kind == "embedded":
        with EmbeddedBroker(free_port()) as embedded:
            yield embedded.bootstrap_servers
        return
    with tempfile.TemporaryDirectory(prefix="bench-kafka-") as home:
        engine = KafkaEngine(Path(home), free_port(), free_port())
        engine.start()
        try:
            yield engine.bootstrap_servers
        finally:
            engine.daemon.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--workers", default="1,2", help="comma-separated process counts to measure")
    parser.add_argument("--kafka", default="embedded,apache",
                        help="comma-separated brokers to measure on: embedded (Tansu), apache (Apache Kafka)")
    args = parser.parse_args()
    count = args.records // len(CITIES) * len(CITIES)  # whole minutes of every city
    for kind in args.kafka.split(","):
        if kind not in ("embedded", "apache"):
            raise SystemExit(f"--kafka: unknown broker {kind!r} (embedded or apache)")
        with broker(kind) as servers:
            for workers in (int(w) for w in args.workers.split(",")):
                with tempfile.TemporaryDirectory() as lake_dir:
                    topic = f"bench-{uuid.uuid4().hex[:8]}"
                    settings = Settings.from_env(
                        {}, kafka_bootstrap_servers=servers, kafka_topic=topic,
                        kafka_dlq_topic=f"{topic}.dlq", lake_url=Path(lake_dir).as_uri(),
                    )
                    kafka.ensure_topics(settings)
                    print(f"\n{kind} broker, {workers} worker process(es): {count:,} synthetic observations, "
                          f"{settings.kafka_partitions} partitions, lz4", flush=True)
                    produce_rate = produce(settings, count, workers)
                    print(f"  producer --workers {workers}: {produce_rate:,.0f} records/s "
                          "(validate + encode + send + flush)", flush=True)
                    raw_rate = raw_consume(settings, count)
                    print(f"  raw kafka-python consume, one process (ceiling): {raw_rate:,.0f} records/s", flush=True)
                    sink_rate, peak_kib = sink(settings, count, workers)
                    print(f"  sink --workers {workers}: {sink_rate:,.0f} records/s ({100 * sink_rate / raw_rate:.0f}% "
                          f"of the raw consume), peak memory {peak_kib / 1024:.0f} MiB per process", flush=True)


if __name__ == "__main__":
    main()
