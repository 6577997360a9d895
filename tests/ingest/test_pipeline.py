"""Producer -> real broker -> sink -> lake, including crashes, bad input and outages."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from tests.factories import key_of, observation
from tests.lakeview import committed
from weatherlake.errors import LakeUnavailable
from weatherlake.ingest import kafka
from weatherlake.ingest.producer import ObservationPublisher
from weatherlake.ingest.sink import LakeSink, parse_file_name
from weatherlake.lake import Lake, open_lake

pytestmark = pytest.mark.broker


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@contextlib.contextmanager
def running_sink(settings, lake):
    sink = LakeSink(settings, lake)
    stop = threading.Event()
    errors = []

    def run():
        try:
            sink.run(stop)
        except BaseException as error:  # surfaced to the test below
            errors.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield sink, thread
    finally:
        stop.set()
        thread.join(60)
    assert not errors, errors
    assert not thread.is_alive()


def publish(settings, count: int, start: int = 0) -> None:
    with ObservationPublisher(settings, origin="test") as publisher:
        stats = publisher.publish(observation(i) for i in range(start, start + count))
        assert stats.sent == count
        assert publisher.flush() == 0


def expected_keys(count: int) -> list:
    return sorted(key_of(observation(i)) for i in range(count))


def lake_keys(lake) -> list:
    return sorted(key_of(record) for _, _, record in committed(lake))


def test_records_land_exactly_once_in_their_date_partition(broker, make_settings):
    settings = make_settings(broker, sink_max_records=500)
    kafka.ensure_topics(settings)
    count = 3000
    publish(settings, count)
    lake = open_lake(settings)
    with running_sink(settings, lake) as (sink, _):
        wait_for(lambda: len(committed(lake)) >= count, 60, f"{count} records in the lake")
    rows = committed(lake)
    assert sorted(key_of(r) for _, _, r in rows) == expected_keys(count)
    assert all(directory == f"date={record['timestamp'][:10]}" for directory, _, record in rows)
    assert len({d for d, _, _ in rows}) >= 2
    assert sink.committed_records == count
    # Kafka's offsets were committed up to what is in the lake: here, everything. (Not
    # compared with end_offsets: Tansu's high watermark can read low after a compressed batch.)
    in_lake = lake_positions(rows)
    committed_offsets, _ = group_offsets(settings)
    assert {p: o for p, o in committed_offsets.items() if p in in_lake} == in_lake
    assert sum(in_lake.values()) == count


def lake_positions(rows) -> dict[int, int]:
    """{partition: the offset after the last one in the lake's files}."""
    positions: dict[int, int] = {}
    for _, name, _ in rows:
        _, partition, _, last = parse_file_name(name)
        positions[partition] = max(positions.get(partition, 0), last + 1)
    return positions


def group_offsets(settings) -> tuple[dict[int, int | None], dict[int, int]]:
    """({partition: the sink group's committed offset}, {partition: the topic's end offset})."""
    consumer = kafka.consumer(settings, settings.sink_group_id)
    try:
        partitions = [TopicPartition(settings.kafka_topic, p) for p in range(settings.kafka_partitions)]
        end = {tp.partition: offset for tp, offset in consumer.end_offsets(partitions).items()}
        return {tp.partition: consumer.committed(tp) for tp in partitions}, end
    finally:
        consumer.close()


def test_the_age_limit_commits_with_no_new_records(broker, make_settings):
    settings = make_settings(broker, sink_max_records=1_000_000, sink_max_age_seconds=2.0)
    kafka.ensure_topics(settings)
    lake = open_lake(settings)
    with running_sink(settings, lake):
        publish(settings, 7)
        wait_for(lambda: len(committed(lake)) == 7, 30, "the age limit to commit 7 records")
    assert lake_keys(lake) == expected_keys(7)


def sink_env(settings, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "LAKE_", "SINK_"))}
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=settings.bootstrap_servers,
        KAFKA_TOPIC=settings.kafka_topic,
        KAFKA_DLQ_TOPIC=settings.kafka_dlq_topic,
        SINK_GROUP_ID=settings.sink_group_id,
        LAKE_URL=settings.lake_url,
        LOG_LEVEL="INFO",
        **{k: str(v) for k, v in extra.items()},
    )
    return env


def sinks_on(on: str, request, make_settings) -> tuple:
    """Settings and a sink member's environment on the embedded broker with a local lake
    ("embedded"), or on Apache Kafka and HDFS ("apache"); small, quick batches."""
    if on == "embedded":
        settings = make_settings(request.getfixturevalue("broker"))
        return settings, sink_env(settings, SINK_MAX_RECORDS=100, SINK_MAX_AGE_SECONDS=0.3)
    settings = make_settings(engines=request.getfixturevalue("engines"))
    return settings, sink_env(settings, SINK_MAX_RECORDS=100, SINK_MAX_AGE_SECONDS=0.3,
                              WEBHDFS_URL=settings.webhdfs_url, HDFS_USER=settings.hdfs_user,
                              LAKE_ROOT=settings.lake_root)


def start_cli(env, *args, log_path=None):
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen([sys.executable, "-m", "weatherlake", *args], env=env, stdout=out, stderr=out)


@pytest.mark.slow
def test_sink_killed_with_sigkill_again_and_again_loses_and_doubles_nothing(broker, make_settings, tmp_path):
    settings = make_settings(broker)
    kafka.ensure_topics(settings)
    lake = open_lake(settings)
    # Fed slowly enough to outlast the kills: each restart waits for the killed member's
    # session (6 s) to expire before the group hands it the partitions again.
    count, chunks = 12_000, 240
    env = sink_env(settings, SINK_MAX_RECORDS=150, SINK_MAX_AGE_SECONDS=0.3)

    def feed():
        for chunk in range(chunks):
            publish(settings, count // chunks, start=chunk * (count // chunks))
            time.sleep(0.25)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    rng = random.Random(7)
    log_path = tmp_path / "sink.log"
    sink = None
    try:
        for kill in range(1, 6):
            sink = start_cli(env, "consume", log_path=log_path)
            before = len(committed(lake))
            # Let it get past the group join and commit something, then kill it mid-stream.
            wait_for(lambda b=before: len(committed(lake)) > b or b >= count, 60, "the restarted sink to commit")
            time.sleep(rng.uniform(0.0, 0.6))
            sink.send_signal(signal.SIGKILL)
            sink.wait()
            keys = lake_keys(lake)
            assert len(keys) == len(set(keys)), f"duplicate after kill {kill}"
        feeder.join(120)
        sink = start_cli(env, "consume", log_path=log_path)
        wait_for(lambda: len(committed(lake)) >= count, 120, f"all {count} records after 5 kills")
        sink.send_signal(signal.SIGTERM)
        assert sink.wait(60) == 0
    finally:
        if sink is not None and sink.poll() is None:
            sink.kill()
            sink.wait()
    assert lake_keys(lake) == expected_keys(count)


MALFORMED_KINDS = [
    b"{not json",
    b"",
    b"\xff\xfe\x00garbage",
    b"[1, 2, 3]",
    b'"just a string"',
]


def malformed(i: int) -> bytes:
    kind = i % 10
    record = observation(i)
    if kind < len(MALFORMED_KINDS):
        return MALFORMED_KINDS[kind]
    if kind == 5:
        record["temperature"] = "warm"  # wrong type
    elif kind == 6:
        record["humidity"] = 140.0  # out of range
    elif kind == 7:
        del record["timestamp"]  # missing field
    elif kind == 8:
        record["timestamp"] = "yesterday"  # not ISO-8601 UTC
    else:
        record["wind_speed"] = -3  # negative wind
    import orjson

    return orjson.dumps(record)


def dead_letters(settings, expected: int) -> list:
    consumer = KafkaConsumer(
        settings.kafka_dlq_topic, bootstrap_servers=settings.bootstrap_servers,
        auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=3000,
    )
    try:
        messages = []
        deadline = time.monotonic() + 60
        while len(messages) < expected and time.monotonic() < deadline:
            messages.extend(consumer)
        return messages
    finally:
        consumer.close()


def test_malformed_messages_go_to_the_dead_letter_topic_and_the_sink_lives_on(broker, make_settings):
    settings = make_settings(broker)
    kafka.ensure_topics(settings)
    lake = open_lake(settings)
    plain = KafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    with running_sink(settings, lake) as (_, thread):
        for i in range(1000):
            plain.send(settings.kafka_topic, key=b"k%d" % i, value=malformed(i))
        plain.send(settings.kafka_topic, key=b"london-gb", value=__import__("orjson").dumps(observation(0)))
        plain.flush()
        plain.close()
        wait_for(lambda: len(committed(lake)) == 1, 60, "the one valid record")
        assert thread.is_alive()
        letters = dead_letters(settings, 1000)
    assert len(letters) == 1000
    reasons = [dict(m.headers)["dlq.reason"].decode() for m in letters]
    assert all(reasons)
    assert any("JSON" in r for r in reasons) and any("humidity" in r for r in reasons)
    assert any("timestamp" in r for r in reasons) and any("temperature" in r for r in reasons)
    origins = {
        tuple(dict(m.headers)[f"dlq.origin.{part}"].decode() for part in ("topic", "partition", "offset"))
        for m in letters
    }
    assert len(origins) == 1000 and {topic for topic, _, _ in origins} == {settings.kafka_topic}
    assert sorted(m.value for m in letters) == sorted(malformed(i) for i in range(1000))
    assert lake_keys(lake) == [key_of(observation(0))]


class FlakyLake(Lake):
    """A real lake that answers LakeUnavailable while ``down`` is set (an HDFS outage)."""

    def __init__(self, inner: Lake) -> None:
        self.inner, self.url, self.down, self.refusals = inner, inner.url, threading.Event(), 0

    def _check(self):
        if self.down.is_set():
            self.refusals += 1
            raise LakeUnavailable("connection refused (simulated outage)")

    def read(self, path):
        self._check()
        return self.inner.read(path)

    def write(self, path, data):
        self._check()
        self.inner.write(path, data)

    def rename(self, src, dst):
        self._check()
        self.inner.rename(src, dst)

    def delete(self, path):
        self._check()
        return self.inner.delete(path)

    def list(self, directory):
        self._check()
        return self.inner.list(directory)

    def exists(self, path):
        self._check()
        return self.inner.exists(path)

    def sizes(self, directory):
        self._check()
        return self.inner.sizes(directory)


def test_a_lake_outage_holds_the_batch_and_loses_nothing(broker, make_settings, caplog):
    settings = make_settings(broker, sink_max_age_seconds=0.5)
    kafka.ensure_topics(settings)
    real = open_lake(settings)
    lake = FlakyLake(real)
    with running_sink(settings, lake) as (_, thread):
        publish(settings, 100)
        wait_for(lambda: len(committed(real)) == 100, 60, "the first 100 records")
        lake.down.set()
        publish(settings, 400, start=100)
        wait_for(lambda: lake.refusals >= 3, 30, "the sink to retry against the lake")
        assert thread.is_alive()
        time.sleep(1.0)
        lake.down.clear()
        wait_for(lambda: len(committed(real)) == 500, 60, "the held records after the outage")
    assert lake_keys(real) == expected_keys(500)
    retries = [r.getMessage() for r in caplog.records if "cannot commit to the lake" in r.getMessage()]
    assert retries and "retrying in" in retries[0]


@pytest.mark.slow
def test_sink_and_producer_wait_for_a_broker_that_starts_late(make_settings, tmp_path):
    from tests.conftest import free_port
    from weatherlake.ingest.broker import EmbeddedBroker

    port = free_port()
    settings = make_settings(kafka_bootstrap_servers=f"127.0.0.1:{port}")
    env = sink_env(settings, SINK_MAX_AGE_SECONDS=0.5, WEATHER_SOURCE="synthetic")
    sink_log, producer_log = tmp_path / "sink.log", tmp_path / "producer.log"
    sink = start_cli(env, "consume", log_path=sink_log)
    producer = start_cli(env, "produce", "--backfill", "6h", "--cycles", "1", log_path=producer_log)
    try:
        wait_for(lambda: "retrying in" in sink_log.read_text() and "retrying in" in producer_log.read_text(),
                 30, "both services to report that they are retrying")
        assert sink.poll() is None and producer.poll() is None, "a service gave up or crash-looped"
        with EmbeddedBroker(port):
            kafka.ensure_topics(settings)
            lake = open_lake(settings)
            # 6 hourly records for 5 cities, plus one current record each.
            wait_for(lambda: len(committed(lake)) >= 35, 90, "records after the broker came up")
            assert producer.wait(60) == 0
            sink.send_signal(signal.SIGTERM)
            assert sink.wait(60) == 0
        keys = lake_keys(lake)
        assert len(keys) == len(set(keys)) == 35
    finally:
        for process in (sink, producer):
            if process.poll() is None:
                process.kill()
                process.wait()


def test_the_sink_writes_hdfs_through_webhdfs_and_rides_out_safe_mode(broker, make_settings, tmp_path, caplog):
    from tests.webhdfs_double import WebHdfsDouble

    with WebHdfsDouble(tmp_path / "hdfs") as namenode:
        settings = make_settings(broker, lake_url="hdfs://127.0.0.1:8020", webhdfs_url=namenode.url,
                                 sink_max_age_seconds=0.5)
        kafka.ensure_topics(settings)
        lake = open_lake(settings)
        with running_sink(settings, lake):
            publish(settings, 100)
            wait_for(lambda: len(committed(lake)) == 100, 60, "the first 100 records on HDFS")
            namenode.safe_mode = True
            publish(settings, 200, start=100)
            wait_for(lambda: any("cannot commit to the lake" in r.getMessage() for r in caplog.records),
                     60, "the sink to report the safe-mode outage")
            namenode.safe_mode = False
            wait_for(lambda: len(committed(lake)) == 300, 60, "all records once safe mode is over")
        assert lake_keys(lake) == expected_keys(300)
        assert not namenode.internal_errors
    assert (tmp_path / "hdfs" / "weather_data" / "raw").is_dir()


@pytest.mark.slow
@pytest.mark.parametrize("on", ["embedded", pytest.param("apache", marks=pytest.mark.engines)])
def test_two_sinks_in_one_group_through_kills_and_rebalances(on, request, make_settings, tmp_path):
    """On Apache Kafka the second member leaves while the third is joining. The embedded
    broker's group coordinator can wedge in that race (docs/ingestion.md, "Broker"), so
    there it leaves once the third holds partitions."""
    settings, env = sinks_on(on, request, make_settings)
    kafka.ensure_topics(settings)
    lake = open_lake(settings)
    count, chunks = 6000, 120
    feeder = threading.Thread(
        target=lambda: [(publish(settings, count // chunks, start=c * (count // chunks)), time.sleep(0.25))
                        for c in range(chunks)],
        daemon=True,
    )
    feeder.start()
    log_path = tmp_path / "sinks.log"
    first, second = start_cli(env, "consume", log_path=log_path), start_cli(env, "consume", log_path=log_path)
    processes = [first, second]
    try:
        wait_for(lambda: len(committed(lake)) > 500, 60, "both sinks to start committing")
        first.send_signal(signal.SIGKILL)  # its partitions move to the survivor: a rebalance
        first.wait()
        before = len(committed(lake))
        wait_for(lambda: len(committed(lake)) > before + 300, 60, "the survivor to take over")
        third = start_cli(env, "consume", log_path=log_path)  # joins: another rebalance
        processes.append(third)
        if on == "embedded":
            wait_for(lambda: any(f" {third.pid} " in line and "assigned" in line
                                 for line in log_path.read_text().splitlines()), 60, "the third member's partitions")
        else:
            time.sleep(4)
        second.send_signal(signal.SIGTERM)  # leaves cleanly (on Apache Kafka: while the third is joining)
        assert second.wait(60) == 0
        feeder.join(120)
        wait_for(lambda: len(committed(lake)) >= count, 240, f"all {count} records")
        third.send_signal(signal.SIGTERM)
        assert third.wait(60) == 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert lake_keys(lake) == expected_keys(count)


def test_consume_with_two_workers_shares_the_partitions_and_stops_cleanly(broker, make_settings, tmp_path):
    settings = make_settings(broker)
    kafka.ensure_topics(settings)
    lake = open_lake(settings)
    count = 4000
    publish(settings, count)
    log_path = tmp_path / "sink.log"
    sink = start_cli(sink_env(settings, SINK_MAX_RECORDS=500, SINK_MAX_AGE_SECONDS=0.5),
                     "consume", "--workers", "2", log_path=log_path)
    try:
        wait_for(lambda: len(committed(lake)) >= count, 120, f"{count} records in the lake")
        sink.send_signal(signal.SIGTERM)
        assert sink.wait(60) == 0
    finally:
        if sink.poll() is None:
            sink.kill()
            sink.wait()
    assert lake_keys(lake) == expected_keys(count)
    log = log_path.read_text()
    for worker in ("[sink-1]", "[sink-2]"):
        assert any(worker in line and "assigned" in line for line in log.splitlines()), f"{worker} took no partition"
    assert f"Sink stopped: {count} records committed, 0 dead-lettered." in log


def test_a_restarted_embedded_broker_loses_no_record_on_its_fresh_topic(make_settings):
    """The embedded broker keeps nothing across restarts: same topic name, offsets from 0."""
    from tests.conftest import free_port
    from weatherlake.ingest.broker import EmbeddedBroker

    port = free_port()
    settings = make_settings(kafka_bootstrap_servers=f"127.0.0.1:{port}")
    lake = open_lake(settings)
    for run in range(2):
        with EmbeddedBroker(port):
            kafka.ensure_topics(settings)
            with running_sink(settings, lake):
                publish(settings, 300, start=run * 300)
                wait_for(lambda n=(run + 1) * 300: len(committed(lake)) == n, 60, f"run {run + 1}'s records")
    assert lake_keys(lake) == expected_keys(600)
