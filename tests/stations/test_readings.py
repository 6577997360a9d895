"""A station's payload becomes a schema-v2 record, or is refused with the reason."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from weatherlake import records
from weatherlake.errors import InvalidRecord
from weatherlake.stations.readings import normalise

NOW = datetime(2026, 12, 6, 20, 30, tzinfo=UTC)


def payload(**changes) -> dict:
    reading = {"station_id": "ws-0042", "latitude": 51.51, "longitude": -0.13, "timestamp": "2026-12-06T20:00:00Z",
               "temperature": 7.4, "humidity": 81, "pressure": 1013.2, "wind_speed": 3.1, "wind_direction": 240,
               "rainfall": 0.2, "metadata": {"name": "Soho roof", "model": "WS-2902", "height_m": 12}}
    reading.update(changes)
    return {k: v for k, v in reading.items() if v is not ...}


def normalised(topic_station: str | None = None, **changes) -> dict:
    return normalise(orjson.dumps(payload(**changes)), "mqtt", topic_station, now=NOW)


def test_a_reading_becomes_a_schema_2_record_located_as_a_station():
    record = normalised()
    assert records.validate(record) is record
    assert {k: record[k] for k in ("schema_version", "city_id", "city", "station_id", "source", "sender")} == {
        "schema_version": 2, "city_id": "station-ws-0042", "city": "Soho roof", "station_id": "ws-0042",
        "source": "station", "sender": "mqtt"}
    assert "country" not in record
    assert (record["timestamp"], record["temperature"], record["humidity"], record["rainfall"]) == (
        "2026-12-06T20:00:00Z", 7.4, 81.0, 0.2)
    assert record["metadata"] == {"name": "Soho roof", "model": "WS-2902", "height_m": 12}
    assert record["dew_point"] == pytest.approx(4.35, abs=0.01) and record["feels_like"] < record["temperature"]


def test_times_with_offsets_or_in_unix_seconds_are_utc_and_the_station_may_come_from_the_topic():
    assert normalised(timestamp="2026-12-06T21:00:00+01:00")["timestamp"] == "2026-12-06T20:00:00Z"
    assert normalised(timestamp=1_796_587_200)["timestamp"] == "2026-12-06T20:00:00Z"
    record = normalised("ws-7", station_id=..., metadata=..., rainfall=..., wind_direction=...)
    assert (record["station_id"], record["city"], record["rainfall"], record["wind_direction"]) == ("ws-7", "ws-7", 0.0, None)
    assert "metadata" in record and record["metadata"] is None


@pytest.mark.parametrize(
    ("changes", "topic_station", "reason"),
    [
        (dict(temperature="7.4"), None, "temperature must be a number, got string"),
        (dict(temperature=True), None, "temperature must be a number, got boolean"),
        (dict(pressure=...), None, "missing field 'pressure'"),
        (dict(humidity=140), None, "humidity 140.0 out of range 0..100"),
        (dict(pressure=101320), None, "pressure 101320.0 out of range 850..1100"),  # Pa, not hPa
        (dict(station_id="WS 42"), None, "station_id must be a lowercase slug like 'ws-0042', got 'WS 42'"),
        (dict(station_id=...), None, "missing field 'station_id' (and the topic names no station)"),
        (dict(), "ws-9", "station_id 'ws-0042' does not match the topic's station 'ws-9'"),
        (dict(timestamp="2026-12-06 20:00"), None, "timestamp '2026-12-06 20:00' has no UTC offset (add Z or +hh:mm)"),
        (dict(timestamp="yesterday"), None, "timestamp must be ISO-8601 like 2026-12-06T20:00:00Z, got 'yesterday'"),
        (dict(timestamp="2026-12-06T21:00:00Z"), None, "is 0:30:00 ahead of the receiving clock"),
        (dict(gust=9.0), None, "unexpected field 'gust' in a station reading"),
        (dict(metadata={"name": {"first": "x"}}), None, "metadata.name must be a string, number, boolean or null"),
        (dict(metadata=[1]), None, "metadata must be an object, got array"),
        (dict(metadata={f"k{i}": i for i in range(40)}), None, "metadata has 40 keys, at most 32 are allowed"),
    ],
)
def test_a_bad_reading_is_refused_with_the_reason(changes, topic_station, reason):
    with pytest.raises(InvalidRecord) as refused:
        normalised(topic_station, **changes)
    assert reason in str(refused.value)


@pytest.mark.parametrize("value", [b"not json", b"[1, 2]", b""])
def test_bytes_that_are_no_reading_are_refused(value):
    with pytest.raises(InvalidRecord, match="not valid JSON|must be a JSON object"):
        normalise(value, "mqtt", None, now=NOW)


def test_schema_2_is_accepted_beside_1_by_the_fast_and_the_explaining_check():
    record = normalised()
    assert records.validated_date(records.encode(record)) == "2026-12-06"
    records.explain(record)
    v1 = {k: v for k, v in record.items() if k not in ("station_id", "sender", "metadata")}
    with pytest.raises(InvalidRecord, match="missing field 'country'"):
        records.validate({**v1, "schema_version": 1})
    with pytest.raises(InvalidRecord, match="unexpected field 'metadata' \\(schema version 1\\)"):
        records.validate({**record, "schema_version": 1, "country": "GB"})
    with pytest.raises(InvalidRecord, match="missing field 'station_id'"):
        records.parse(records.encode(v1))
