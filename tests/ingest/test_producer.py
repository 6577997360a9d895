"""The producer: validation at the edge, keying, dead letters, kept failures."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaConsumer, KafkaProducer

from tests.factories import observation
from weatherlake import records
from weatherlake.cities import resolve
from weatherlake.ingest import kafka
from weatherlake.ingest.producer import ObservationPublisher, demo_anomalies, run_producer
from weatherlake.lake import injected, open_lake
from weatherlake.sources import RawLine, SyntheticSource
from weatherlake.timefmt import hour_text, parse_utc


def read_all(settings, topic: str, expected: int) -> list:
    consumer = KafkaConsumer(topic, bootstrap_servers=settings.bootstrap_servers, auto_offset_reset="earliest",
                             consumer_timeout_ms=2000)
    messages = []
    deadline = time.monotonic() + 30
    while len(messages) < expected and time.monotonic() < deadline:
        messages.extend(consumer)
    consumer.close()
    return messages


@pytest.mark.broker
def test_key_partitioning_matches_the_kafka_clients_own(broker, make_settings):
    settings = make_settings(broker)
    kafka.ensure_topics(settings)
    plain = KafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    partitioner = kafka.KeyPartitioner(settings.kafka_partitions)
    try:
        for city_id in ("london-gb", "new-york-us", "tokyo-jp", "sydney-au", "dubai-ae", "a", "zz-top"):
            landed = plain.send(settings.kafka_topic, key=city_id.encode(), value=b"{}").get(timeout=30)
            assert landed.partition == partitioner(city_id.encode()), city_id
    finally:
        plain.close()


@pytest.mark.broker
def test_valid_records_are_keyed_by_city_and_invalid_ones_dead_lettered(broker, make_settings):
    settings = make_settings(broker)
    kafka.ensure_topics(settings)
    bad = observation(3)
    bad["humidity"] = 120.0
    raw = RawLine(b"{oops", "not valid JSON: unexpected end", "replay.jsonl", 7)
    with ObservationPublisher(settings, origin="producer:test") as publisher:
        stats = publisher.publish([observation(0), observation(1), bad, raw, observation(2)])
        assert publisher.flush() == 0
    assert (stats.sent, stats.dead_lettered) == (3, 2)

    good = read_all(settings, settings.kafka_topic, 3)
    assert sorted(m.key for m in good) == sorted(observation(i)["city_id"].encode() for i in range(3))
    partitioner = kafka.KeyPartitioner(settings.kafka_partitions)
    assert all(m.partition == partitioner(m.key) for m in good)

    letters = read_all(settings, settings.kafka_dlq_topic, 2)
    by_reason = {dict(m.headers)["dlq.reason"].decode(): m for m in letters}
    assert set(by_reason) == {"humidity 120.0 out of range 0..100",
                              "not valid JSON: unexpected end (replay.jsonl:7)"}
    assert all(dict(m.headers)["dlq.origin"] == b"producer:test" for m in letters)
    assert by_reason["not valid JSON: unexpected end (replay.jsonl:7)"].value == b"{oops"


def test_demo_anomalies_are_seeded_and_inside_the_window():
    cities = resolve(["london-gb", "tokyo-jp"])
    end = datetime(2026, 11, 23, tzinfo=UTC)
    start = end - timedelta(days=7)
    first = demo_anomalies(cities, start, end, per_city=2, seed=42)
    assert first == demo_anomalies(cities, start, end, per_city=2, seed=42)
    assert len(first) == 4
    assert {a.city_id for a in first} == {"london-gb", "tokyo-jp"}
    assert all(start + timedelta(hours=24) <= a.hour < end and abs(a.delta) >= 12 for a in first)
    assert demo_anomalies(cities, start, start + timedelta(hours=10), per_city=2, seed=1) == []


@pytest.mark.slow
def test_sends_that_fail_while_the_broker_is_gone_are_kept_and_sent_again(make_settings, caplog):
    from tests.conftest import free_port
    from weatherlake.ingest.broker import EmbeddedBroker

    port = free_port()
    settings = make_settings(kafka_bootstrap_servers=f"127.0.0.1:{port}")
    broker = EmbeddedBroker(port).start()
    try:
        kafka.ensure_topics(settings)
        with ObservationPublisher(settings, origin="producer:test", delivery_timeout_ms=3000,
                                  request_timeout_ms=1000, linger_ms=0) as publisher:
            publisher.publish([observation(0)])
            assert publisher.flush() == 0
            broker.stop()
            publisher.publish([observation(i) for i in range(1, 6)])
            assert publisher.flush(timeout=5) == 5  # expired after the delivery timeout, kept
            assert "they are kept and sent again" in caplog.text
            broker.start()  # memory-only: a fresh broker, the topics made again
            kafka.ensure_topics(settings)
            assert publisher.flush(timeout=60) == 0
        landed = read_all(settings, settings.kafka_topic, 5)
        assert sorted(m.value for m in landed) == sorted(records.encode(observation(i)) for i in range(1, 6))
    finally:
        broker.stop()


@pytest.mark.broker
def test_a_backfill_shared_among_worker_processes_sends_each_record_once(broker, make_settings):
    cities = ["london-gb", "tokyo-jp", "paris-fr", "new-york-us", "sydney-au"]
    settings = make_settings(broker, weather_source="synthetic", cities=tuple(cities))
    kafka.ensure_topics(settings)
    stats = run_producer(settings, backfill=timedelta(hours=30), cycles=0, stop=threading.Event(),
                         inject_anomalies=1, workers=2)
    assert (stats.sent, stats.dead_lettered) == (5 * 30, 0)

    sent = [records.parse(m.value) for m in read_all(settings, settings.kafka_topic, 5 * 30)]
    assert len({(r["city_id"], r["timestamp"]) for r in sent}) == len(sent) == 5 * 30
    # Exactly what one process would send: synthetic weather is a pure function of
    # (seed, city, time), and each city's injected anomaly went to the worker that has it.
    end = max(parse_utc(r["timestamp"]) for r in sent) + timedelta(hours=1)
    catalogue = resolve(cities)
    anomalies = demo_anomalies(catalogue, end - timedelta(hours=30), end, 1, settings.synthetic_seed)
    source = SyntheticSource(settings.synthetic_seed, anomalies)
    by_id = {city.id: city for city in catalogue}

    def comparable(record: dict) -> dict:
        return {k: v for k, v in record.items() if k != "ingested_at"}

    for record in sent:
        expected = records.validate(source.observe(by_id[record["city_id"]], parse_utc(record["timestamp"])))
        assert comparable(record) == comparable(expected)
    jumps = {(a.city_id, a.hour) for a in anomalies}
    assert len(jumps) == 5 and jumps <= {(r["city_id"], parse_utc(r["timestamp"])) for r in sent}
    # ... and the lake lists them, for the API to mark as injected.
    with open_lake(settings) as lake:
        assert injected.keys(lake.read_atomic(injected.PATH)) == {
            (a.city_id, hour_text(a.hour), "temperature") for a in anomalies}
