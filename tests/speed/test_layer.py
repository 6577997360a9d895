"""The speed layer against the embedded broker and a lake directory, and against Apache Kafka and HDFS.

Observation times are set relative to the wall clock, because the layer seeks Kafka by
message (production) time: a record is always produced after it was observed.
"""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from kafka import TopicPartition

from tests.web import data, reference
from tests.web.lakedata import publish_view
from weatherlake.ingest import kafka
from weatherlake.ingest.producer import ObservationPublisher
from weatherlake.lake import open_lake
from weatherlake.speed.layer import GROUP_ID, SpeedLayer
from weatherlake.speed.published import read_snapshot

CITIES = ("london-gb", "tokyo-jp", "dubai-ae", "sydney-au")


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(params=["embedded", pytest.param("apache", marks=pytest.mark.engines)])
def settings(request, make_settings):
    """On the embedded broker and a local lake; on Apache Kafka and HDFS."""
    on = ({"broker": request.getfixturevalue("broker")} if request.param == "embedded"
          else {"engines": request.getfixturevalue("engines")})
    settings = make_settings(**on, speed_snapshot_seconds=0.3, speed_seek_margin_seconds=0)
    kafka.ensure_topics(settings)
    return settings


@pytest.fixture
def lake(settings):
    with open_lake(settings) as lake:
        yield lake


@contextlib.contextmanager
def running(settings, lake):
    layer = SpeedLayer(settings, lake)
    stop = threading.Event()
    errors = []

    def run():
        try:
            layer.run(stop, connect_timeout=30)
        except BaseException as error:  # surfaced below
            errors.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield layer
    finally:
        stop.set()
        thread.join(30)
    assert not errors, errors
    assert not thread.is_alive()


def text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def records_at(moments: list[datetime], start: int = 0, **changes) -> list[dict]:
    return [data.observation(CITIES[i % len(CITIES)], m, start + i, timestamp=text(m), **changes)
            for i, m in enumerate(moments)]


def publish(settings, rows) -> None:
    with ObservationPublisher(settings, origin="test") as publisher:
        assert publisher.publish(rows).sent == len(rows)
        assert publisher.flush() == 0


def publish_cutoff(lake, cutoff: str, run_id: str, history: list[dict] | None = None) -> None:
    history = history or []
    publish_view(lake, "hourly_trends", reference.hourly_trends(history), cutoff=cutoff, run_id=run_id)
    publish_view(lake, "diurnal_profile", reference.diurnal_profile(history), cutoff=cutoff, run_id=run_id)


def live_records(snapshot: dict) -> int:
    return sum(h["record_count"] for city in snapshot["cities"].values() for h in city["hours"])


def snapshot_with(lake, count: int, cutoff: str | None = None):
    def check():
        snapshot = read_snapshot(lake)
        if snapshot and live_records(snapshot) == count and (cutoff is None or snapshot["cutoff"] == cutoff):
            return snapshot
        return None

    return check


def now() -> datetime:
    return datetime.now(UTC)


def test_records_after_the_cutoff_appear_and_before_it_do_not(settings, lake):
    # Produced before the cutoff: the seek skips them without reading them.
    old = records_at([now() - timedelta(hours=2, minutes=i) for i in range(20)])
    publish(settings, old)
    time.sleep(1.2)
    cutoff_moment = now().replace(microsecond=0)
    cutoff = cutoff_moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    # A normal history for london-gb up to the cutoff: 10 °C every hour.
    history = [data.observation("london-gb", cutoff_moment - timedelta(hours=h), h, temperature=10.0 + (h % 2) * 0.1,
                                timestamp=(cutoff_moment - timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ"))
               for h in range(1, 24 * 5)]
    publish_cutoff(lake, cutoff, "20261121T000000Z-0001", history)
    time.sleep(0.3)
    late = records_at([cutoff_moment - timedelta(minutes=5 + i) for i in range(6)], start=100)  # observed before it
    fresh = records_at([cutoff_moment + timedelta(milliseconds=10 * (i + 1)) for i in range(12)], start=200,
                       temperature=10.05)
    spike = records_at([cutoff_moment + timedelta(milliseconds=200)], start=300, temperature=30.0)
    spike[0]["city_id"], spike[0]["city"] = "london-gb", "London"
    invalid = [{"not": "an observation"}]
    publish(settings, late + fresh + spike)
    with ObservationPublisher(settings, origin="test") as publisher:
        publisher.client.send(settings.kafka_topic, key=b"london-gb", value=b"{broken json")
        publisher.client.flush()

    with running(settings, lake) as layer:
        snapshot = wait_for(snapshot_with(lake, len(fresh) + 1), 30, "the fresh records in the snapshot")
        wait_for(lambda: layer.counters["invalid"] == 1, 10, "the broken record")

    assert snapshot["cutoff"] == cutoff and snapshot["batch_run_id"] == "20261121T000000Z-0001"
    kept = fresh + spike
    for row in reference.hourly_trends(kept):
        [agg] = [h for h in snapshot["cities"][row["city_id"]]["hours"] if h["hour"] == row["hour"]]
        assert agg["record_count"] == row["record_count"]
        assert agg["sum_temperature"] / agg["record_count"] == pytest.approx(row["avg_temperature"], abs=1e-4)
    latest = {c: max((r for r in kept if r["city_id"] == c), key=lambda r: reference.ts(r["timestamp"]))
              for c in {r["city_id"] for r in kept}}
    assert {c: v["latest"]["timestamp"] for c, v in snapshot["cities"].items()} == {
        c: r["timestamp"] for c, r in latest.items()}
    # Read but left out: the late records. Never read: the old ones before the seek point.
    assert layer.state.stats["before_cutoff"] == len(late)
    assert layer.counters["consumed"] == len(late) + len(kept) + len(invalid)
    # The spike is judged against the published baseline.
    [flag] = [a for a in snapshot["cities"]["london-gb"]["anomalies"] if a["metric"] == "temperature"]
    assert flag["value"] == 30.0 and flag["severity"] == "extreme" and flag["provisional"] is True
    # Positions are committed to the consumer group after the snapshot.
    committed = snapshot["offsets"]
    with contextlib.closing(kafka.consumer(settings, GROUP_ID)) as consumer:
        assert {p: consumer.committed(TopicPartition(settings.kafka_topic, int(p))) for p in committed} == committed
    assert set(snapshot["kafka"]["end_offsets"]) == {"0", "1", "2"}
    assert snapshot["kafka"]["dlq_topic"] == settings.kafka_dlq_topic


def test_a_restart_resumes_from_the_snapshot_without_counting_twice(settings, lake):
    cutoff_moment = now().replace(microsecond=0) - timedelta(seconds=1)
    cutoff = cutoff_moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    publish_cutoff(lake, cutoff, "20261121T000000Z-0001")
    first = records_at([cutoff_moment + timedelta(milliseconds=5 * (i + 1)) for i in range(40)])
    publish(settings, first)
    with running(settings, lake) as layer:
        wait_for(snapshot_with(lake, len(first)), 30, "the first records")
    assert not layer.resumed_from_snapshot

    second = records_at([now() - timedelta(milliseconds=5 * (i + 1)) for i in range(25)], start=1000)
    publish(settings, second)  # while the layer is down
    with running(settings, lake) as layer:
        snapshot = wait_for(snapshot_with(lake, len(first) + len(second)), 30, "the records produced while down")
        time.sleep(1.0)  # a few more snapshots: still nothing counted twice
        assert live_records(read_snapshot(lake)) == len(first) + len(second)
    assert layer.resumed_from_snapshot
    assert layer.counters["consumed"] == len(second)  # resumed at the snapshot's offsets, not at the cutoff
    # The lag in each hour, for the daily report: sampled once a minute at most, kept across the restart.
    last = read_snapshot(lake)
    hours = last["lag_by_hour"]
    assert sum(entry["samples"] for entry in hours.values()) == 2
    newest = hours[max(hours)]
    assert newest["sink"] == sum(last["kafka"]["end_offsets"].values()) > 0  # no sink has committed anything
    assert 0 <= newest["speed"] <= newest["sink"]
    for row in reference.hourly_trends(first + second):
        [agg] = [h for h in snapshot["cities"][row["city_id"]]["hours"] if h["hour"] == row["hour"]]
        assert agg["record_count"] == row["record_count"]


def test_a_new_batch_run_moves_the_covered_span_forward(settings, lake):
    start = now().replace(microsecond=0) - timedelta(seconds=2)
    publish_cutoff(lake, start.strftime("%Y-%m-%dT%H:%M:%SZ"), "20261121T000000Z-0001")
    moments = [start + timedelta(milliseconds=50 * (i + 1)) for i in range(30)]
    rows = records_at(moments)
    publish(settings, rows)
    with running(settings, lake):
        wait_for(snapshot_with(lake, len(rows)), 30, "the first snapshot")
        new_cutoff = moments[11]
        new_text = text(new_cutoff)
        publish_cutoff(lake, new_text, "20261121T010000Z-0002")
        snapshot = wait_for(snapshot_with(lake, len(rows) - 12, new_text), 30, "the snapshot at the new cutoff")
    assert snapshot["batch_run_id"] == "20261121T010000Z-0002"
    kept = [r for r in rows if reference.ts(r["timestamp"]) > new_cutoff]
    assert {c: v["latest"]["timestamp"] for c, v in snapshot["cities"].items()} == {
        c: max((r for r in kept if r["city_id"] == c), key=lambda r: reference.ts(r["timestamp"]))["timestamp"]
        for c in CITIES}


def test_without_any_batch_run_it_covers_the_recent_hours(settings, lake):
    rows = records_at([now() - timedelta(minutes=30 + i) for i in range(10)])
    publish(settings, rows)
    with running(settings, lake):
        snapshot = wait_for(snapshot_with(lake, len(rows)), 30, "the snapshot")
    assert snapshot["cutoff"] is None and snapshot["batch_run_id"] is None
    assert snapshot["stats"]["cities"] == len(CITIES)


def test_a_stations_first_reading_registers_it_in_the_catalogue(settings, lake):
    from weatherlake.stations import catalogue
    from weatherlake.stations.readings import normalise

    moments = [now().replace(microsecond=0) - timedelta(minutes=m) for m in (3, 2, 1)]
    readings = [normalise(orjson.dumps({"station_id": "ws-7", "latitude": 48.2, "longitude": 16.4,
                                        "timestamp": text(m), "temperature": 4.0, "humidity": 70, "pressure": 1015.0,
                                        "wind_speed": 1.5, "metadata": {"name": "Prater"}}), "http")
                for m in moments]
    publish(settings, records_at([now() - timedelta(seconds=30)]) + readings)
    with running(settings, lake):
        [station] = wait_for(lambda: catalogue.read(lake), 30, "the station registered")
        snapshot = wait_for(snapshot_with(lake, 4), 30, "the live view")
    assert station == {"station_id": "ws-7", "city_id": "station-ws-7", "name": "Prater", "latitude": 48.2,
                       "longitude": 16.4, "sender": "http", "first_seen": text(moments[0]).replace(".000000", ""),
                       "last_seen": text(moments[-1]).replace(".000000", "")}
    assert "station-ws-7" in snapshot["cities"]  # and its readings are live data like a city's
