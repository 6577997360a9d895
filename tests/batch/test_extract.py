"""Extract: which files are read, and how every raw line is classified."""

from __future__ import annotations

import calendar
import json
import math
from datetime import UTC, datetime

import pytest
from pyspark.testing import assertDataFrameEqual

from weatherlake.batch import extract

pytestmark = pytest.mark.spark


def record(city_id="oslo-no", ts="2026-11-23T10:00:00Z", ingested="2026-11-23T10:00:05Z", **values) -> dict:
    base = {
        "schema_version": 1,
        "city_id": city_id,
        "city": city_id.split("-")[0].title(),
        "country": "NO",
        "latitude": 59.9,
        "longitude": 10.7,
        "timestamp": ts,
        "ingested_at": ingested,
        "source": "synthetic",
        "temperature": 1.5,
        "feels_like": 0.0,
        "humidity": 80.0,
        "pressure": 1010.0,
        "wind_speed": 3.0,
        "wind_direction": None,
        "cloudiness": None,
        "rainfall": 0.0,
        "weather_main": None,
        "weather_description": None,
        "dew_point": None,
        "heat_index": None,
        "wind_chill": None,
    }
    base.update(values)
    return base


def write_lines(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))


@pytest.mark.parametrize(
    "date_from, date_to, expected",
    [
        (None, None, ["date=2026-11-21", "date=2026-11-22", "date=2026-11-23"]),
        ("2026-11-22", None, ["date=2026-11-22", "date=2026-11-23"]),
        (None, "2026-11-21", ["date=2026-11-21"]),
        ("2026-11-22", "2026-11-22", ["date=2026-11-22"]),
        ("2026-12-01", None, []),
    ],
)
def test_only_date_directories_in_the_window_are_selected(date_from, date_to, expected):
    names = ["_tmp", "_state", "date=2026-11-23", "date=2026-11-21", "date=2026-11-22", "notes.txt", "date=junk"]
    assert extract.select_dates(names, date_from, date_to) == expected


def test_every_line_lands_in_exactly_one_bucket(spark, tmp_path):
    raw = tmp_path / "raw"
    good = record()
    station = {k: v for k, v in record(city_id="station-ws-1", city="Roof", ts="2026-11-23T09:00:00Z").items()
               if k != "country"} | {"schema_version": 2, "station_id": "ws-1", "sender": "mqtt", "metadata": {"a": 1}}
    replay_older = record(ingested="2026-11-23T10:00:01Z", temperature=1.0)  # the same hour, ingested earlier
    write_lines(
        raw / "date=2026-11-23" / "weather.observations+0+0000000000+0000000009.jsonl",
        [
            json.dumps(good),
            json.dumps(record(ts="2026-11-23T11:00:00Z", temperature=2.5)),
            '{"city_id": "oslo-no", "timestamp": ',  # truncated line
            "not json at all",
            "[1, 2, 3]",
            json.dumps(record(temperature="warm")),  # wrong type
            json.dumps({k: v for k, v in record().items() if k != "pressure"}),  # missing field
            json.dumps(record(schema_version=3)),
            json.dumps(station),
            json.dumps(record(ts="yesterday")),
            json.dumps(record(ts="2026-11-23T12:00:00Z", humidity=140.0)),  # impossible
        ],
    )
    write_lines(
        raw / "date=2026-11-23" / "weather.observations+1+0000000000+0000000001.jsonl",
        [json.dumps(replay_older), json.dumps(record(ts="2026-11-23T12:00:00Z", wind_speed=-1.0))],
    )
    # Never read: another day outside the window, in-progress files, state, non-.jsonl names.
    write_lines(raw / "date=2026-11-22" / "weather.observations+0+0000000010+0000000010.jsonl", [json.dumps(record())])
    write_lines(raw / "_tmp" / "weather.observations+0+0000000011+0000000011.jsonl", ["garbage"])
    write_lines(raw / "_state" / "weather.observations+0.json", ['{"next_offset": 12}'])
    write_lines(raw / "date=2026-11-23" / "notes.txt", ["garbage"])

    dates = extract.select_dates(sorted(p.name for p in raw.iterdir()), "2026-11-23", "2026-11-23")
    tagged = extract.tag(extract.read_raw(spark, raw.as_uri(), dates), partitions=2)
    stats = extract.input_stats(tagged, dates=len(dates))

    assert stats == extract.InputStats(
        dates=1, records=13, accepted=3, malformed=7, impossible=2, duplicates=1, cutoff="2026-11-23T11:00:00Z"
    )
    assert stats.rejected == 9
    expected = [
        # The later ingestion wins between the two copies of 10:00.
        ("oslo-no", "Oslo", datetime(2026, 11, 23, 10, tzinfo=UTC), 1.5, 80.0, 1010.0, 3.0, 0.0),
        ("oslo-no", "Oslo", datetime(2026, 11, 23, 11, tzinfo=UTC), 2.5, 80.0, 1010.0, 3.0, 0.0),
        # A station's reading (schema v2) is an observation like any other.
        ("station-ws-1", "Roof", datetime(2026, 11, 23, 9, tzinfo=UTC), 1.5, 80.0, 1010.0, 3.0, 0.0),
    ]
    actual = extract.observations(tagged).drop("hour_index")
    assertDataFrameEqual(actual, spark.createDataFrame(expected, actual.schema))


def test_duplicates_resolve_the_same_way_whatever_the_file_order(spark, tmp_path):
    copies = [record(ingested="2026-11-23T10:00:05Z", temperature=t) for t in (3.0, 1.0, 2.0)]
    results = set()
    for order in ([0, 1, 2], [2, 1, 0], [1, 2, 0]):
        raw = tmp_path / f"order{order[0]}{order[1]}" / "raw"
        for i, index in enumerate(order):
            write_lines(raw / "date=2026-11-23" / f"weather.observations+{i}+0000000000+0000000000.jsonl",
                        [json.dumps(copies[index])])
        tagged = extract.tag(extract.read_raw(spark, raw.as_uri(), ["date=2026-11-23"]), partitions=2)
        results.add(tuple(extract.observations(tagged).select("temperature").first()))
        assert extract.input_stats(tagged, 1).duplicates == 2
    # Same ingestion time: ties are broken by the values, never by file or task order.
    assert results == {(1.0,)}


def test_timestamps_become_utc_hours_and_iso_text(spark):
    frame = spark.createDataFrame([("2026-11-23T10:59:59.250000Z",), ("2026-11-23T11:00:00Z",)], "timestamp string")
    got = frame.select(
        extract.hour_index(frame.timestamp.try_cast("timestamp")).alias("h"),
        extract.iso_utc(frame.timestamp.try_cast("timestamp")).alias("iso"),
    ).collect()
    ten_o_clock = calendar.timegm((2026, 11, 23, 10, 0, 0)) // 3600
    assert [(r["h"], r["iso"]) for r in got] == [
        (ten_o_clock, "2026-11-23T10:59:59.250000Z"),
        (ten_o_clock + 1, "2026-11-23T11:00:00Z"),
    ]


def test_plausible_ranges_match_what_ingest_accepts():
    from weatherlake import records
    from weatherlake.errors import InvalidRecord

    for field, (low, high) in extract.PLAUSIBLE.items():
        for value in (low, high):
            records.validate(record(**{field: value}))
        step = 0.01
        for value in (low - step, high + step):
            with pytest.raises(InvalidRecord):
                records.validate(record(**{field: value}))


def test_round_half_up_rounds_like_the_published_figures(spark):
    values = [1.23456, 1.23454, 2.5, -2.5, -1.23456, 1013.25, -0.00001, None]
    frame = spark.createDataFrame([(v,) for v in values], "x double")
    rows = frame.select(extract.round_half_up("x", 4).alias("four"), extract.round_half_up("x", 0).alias("whole")).collect()
    assert [row["four"] for row in rows] == [1.2346, 1.2345, 2.5, -2.5, -1.2346, 1013.25, 0.0, None]
    assert [row["whole"] for row in rows] == [1.0, 1.0, 3.0, -2.0, -1.0, 1013.0, 0.0, None]
    # Never a negative zero ("-0.0" in the JSON) for a small negative value.
    assert math.copysign(1.0, rows[6]["four"]) == 1.0


def test_city_names_give_one_name_per_city(spark):
    frame = spark.createDataFrame(
        [("oslo-no", "Oslo"), ("oslo-no", "Oslo"), ("bergen-no", "Bergen"), ("bergen-no", "Bjørgvin")],
        "city_id string, city string",
    )
    names = {row["city_id"]: row["city"] for row in extract.city_names(frame).collect()}
    assert names == {"oslo-no": "Oslo", "bergen-no": "Bjørgvin"}
