"""city_stats, hourly_trends and diurnal_profile on small inline DataFrames.

Expected rows are worked out by hand for a few figures, and for the rest by the plain
Python in tests/batch/reference.py; Spark's real output is compared with
assertDataFrameEqual.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from pyspark.testing import assertDataFrameEqual

from tests.batch import reference, weather
from weatherlake.batch import city_stats, diurnal_profile, hourly_trends

pytestmark = pytest.mark.spark

UTC = weather.UTC


def obs(city_id, city, ts, temperature, humidity=50.0, pressure=1000.0, wind_speed=1.0, rainfall=0.0):
    return {"city_id": city_id, "city": city, "ts": ts, "temperature": temperature, "humidity": humidity,
            "pressure": pressure, "wind_speed": wind_speed, "rainfall": rainfall}


# 2026-01-31 is a Saturday, 02-01 a Sunday (both ISO week of Monday 01-26), 02-02 a Monday.
SMALL = [
    obs("alpha-gb", "Alpha", datetime(2026, 1, 31, 22, tzinfo=UTC), 1.0, 80.0, 1000.0, 2.0, 0.5),
    obs("alpha-gb", "Alpha", datetime(2026, 1, 31, 23, 30, tzinfo=UTC), 3.0, 90.0, 1002.0, 4.0, 0.0),
    obs("alpha-gb", "Alpha", datetime(2026, 2, 1, 1, tzinfo=UTC), 5.0, 70.0, 1004.0, 6.0, 1.0),
    obs("alpha-gb", "Alpha", datetime(2026, 2, 2, 12, tzinfo=UTC), 7.0, 60.0, 1006.0, 8.0, 0.0),
    obs("beta-fr", "Beta", datetime(2026, 2, 2, 0, tzinfo=UTC), -2.0, 40.0, 1020.0, 0.0, 0.0),
]


@pytest.fixture
def small(spark):
    return spark.createDataFrame(weather.spark_rows(SMALL), weather.OBSERVATION_SCHEMA)


def frame_like(spark, actual, rows):
    return spark.createDataFrame([tuple(r.get(c) for c in actual.columns) for r in rows], actual.schema)


def test_city_stats_whole_window_by_hand(small):
    rows = {(r["city_id"], r["period"], r["period_start"]): r for r in city_stats.transform(small).collect()}
    alpha = rows[("alpha-gb", None, None)]
    # 1, 3, 5, 7: mean 4, sample variance (9 + 1 + 1 + 9) / 3.
    assert alpha["record_count"] == 4
    assert alpha["avg_temperature"] == 4.0
    assert (alpha["min_temperature"], alpha["max_temperature"]) == (1.0, 7.0)
    assert alpha["stddev_temperature"] == round((20 / 3) ** 0.5, 4) == 2.582
    assert (alpha["avg_humidity"], alpha["avg_wind_speed"], alpha["avg_pressure"]) == (75.0, 5.0, 1003.0)
    assert alpha["total_rainfall"] == 1.5
    assert (alpha["first_timestamp"], alpha["last_timestamp"]) == ("2026-01-31T22:00:00Z", "2026-02-02T12:00:00Z")
    beta = rows[("beta-fr", None, None)]
    assert beta["record_count"] == 1 and beta["stddev_temperature"] is None
    # Periods: two days in January's last week, then Monday starts a new week and February a month.
    assert rows[("alpha-gb", "week", "2026-01-26")]["record_count"] == 3
    assert rows[("alpha-gb", "week", "2026-02-02")]["record_count"] == 1
    assert rows[("alpha-gb", "month", "2026-01-01")]["avg_temperature"] == 2.0
    assert rows[("alpha-gb", "month", "2026-02-01")]["avg_temperature"] == 6.0
    assert rows[("alpha-gb", "day", "2026-01-31")]["total_rainfall"] == 0.5
    assert len(rows) == 1 + 3 + 2 + 2 + 1 + 1 + 1 + 1  # alpha: all, 3 days, 2 weeks, 2 months; beta: 4


def test_city_stats_against_plain_python(spark):
    rows = list(weather.observations(weather.cities(3), datetime(2026, 2, 20, tzinfo=UTC), 24 * 20, seed=5))
    actual = city_stats.transform(spark.createDataFrame(weather.spark_rows(rows), weather.OBSERVATION_SCHEMA))
    assert actual.columns == list(city_stats.COLUMNS)
    assertDataFrameEqual(actual, frame_like(spark, actual, reference.city_stats(rows)), atol=1e-4)


def test_hourly_trends_by_hand(spark):
    t = datetime(2026, 5, 1, 0, tzinfo=UTC)
    rows = [
        obs("alpha-gb", "Alpha", t, 10.0, rainfall=0.2),
        obs("alpha-gb", "Alpha", t + timedelta(minutes=30), 12.0, rainfall=0.3),  # same clock hour
        obs("alpha-gb", "Alpha", t + timedelta(hours=1), 20.0),
        obs("alpha-gb", "Alpha", t + timedelta(hours=24), 30.0),  # 23 h after 01:00: 01:00 still in its window
        obs("alpha-gb", "Alpha", t + timedelta(hours=25), 40.0),  # 00:00's hour has left the window
    ]
    actual = hourly_trends.transform(spark.createDataFrame(weather.spark_rows(rows), weather.OBSERVATION_SCHEMA))
    got = {r["hour"]: r for r in actual.collect()}
    first = got["2026-05-01T00:00:00Z"]
    assert (first["record_count"], first["avg_temperature"], first["total_rainfall"]) == (2, 11.0, 0.5)
    assert (first["min_temperature"], first["max_temperature"]) == (10.0, 12.0)
    rolling = {hour: (r["rolling_24h_avg_temperature"], r["rolling_24h_record_count"]) for hour, r in got.items()}
    assert rolling == {
        "2026-05-01T00:00:00Z": (11.0, 2),
        "2026-05-01T01:00:00Z": (14.0, 3),  # (10 + 12 + 20) / 3
        "2026-05-02T00:00:00Z": (25.0, 2),  # 00:00 on May 1 is 24 h back, out: (20 + 30) / 2
        "2026-05-02T01:00:00Z": (35.0, 2),  # (30 + 40) / 2
    }


def test_hourly_trends_against_plain_python(spark):
    start = datetime(2026, 2, 20, tzinfo=UTC)
    rows = list(weather.observations(weather.cities(3), start, 24 * 6, seed=6))
    # Gaps and a busier hour, so the rolling window is not just "the last 24 rows".
    rows = [r for i, r in enumerate(rows) if i % 17 not in (3, 4, 5)]
    rows += [dict(rows[10], ts=rows[10]["ts"] + timedelta(minutes=25), temperature=rows[10]["temperature"] + 1.0)]
    actual = hourly_trends.transform(spark.createDataFrame(weather.spark_rows(rows), weather.OBSERVATION_SCHEMA))
    assertDataFrameEqual(actual, frame_like(spark, actual, reference.hourly_trends(rows)), atol=1e-4)


def test_diurnal_profile_against_plain_python(spark, small):
    actual = diurnal_profile.transform(small)
    got = {(r["city_id"], r["hour_of_day"]): r["record_count"] for r in actual.collect()}
    assert got == {("alpha-gb", 22): 1, ("alpha-gb", 23): 1, ("alpha-gb", 1): 1, ("alpha-gb", 12): 1, ("beta-fr", 0): 1}
    rows = list(weather.observations(weather.cities(2), datetime(2026, 2, 20, tzinfo=UTC), 24 * 9, seed=7))
    actual = diurnal_profile.transform(spark.createDataFrame(weather.spark_rows(rows), weather.OBSERVATION_SCHEMA))
    assertDataFrameEqual(actual, frame_like(spark, actual, reference.diurnal_profile(rows)), atol=1e-4)
    # Longer than CYCLE_DAYS: the cycle comes from each city's newest 56 days only.
    rows = list(weather.observations(weather.cities(1), datetime(2026, 1, 1, tzinfo=UTC), 24 * 70, seed=8))
    actual = diurnal_profile.transform(spark.createDataFrame(weather.spark_rows(rows), weather.OBSERVATION_SCHEMA))
    assertDataFrameEqual(actual, frame_like(spark, actual, reference.diurnal_profile(rows)), atol=1e-4)
