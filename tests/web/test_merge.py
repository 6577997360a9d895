"""The merge at the cutoff, as pure functions: batch rows up to it + speed aggregates after it.

The expected values are the views computed over *all* the records by tests/web/reference.py,
which shares no code with the merge: batch(<= cutoff) merged with speed(> cutoff) must
equal the view of everything, hour by hour and statistic by statistic.
"""

from __future__ import annotations

import pytest

from tests.web import data, reference
from weatherlake.speed.state import SpeedState
from weatherlake.web import merge

CITY = "london-gb"
FIELDS = ("record_count", "avg_temperature", "min_temperature", "max_temperature", "avg_humidity", "avg_pressure",
          "avg_wind_speed", "total_rainfall", "rolling_24h_avg_temperature", "rolling_24h_record_count")
STATS_FIELDS = ("record_count", "avg_temperature", "min_temperature", "max_temperature", "stddev_temperature",
                "avg_humidity", "avg_wind_speed", "total_rainfall", "avg_pressure", "first_timestamp", "last_timestamp")


def one_city(rows):
    return [r for r in rows if r["city_id"] == CITY]


def speed_hours(records, cutoff):
    state = SpeedState(cutoff)
    for record in records:
        state.apply(record)
    return state.to_snapshot().get(CITY, {}).get("hours", [])


def assert_rows_match(actual, expected, fields=FIELDS):
    assert [r["hour"] for r in actual] == [r["hour"] for r in expected]
    for got, want in zip(actual, expected, strict=True):
        for field in fields:
            assert reference.close(got[field], want[field]), (got["hour"], field, got[field], want[field])


@pytest.fixture
def records():
    return one_city(data.observations(hours=30, per_hour=3))


def test_batch_only_hours_are_the_batch_rows(records):
    cutoff = "2026-11-21T05:21:00Z"
    batch = reference.hourly_trends(data.before(records, cutoff))
    merged = merge.merge_hourly(batch, [], cutoff, None, city_id=CITY, city="London")
    assert_rows_match(merged, batch)
    assert {r["layer"] for r in merged} == {"batch"}


def test_speed_only_when_nothing_was_published(records):
    merged = merge.merge_hourly([], speed_hours(records, None), None, None, city_id=CITY, city="London")
    assert_rows_match(merged, reference.hourly_trends(records))
    assert {r["layer"] for r in merged} == {"speed"}


def test_the_cutoff_hour_combines_both_sides_and_equals_the_whole(records):
    cutoff = "2026-11-21T05:21:00Z"  # between the :01 and :41 records of 05:00 (the :21 one is at the cutoff)
    batch = reference.hourly_trends(data.before(records, cutoff))
    live = speed_hours(data.after(records, cutoff), cutoff)
    merged = merge.merge_hourly(batch, live, cutoff, cutoff, city_id=CITY, city="London")

    assert_rows_match(merged, reference.hourly_trends(records))
    by_hour = {r["hour"]: r for r in merged}
    assert by_hour["2026-11-21T05:00:00Z"]["layer"] == "merged"
    in_hour = [r for r in records if r["timestamp"].startswith("2026-11-21T05")]
    assert len(data.before(in_hour, cutoff)) == 1 and len(data.after(in_hour, cutoff)) == 2  # :21.5 is after it
    assert by_hour["2026-11-21T05:00:00Z"]["record_count"] == 3
    assert by_hour["2026-11-21T04:00:00Z"]["layer"] == "batch"
    assert by_hour["2026-11-21T05:00:00Z"]["rolling_24h_record_count"] == 72


def test_a_cutoff_on_the_hour_needs_no_combining(records):
    cutoff = "2026-11-20T23:59:59Z"
    batch = reference.hourly_trends(data.before(records, cutoff))
    live = speed_hours(data.after(records, cutoff), cutoff)
    merged = merge.merge_hourly(batch, live, cutoff, cutoff, city_id=CITY, city="London")
    assert_rows_match(merged, reference.hourly_trends(records))
    assert {r["layer"] for r in merged if r["hour"] >= "2026-11-21"} == {"speed"}


def test_speed_still_on_an_older_cutoff_counts_nothing_twice(records):
    old, new = "2026-11-21T02:21:00Z", "2026-11-21T05:21:00Z"
    batch = reference.hourly_trends(data.before(records, new))
    live = speed_hours(data.after(records, old), old)  # the speed layer has not caught up with the new run
    merged = merge.merge_hourly(batch, live, new, old, city_id=CITY, city="London")
    whole = {r["hour"]: r for r in reference.hourly_trends(records)}
    for row in merged:
        if row["hour"] < "2026-11-21T05:00:00Z" or row["hour"] > "2026-11-21T05:00:00Z":
            assert row["record_count"] == whole[row["hour"]]["record_count"], row["hour"]
    # The cutoff's hour shows only the batch's part until the speed layer catches up.
    in_hour = [r for r in records if r["timestamp"].startswith("2026-11-21T05")]
    assert {r["hour"]: r["record_count"] for r in merged}["2026-11-21T05:00:00Z"] == len(data.before(in_hour, new))


def test_speed_ahead_of_the_loaded_batch_leaves_a_gap_not_a_double(records):
    old, new = "2026-11-21T02:21:00Z", "2026-11-21T05:21:00Z"
    batch = reference.hourly_trends(data.before(records, old))
    live = speed_hours(data.after(records, new), new)
    merged = {r["hour"]: r for r in merge.merge_hourly(batch, live, old, new, city_id=CITY, city="London")}
    assert "2026-11-21T03:00:00Z" not in merged and "2026-11-21T04:00:00Z" not in merged
    in_hour = [r for r in records if r["timestamp"].startswith("2026-11-21T05")]
    assert merged["2026-11-21T05:00:00Z"]["record_count"] == len(data.after(in_hour, new)) == 2
    in_hour = [r for r in records if r["timestamp"].startswith("2026-11-21T02")]
    assert merged["2026-11-21T02:00:00Z"]["record_count"] == len(data.before(in_hour, old)) == 1


def test_whole_window_and_period_statistics_merge_exactly(records):
    cutoff = "2026-11-21T05:21:00Z"
    before = reference.city_stats(data.before(records, cutoff))
    whole = reference.city_stats(records)
    live = speed_hours(data.after(records, cutoff), cutoff)

    batch_row = next(r for r in before if "period" not in r)
    merged = merge.merge_city_stats(batch_row, live, cutoff, cutoff, city_id=CITY, city="London")
    expected = next(r for r in whole if "period" not in r)
    for field in STATS_FIELDS:
        assert reference.close(merged[field], expected[field]), (field, merged[field], expected[field])
    assert merged["layer"] == "merged"

    for period in ("day", "week", "month"):
        rows = merge.merge_period_stats([r for r in before if r.get("period") == period], live, cutoff, cutoff,
                                        period=period, city_id=CITY, city="London")
        wanted = sorted((r for r in whole if r.get("period") == period), key=lambda r: r["period_start"], reverse=True)
        assert [r["period_start"] for r in rows] == [r["period_start"] for r in wanted]
        for got, want in zip(rows, wanted, strict=True):
            for field in STATS_FIELDS:
                assert reference.close(got[field], want[field]), (period, got["period_start"], field)


def test_statistics_from_the_speed_layer_alone():
    records = one_city(data.observations(hours=2, per_hour=3))
    row = merge.merge_city_stats(None, speed_hours(records, None), None, None, city_id=CITY, city="London")
    expected = reference.city_stats(records)[0]
    for field in STATS_FIELDS:
        assert reference.close(row[field], expected[field]), field
    assert row["layer"] == "speed"


def test_a_single_record_has_no_standard_deviation():
    records = one_city(data.observations(hours=1, per_hour=1))
    row = merge.merge_city_stats(None, speed_hours(records, None), None, None, city_id=CITY, city="London")
    assert row["record_count"] == 1 and row["stddev_temperature"] is None


def test_anomalies_come_from_both_sides_of_the_cutoff():
    batch = [{"city_id": CITY, "timestamp": "2026-11-21T01:00:00Z", "metric": "temperature"}]
    live = [
        {"city_id": CITY, "timestamp": "2026-11-21T05:00:00Z", "metric": "temperature"},  # before the cutoff
        {"city_id": CITY, "timestamp": "2026-11-21T06:30:00.5Z", "metric": "humidity"},
        {"city_id": CITY, "timestamp": "2026-11-21T06:30:00Z", "metric": "pressure"},
    ]
    rows = merge.merge_anomalies(batch, live, "2026-11-21T05:21:00Z", "2026-11-21T02:00:00Z")
    assert [(r["metric"], r["layer"]) for r in rows] == [
        ("humidity", "speed"), ("pressure", "speed"), ("temperature", "batch")]
    injected = frozenset({(CITY, "2026-11-21T06:00:00Z", "humidity"), (CITY, "2026-11-21T01:00:00Z", "humidity")})
    rows = merge.merge_anomalies(batch, live, "2026-11-21T05:21:00Z", "2026-11-21T02:00:00Z", injected)
    assert [(r["metric"], r.get("injected", False)) for r in rows] == [
        ("humidity", True), ("pressure", False), ("temperature", False)]


def test_current_conditions_prefer_the_live_observation():
    latest = data.observation(CITY, data.START, 1)
    assert merge.current_conditions(latest, {"hour": "x"})["layer"] == "speed"
    assert merge.current_conditions(latest, None)["source"] == "synthetic"  # the provider stays the provider
    hour = {"city_id": CITY, "city": "London", "hour": "2026-11-21T05:00:00Z", "avg_temperature": 9.5,
            "avg_humidity": 70.0, "avg_pressure": 1010.0, "avg_wind_speed": 3.0, "total_rainfall": 0.4}
    row = merge.current_conditions(None, hour)
    assert row == {"city_id": CITY, "city": "London", "timestamp": "2026-11-21T05:00:00Z", "temperature": 9.5,
                   "humidity": 70.0, "pressure": 1010.0, "wind_speed": 3.0, "rainfall": 0.4, "layer": "batch"}
    assert merge.current_conditions(None, None) is None


@pytest.mark.parametrize(
    ("hour", "period", "start"),
    [("2026-11-23T05:00:00Z", "day", "2026-11-23"), ("2026-11-23T05:00:00Z", "week", "2026-11-23"),
     ("2026-11-22T23:00:00Z", "week", "2026-11-16"), ("2026-11-22T23:00:00Z", "month", "2026-11-01")],
)
def test_period_start(hour, period, start):
    assert merge.period_start(hour, period) == start
