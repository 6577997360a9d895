"""The stations' catalogue: registered from readings, the same whatever the replays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from tests.factories import observation
from weatherlake.errors import WeatherlakeError
from weatherlake.lake import LocalLake
from weatherlake.stations import catalogue
from weatherlake.stations.catalogue import StationCatalogue
from weatherlake.stations.readings import normalise

START = datetime(2026, 12, 6, 12, tzinfo=UTC)


def station_reading(station: str, minutes: int, name: str | None = None, latitude: float = 51.5) -> dict:
    moment = START + timedelta(minutes=minutes)
    body = {"station_id": station, "latitude": latitude, "longitude": -0.1,
            "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "temperature": 8.0, "humidity": 75,
            "pressure": 1011.0, "wind_speed": 2.0, **({"metadata": {"name": name}} if name else {})}
    return normalise(orjson.dumps(body), "mqtt", now=START + timedelta(days=1))


def test_a_station_is_registered_on_its_first_reading_and_described_by_its_newest():
    book = StationCatalogue()
    book.observe(observation(0))  # a city's observation: no station
    assert book.stations == {} and not book.dirty
    book.observe(station_reading("ws-1", 30, "Old name", latitude=51.0))
    book.observe(station_reading("ws-1", 90, "Roof", latitude=51.2))
    book.observe(station_reading("ws-1", 10, "Older name", latitude=50.0))  # late: only widens first_seen
    assert book.stations["ws-1"] == {
        "station_id": "ws-1", "city_id": "station-ws-1", "name": "Roof", "latitude": 51.2, "longitude": -0.1,
        "sender": "mqtt", "first_seen": "2026-12-06T12:10:00Z", "last_seen": "2026-12-06T13:30:00Z"}
    assert book.dirty


def test_replaying_the_readings_changes_nothing(tmp_path):
    lake = LocalLake(tmp_path)
    readings = [station_reading(f"ws-{i % 3}", i) for i in range(30)]
    book = StationCatalogue()
    for reading in readings:
        book.observe(reading)
    book.save(lake)
    assert not book.dirty
    again = StationCatalogue.load(lake)
    for reading in readings[5:] + readings[:5]:  # read again, in another order
        again.observe(reading)
    assert not again.dirty and again.to_bytes() == lake.read_atomic(catalogue.PATH)
    assert [s["station_id"] for s in catalogue.read(lake)] == ["ws-0", "ws-1", "ws-2"]


def test_an_unreadable_catalogue_stops_the_reader_with_what_to_do(tmp_path):
    lake = LocalLake(tmp_path)
    assert catalogue.read(lake) is None and StationCatalogue.load(lake).stations == {}
    lake.write_atomic(catalogue.PATH, b"{not json")
    with pytest.raises(WeatherlakeError, match="stations/catalogue.json in the lake is unreadable .* move it away"):
        StationCatalogue.load(lake)
