"""The producer: weather sources -> validated schema-v1 records -> Kafka, keyed by city_id.

Invalid records never reach the observation topic: they go to the dead-letter topic
with the reason in a header. Sends that fail (the broker gone longer than the delivery
timeout) are kept and sent again on the next flush, so an outage loses nothing.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from weatherlake import records
from weatherlake.config import Settings
from weatherlake.errors import BrokerError, ConfigError, InvalidRecord, SourceAuthError, SourceError, WeatherlakeError
from weatherlake.ingest import kafka
from weatherlake.ingest.kafka import FutureRecordMetadata
from weatherlake.sources.replay import RawLine
from weatherlake.timefmt import hour_text

log = logging.getLogger(__name__)

#: (topic, key, value, partition, headers): one send, as kept for a retry.
Message = tuple[str, bytes | None, bytes, int | None, list | None]
#: Sends between two sweeps of the delivered ones. Small enough that what is kept stays
#: small (kept as pairs for 50,000 sends, the bookkeeping cost 7-14 us a record, measured
#: against sending with no bookkeeping; now 1-5 us).
COLLECT_EVERY = 10_000


@dataclass
class PublishStats:
    sent: int = 0
    dead_lettered: int = 0

    def __iadd__(self, other: PublishStats) -> PublishStats:
        self.sent += other.sent
        self.dead_lettered += other.dead_lettered
        return self


class ObservationPublisher:
    """Validates and sends records; owns one KafkaProducer. Use as a context manager."""

    def __init__(self, settings: Settings, origin: str, **client_config) -> None:
        self.settings = settings
        self.origin = origin
        self._client_config = client_config  # overrides of kafka.PRODUCER_DEFAULTS
        self._client = None
        self._partition: kafka.KeyPartitioner | None = None
        # Each send's future and message, side by side: no pair to allocate per send.
        self._futures: list[FutureRecordMetadata] = []
        self._messages: list[Message] = []
        self._failed: list[Message] = []
        self._collect_at = COLLECT_EVERY

    @property
    def client(self):
        if self._client is None:
            self._connect()
        return self._client

    def _connect(self, give_up_after: float | None = None):
        self._client = kafka.producer(self.settings, give_up_after, **self._client_config)
        return self._client

    def publish(self, candidates: Iterable[dict | RawLine]) -> PublishStats:
        """Validate and send each candidate; returns counts (sends complete on :meth:`flush`).

        A candidate is a record dict, or a replayed input line that is not even a JSON
        object (:class:`RawLine`), which is dead-lettered byte for byte with its reason.
        """
        stats = PublishStats()
        topic = self.settings.kafka_topic
        partition = self._partition or self._partitioner(topic)
        for candidate in candidates:
            try:
                if isinstance(candidate, RawLine):
                    raise InvalidRecord(f"{candidate.reason} ({candidate.path}:{candidate.line_number})")
                record = records.validate(candidate)
            except InvalidRecord as error:
                self._dead_letter(candidate, str(error))
                stats.dead_lettered += 1
                continue
            key = record["city_id"].encode()
            self._send(topic, key, records.encode(record), partition(key))
            stats.sent += 1
        return stats

    def _partitioner(self, topic: str) -> kafka.KeyPartitioner:
        """Key partitioning over the topic's real partition count (not KAFKA_PARTITIONS)."""
        partitions = kafka.with_retries(
            f"reading the partitions of {topic}", lambda: self.client.partitions_for(topic),
            give_up_after=self.settings.kafka_connect_timeout_seconds,
        )
        if not partitions:
            raise BrokerError(f"topic {topic} does not exist on {self.settings.bootstrap_servers}; "
                              "create it with `weatherlake broker`")
        self._partition = kafka.KeyPartitioner(len(partitions))
        return self._partition

    def _dead_letter(self, candidate, reason: str) -> None:
        if isinstance(candidate, RawLine):
            key, value = None, candidate.data
        else:
            city_id = candidate.get("city_id") if isinstance(candidate, dict) else None
            key = city_id.encode() if isinstance(city_id, str) else None
            value = records.encode(candidate)
        log.warning("dead-lettering a record from %s: %s", self.origin, reason)
        headers = [("dlq.reason", reason.encode()), ("dlq.origin", self.origin.encode())]
        self._send(self.settings.kafka_dlq_topic, key, value, None, headers)

    def _send(self, topic: str, key: bytes | None, value: bytes, partition: int | None, headers=None) -> None:
        future = self.client.send(topic, key=key, value=value, partition=partition, headers=headers)
        # Kept with its future rather than given an errback: an errback cost ~8 us a
        # record, 15% of the send path (measured with benchmarks/bench_ingest.py).
        self._futures.append(future)
        self._messages.append((topic, key, value, partition, headers))
        if len(self._futures) >= self._collect_at:
            self._collect()

    def _collect(self) -> None:
        """Forget delivered sends, move failed ones to the retry list, keep the rest."""
        futures, messages = [], []
        for future, message in zip(self._futures, self._messages, strict=True):
            if not future.is_done:
                futures.append(future)
                messages.append(message)
            elif future.failed():
                if not self._failed:
                    log.error("Kafka did not take records (%s); they are kept and sent again", future.exception)
                self._failed.append(message)
        self._futures, self._messages = futures, messages
        # Sweep again after COLLECT_EVERY more sends, or later while many stay undecided
        # (a broker outage), so sweeping stays linear in the number of sends.
        self._collect_at = max(COLLECT_EVERY, 2 * len(futures))

    def flush(self, timeout: float | None = None) -> int:
        """Wait for outstanding sends, then resend any that failed; return how many are still failed."""
        self.client.flush(timeout=timeout)
        self._collect()
        if not self._failed:
            return 0
        # Resent through a new client: a failed one can be stuck for good, e.g. an
        # idempotent producer whose restarted broker no longer knows its producer id.
        self._close_client(timeout=0)
        try:
            client = self._connect(give_up_after=timeout)
        except BrokerError as error:
            log.error("%s; %d records kept until the next flush", error, len(self._failed))
            return len(self._failed)
        retry, self._failed = self._failed, []
        for message in retry:
            self._send(*message)
        client.flush(timeout=timeout)
        self._collect()
        return len(self._failed)

    def _close_client(self, timeout: float | None = None) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close(timeout=timeout)

    def close(self) -> None:
        if self._client is not None:
            try:
                self.flush(timeout=self.settings.kafka_connect_timeout_seconds)
            finally:
                self._close_client()

    def __enter__(self) -> ObservationPublisher:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def poll_once(publisher: ObservationPublisher, source, cities, timeout: float) -> PublishStats:
    """One polling cycle: fetch current weather and send it. A provider outage is logged, not fatal."""
    try:
        batch = source.current(cities)
    except SourceAuthError:
        raise  # retrying cannot fix a rejected key
    except SourceError as error:
        log.error("fetching current weather failed: %s; trying again next cycle", error)
        batch = []
    stats = publisher.publish(batch)
    still_failed = publisher.flush(timeout=timeout)
    log.info(
        "cycle: %d records sent, %d dead-lettered (source %s)%s", stats.sent, stats.dead_lettered, source.name,
        f", {still_failed} kept until the broker takes them" if still_failed else "",
    )
    return stats


def demo_anomalies(cities, start: datetime, end: datetime, per_city: int, seed: int) -> list:
    """Known anomalies for synthetic weather: sudden temperature jumps at seeded hours.

    The demo injects them so the anomaly view has something to show; only synthetic data
    (explicit, or standing in for an unreachable provider) carries them.
    """
    import random

    from weatherlake.sources import Anomaly

    rng = random.Random(seed)
    hours = int((end - start).total_seconds() // 3600)
    anomalies = []
    for city in cities:
        for hour in rng.sample(range(24, hours), min(per_city, max(0, hours - 24))):
            delta = rng.choice((-1, 1)) * rng.uniform(12.0, 16.0)
            anomalies.append(Anomaly(city.id, start + timedelta(hours=hour), "temperature", round(delta, 1)))
    return anomalies


def _record_injected(settings: Settings, anomalies) -> None:
    """Keep the injected anomalies in the lake (weatherlake.lake.injected) for the API to mark."""
    from weatherlake.lake import injected, open_lake

    try:
        with open_lake(settings) as lake:
            held = injected.record(lake, anomalies)
    except (OSError, WeatherlakeError) as error:
        log.warning("cannot record the injected anomalies in the lake (%s); the API will not mark them", error)
        return
    for anomaly in anomalies:
        log.info("injecting %+.1f %s into %s at %s", anomaly.delta, anomaly.metric, anomaly.city_id,
                 hour_text(anomaly.hour))
    log.info("%d injected anomalies listed in the lake's %s", held, injected.PATH)


def run_producer(settings: Settings, *, backfill: timedelta | None = None, cycles: int | None = None,
                 stop: threading.Event, inject_anomalies: int = 0, workers: int = 1) -> PublishStats:
    """The ``weatherlake produce`` service: optional backfill, then polling cycles.

    With ``workers`` > 1 the backfill's cities are shared among that many processes
    (one kafka-python producer saturates one core); polling stays in this process.
    """
    from weatherlake.cities import resolve
    from weatherlake.sources import open_source
    from weatherlake.workers import run_processes

    if workers > 1 and settings.weather_source == "replay":
        # A recording decides its own cities: each worker would send all of it.
        raise ConfigError("--workers cannot share a replay among processes; replay with one")
    cities = resolve(settings.cities)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - (backfill or timedelta(0))
    anomalies = demo_anomalies(cities, start, end, inject_anomalies, settings.synthetic_seed)
    if anomalies:
        _record_injected(settings, anomalies)
    total = PublishStats()
    if backfill and workers > 1:
        log.info("backfilling %d cities from %s to %s in %d processes", len(cities), start, end, workers)
        shares = [(settings, cities[n::workers], start, end, anomalies) for n in range(min(workers, len(cities)))]
        for stats in run_processes("backfill", backfill_cities, shares, stop=stop, log_level=settings.log_level):
            total += stats
        backfill = None
    source = open_source(settings, anomalies=anomalies)
    with ObservationPublisher(settings, origin=f"producer:{source.name}") as publisher:
        if backfill:
            log.info("backfilling %d cities from %s to %s", len(cities), start, end)
            total += _backfill(publisher, source, cities, start, end, stop)
        done = 0
        while not stop.is_set() and (cycles is None or done < cycles):
            started = time.monotonic()
            total += poll_once(publisher, source, cities, timeout=settings.poll_interval_seconds)
            done += 1
            if cycles is None or done < cycles:
                stop.wait(max(0.0, settings.poll_interval_seconds - (time.monotonic() - started)))
    log.info("producer stopped: %d records sent, %d dead-lettered", total.sent, total.dead_lettered)
    return total


def backfill_cities(settings: Settings, cities, start: datetime, end: datetime, anomalies, *,
                    stop: threading.Event) -> PublishStats:
    """One backfill worker: ``cities``' history from ``[start, end)`` into Kafka."""
    from weatherlake.sources import open_source

    ids = {city.id for city in cities}
    source = open_source(settings, anomalies=[a for a in anomalies if a.city_id in ids])
    with ObservationPublisher(settings, origin=f"producer:{source.name}") as publisher:
        log.info("backfilling %d cities: %s", len(cities), ",".join(c.id for c in cities))
        return _backfill(publisher, source, cities, start, end, stop)


def _backfill(publisher: ObservationPublisher, source, cities, start: datetime, end: datetime,
              stop: threading.Event) -> PublishStats:
    """Send the history, stopping early (what was read is still sent) when ``stop`` is set."""
    from weatherlake.sources import backfill as history
    from weatherlake.workers import streaming_gc

    streaming_gc()
    stats = publisher.publish(itertools.takewhile(
        lambda _: not stop.is_set(), history(source, cities, start, end, progress=_report_backfill),
    ))
    publisher.flush()
    if stop.is_set():
        log.warning("backfill stopped early: %d records sent", stats.sent)
    return stats


def _report_backfill(progress) -> None:
    if not progress.done:
        log.info(
            "backfill: %s / %s records (%d%%), through %s, source %s", f"{progress.records:,}",
            f"{progress.expected:,}", 100 * progress.fraction, progress.through, progress.source,
        )
