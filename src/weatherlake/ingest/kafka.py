"""Thin factories over kafka-python 3: clients with weatherlake's settings, topic setup, retries.

No constructor here touches the network before it is called; every client is closed by
its caller (use ``contextlib.closing`` or try/finally).
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Callable
from typing import TypeVar

# kafka-python 3 on Python 3.11 warns about importlib's read_text on import; not ours to fix.
warnings.filterwarnings("ignore", message="read_text is deprecated", category=DeprecationWarning)

from kafka import ConsumerRebalanceListener, KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError  # noqa: E402
from kafka.partitioner.default import murmur2  # noqa: E402
from kafka.producer.future import FutureRecordMetadata  # noqa: E402

from weatherlake.config import Settings  # noqa: E402
from weatherlake.errors import BrokerError  # noqa: E402

log = logging.getLogger(__name__)

T = TypeVar("T")

# Compressed batches make the embedded broker fast (measured with gzip: ~3x produce and
# ~10x poll throughput). LZ4 (the `lz4` package) over gzip: kafka-python compresses gzip at
# level 9, which alone cost 24 us a record, two thirds of the producer's time (measured:
# plain sends 18.9k records/s gzip, 29.7k lz4, 24.4k zstd). `crc32c` (C) checks batch CRCs.
# A 200 ms linger fills batches ~4x fuller than 50 ms in a backfill, so kafka-python
# handles fewer requests (~10% faster sends, docs/benchmarks.md#ingestion); live cycles and
# dead letters flush at once, so it adds no latency there.
PRODUCER_DEFAULTS = dict(compression_type="lz4", linger_ms=200, batch_size=1 << 20, max_request_size=8 << 20)
CONSUMER_DEFAULTS = dict(
    enable_auto_commit=False,
    auto_offset_reset="earliest",
    # Short enough that a restarted member rejoins in seconds; Kafka's minimum is 6 s.
    session_timeout_ms=6000,
    heartbeat_interval_ms=1000,
    # Also the rebalance timeout: how long a rebalance waits for members to rejoin. Our
    # loops poll at least every second, so 30 s is ample, and it bounds a rebalance that
    # waits on a killed member (seen with the embedded broker under load) to 30 s, not 5 min.
    max_poll_interval_ms=30_000,
    max_poll_records=10_000,
    fetch_max_bytes=64 << 20,
    max_partition_fetch_bytes=16 << 20,
)


def with_retries(what: str, attempt: Callable[[], T], *, give_up_after: float, first_delay: float = 0.5) -> T:
    """Call ``attempt`` until it stops raising Kafka errors, backing off; BrokerError at the end."""
    deadline = time.monotonic() + give_up_after
    delay = first_delay
    while True:
        try:
            return attempt()
        except KafkaError as error:
            if time.monotonic() + delay > deadline:
                raise BrokerError(f"{what}: {type(error).__name__}: {error}") from None
            log.warning("%s failed (%s); retrying in %.1f s", what, type(error).__name__, delay)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


class OutageGuard:
    """Polls a consumer through a broker outage: warns once, backs off, says when it ends.

    kafka-python 3 raises retriable errors (KafkaConnectionError, ...) out of ``poll()``
    while the broker is down, for instance while it restarts; a loop that polls through
    this guard waits for it to come back instead of dying. Other errors propagate.
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self.since: float | None = None
        self._delay = 0.5

    def poll(self, consumer: KafkaConsumer, stop: threading.Event, **options) -> dict:
        try:
            polled = consumer.poll(**options)
        except KafkaError as error:
            if not error.retriable:
                raise
            if self.since is None:
                self.since = time.monotonic()
                log.warning("%s: Kafka unreachable (%s: %s); polling again until it is back",
                            self.what, type(error).__name__, error)
            stop.wait(self._delay)
            self._delay = min(self._delay * 2, 5.0)
            return {}
        if self.since is not None:
            log.info("%s: Kafka reachable again after %.0f s", self.what, time.monotonic() - self.since)
            self.since, self._delay = None, 0.5
        return polled


def connect(settings: Settings, factory: Callable[..., T], what: str, give_up_after: float | None, **config) -> T:
    """Build a client, retrying while the broker is unreachable (KafkaTimeoutError).

    Gives up after ``give_up_after`` seconds (default: KAFKA_CONNECT_TIMEOUT_SECONDS).
    """
    if give_up_after is None:
        give_up_after = settings.kafka_connect_timeout_seconds
    servers = settings.bootstrap_servers
    # Short attempts, so an absent broker is reported within seconds and retried.
    config.setdefault("bootstrap_timeout_ms", 5000)
    return with_retries(
        f"connecting {what} to Kafka at {servers}",
        lambda: factory(bootstrap_servers=servers, **config),
        give_up_after=give_up_after,
    )


def producer(settings: Settings, give_up_after: float | None = None, **overrides) -> KafkaProducer:
    return connect(settings, KafkaProducer, "producer", give_up_after, **{**PRODUCER_DEFAULTS, **overrides})


def consumer(settings: Settings, group_id: str | None, give_up_after: float | None = None, **overrides) -> KafkaConsumer:
    config = {**CONSUMER_DEFAULTS, "group_id": group_id, **overrides}
    return connect(settings, KafkaConsumer, "consumer", give_up_after, **config)


def ensure_topics(settings: Settings, give_up_after: float | None = None) -> list[str]:
    """Create the observation, dead-letter and alert topics when missing; return the ones created.

    The alert topic has one partition: it is the alerts' log, and its order is their history.
    """
    admin = connect(settings, KafkaAdminClient, "admin client", give_up_after)
    partitions = {settings.kafka_topic: settings.kafka_partitions, settings.kafka_dlq_topic: settings.kafka_partitions,
                  settings.alert_topic: 1}
    try:
        existing = set(admin.list_topics())
        created = []
        for topic, count in partitions.items():
            if topic in existing:
                continue
            spec = {"num_partitions": count, "replication_factor": settings.kafka_replication_factor}
            try:
                admin.create_topics({topic: spec})
                created.append(topic)
                log.info("created topic %s with %d partitions", topic, count)
            except TopicAlreadyExistsError:
                pass  # another process won the race
        return created
    except KafkaError as error:
        raise BrokerError(f"cannot create topics on {settings.bootstrap_servers}: {error}") from None
    finally:
        admin.close()


def topic_id(settings: Settings, topic: str) -> str | None:
    """Kafka's id of ``topic`` (a new one each time the topic is created); None if unknown."""
    admin = connect(settings, KafkaAdminClient, "admin client", None)
    try:
        described = admin.describe_topics([topic])
    except KafkaError as error:
        raise BrokerError(f"cannot describe topic {topic} on {settings.bootstrap_servers}: {error}") from None
    finally:
        admin.close()
    found = described[0].get("topic_id") if described else None
    return None if not found or found.strip("0-") == "" else str(found)


class KeyPartitioner:
    """Kafka's default key partitioning (murmur2, as the Java client does), memoised per key.

    A city's records always share one partition; caching saves the pure-Python hash on
    every send, which is most of the producer's per-record cost.
    """

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self._cache: dict[bytes, int] = {}

    def __call__(self, key: bytes) -> int:
        partition = self._cache.get(key)
        if partition is None:
            partition = self._cache[key] = (murmur2(key) & 0x7FFFFFFF) % self.partitions
        return partition


__all__ = [
    "ConsumerRebalanceListener",
    "FutureRecordMetadata",
    "KafkaError",
    "KafkaTimeoutError",
    "KeyPartitioner",
    "TopicPartition",
    "consumer",
    "ensure_topics",
    "producer",
    "topic_id",
    "OutageGuard",
    "with_retries",
]
