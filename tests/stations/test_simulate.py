"""The station simulator: its stations, their faults, and 50 of them through a real Mosquitto."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from click.testing import CliRunner

from tests.stations.test_mqtt_bridge import mosquitto, topic_messages  # noqa: F401 (a fixture)
from weatherlake.cities import resolve
from weatherlake.config import Secret
from weatherlake.errors import InvalidRecord
from weatherlake.ingest import kafka
from weatherlake.sources import SyntheticSource
from weatherlake.stations.commands import simulate
from weatherlake.stations.mqtt import MqttBridge
from weatherlake.stations.readings import normalise
from weatherlake.stations.simulate import make_stations, moments, reading, topic_of

NOW = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)
CITIES = resolve(["london-gb", "tokyo-jp", "dubai-ae"])


def received(station, moment) -> dict:
    """What the bridge makes of the station's reading at ``moment`` (InvalidRecord if refused)."""
    return normalise(orjson.dumps(reading(station, moment, SyntheticSource(42))), "mqtt", station.id, now=moment)


def test_stations_stand_near_their_cities_and_report_their_weather_with_a_bias():
    stations = make_stations(9, 0, CITIES)
    assert [s.id for s in stations][:3] == ["sim-000", "sim-001", "sim-002"]
    assert [s.city.id for s in stations[:4]] == ["london-gb", "tokyo-jp", "dubai-ae", "london-gb"]
    for station in stations:
        assert abs(station.latitude - station.city.latitude) <= 0.12 and abs(station.bias) <= 1.0
        record = received(station, NOW)
        city = SyntheticSource(42).observe(station.city, NOW)
        assert record["temperature"] == pytest.approx(city["temperature"] + station.bias, abs=0.011)
        assert (record["city_id"], record["city"]) == (f"station-{station.id}", station.name)


def test_the_faulty_stations_break_as_validation_must_catch():
    *_, units, clock, stuck = make_stations(6, 3, CITIES)
    assert (units.fault, clock.fault, stuck.fault) == ("units", "clock", "stuck")
    with pytest.raises(InvalidRecord, match="pressure .* out of range 850..1100"):
        received(units, NOW)  # London in December: a plausible °F temperature, but Pa

    with pytest.raises(InvalidRecord, match="2:00:00 ahead of the receiving clock"):
        received(clock, NOW)
    first, later = received(stuck, NOW), received(stuck, NOW + timedelta(hours=5))
    assert [first[m] for m in ("temperature", "humidity", "pressure")] == [later[m] for m in
                                                                          ("temperature", "humidity", "pressure")]


def test_backfill_moments_then_live_rounds():
    clock = iter([NOW, NOW, NOW + timedelta(seconds=1), NOW + timedelta(seconds=1)])
    got = list(moments(timedelta(minutes=30), timedelta(minutes=10), 1, now=lambda: next(clock)))
    assert got == [NOW - timedelta(minutes=30), NOW - timedelta(minutes=20), NOW - timedelta(minutes=10), NOW]


@pytest.mark.parametrize(("topic_filter", "topic"), [
    ("weatherlake/stations/+/observations", "weatherlake/stations/sim-001/observations"),
    ("stations/#", "stations/sim-001"),
    ("stations/all", "stations/all"),
])
def test_each_station_publishes_to_its_level_of_the_topic_filter(topic_filter, topic):
    assert topic_of(topic_filter, "sim-001") == topic


@pytest.mark.broker
@pytest.mark.slow
def test_fifty_simulated_stations_reach_kafka_through_mosquitto_and_the_bridge(broker, make_settings, mosquitto):  # noqa: F811
    settings = make_settings(broker, mqtt_url=Secret(mosquitto), mqtt_client_id=f"bridge-{uuid.uuid4().hex[:6]}",
                             cities=("london-gb", "tokyo-jp", "dubai-ae", "sydney-au", "new-york-us"))
    kafka.ensure_topics(settings)
    bridge = MqttBridge(settings)
    stop = threading.Event()
    thread = threading.Thread(target=bridge.run, args=(stop,))
    thread.start()
    try:
        assert bridge.subscribed.wait(20)
        result = CliRunner().invoke(simulate, ["stations", "--count", "50", "--faulty", "3", "--interval", "10m",
                                               "--backfill", "1h", "--rounds", "1"], obj=settings)
        assert result.exit_code == 0, result.output
        assert "Published 350 readings of 50 stations (3 faulty)." in result.output  # 6 backfilled + 1 live each
        observations = topic_messages(settings, settings.kafka_topic, 48 * 7)
        dead = topic_messages(settings, settings.kafka_dlq_topic, 2 * 7)
    finally:
        stop.set()
        thread.join(30)
    by_station = {}
    for message in observations:
        record = orjson.loads(message.value)
        by_station.setdefault(record["station_id"], []).append(record)
    assert len(by_station) == 48 and all(len(readings) == 7 for readings in by_station.values())
    assert "sim-047" not in by_station and "sim-048" not in by_station  # wrong units, fast clock
    assert len({r["temperature"] for r in by_station["sim-049"]}) == 1  # the stuck sensor
    reasons = sorted((m.key.decode(), dict(m.headers)["dlq.reason"].decode()) for m in dead)
    assert [station for station, _ in reasons] == ["sim-047"] * 7 + ["sim-048"] * 7
    assert all("out of range" in reason for _, reason in reasons[:7])  # °F, or Pa
    assert all("ahead of the receiving clock" in reason for _, reason in reasons[7:])


def test_a_stop_ends_the_live_rounds_at_once():
    clock = iter([NOW, NOW, NOW + timedelta(seconds=1)])
    waited = []
    got = list(moments(timedelta(0), timedelta(minutes=1), None, now=lambda: next(clock),
                       wait=lambda seconds: waited.append(seconds) or True))
    assert got == [NOW] and waited == [59.0]
