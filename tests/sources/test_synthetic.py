"""Synthetic weather: deterministic, plausible, and anomalies exactly where injected."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from weatherlake import records
from weatherlake.cities import catalogue, resolve
from weatherlake.errors import ConfigError
from weatherlake.sources import Anomaly, SyntheticSource

START = datetime(2026, 1, 1, tzinfo=UTC)


def strip(record: dict) -> dict:
    """A record without the one field that says when it was built."""
    return {key: value for key, value in record.items() if key != "ingested_at"}


@pytest.fixture(scope="module")
def year_of_weather():
    """One year, hourly, for cities in both hemispheres and several climates."""
    cities = resolve(["london-gb", "sydney-au", "singapore-sg", "moscow-ru", "phoenix-us", "buenos-aires-ar"])
    got = defaultdict(list)
    for record in SyntheticSource(seed=42).history(cities, START, START + timedelta(days=365)):
        got[record["city_id"]].append(record)
    return got


def test_same_seed_same_records_different_seed_different_records(three_cities):
    end = START + timedelta(days=2)
    first = [strip(r) for r in SyntheticSource(seed=7).history(three_cities, START, end)]
    again = [strip(r) for r in SyntheticSource(seed=7).history(three_cities, START, end)]
    other = [strip(r) for r in SyntheticSource(seed=8).history(three_cities, START, end)]
    assert len(first) == 144
    assert first == again
    differing = sum(a["temperature"] != b["temperature"] for a, b in zip(first, other, strict=True))
    assert differing > 130
    assert [r["timestamp"] for r in first] == [r["timestamp"] for r in other]


def test_values_do_not_depend_on_the_process_hash_seed():
    script = (
        "from datetime import datetime, timezone;"
        "from weatherlake.cities import resolve;"
        "from weatherlake.sources import SyntheticSource;"
        "r = SyntheticSource(3).observe(resolve(['tokyo-jp'])[0], datetime(2026, 5, 1, 12, tzinfo=timezone.utc));"
        "print(r['temperature'], r['humidity'], r['pressure'], r['rainfall'])"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1


def test_history_current_and_observe_agree_about_a_moment(three_cities):
    moment = datetime(2026, 11, 23, 14, tzinfo=UTC)
    source = SyntheticSource(seed=42, clock=lambda: moment + timedelta(seconds=42))
    current = source.current(three_cities)
    history = list(source.history(three_cities, moment, moment + timedelta(hours=1)))
    single = [source.observe(city, moment) for city in three_cities]
    assert [strip(r) for r in current] == [strip(r) for r in history] == [strip(r) for r in single]
    assert current[0]["timestamp"] == "2026-11-23T14:00:00Z"
    # history in a different chunking or city order gives the same values (no hidden state)
    longer = [
        strip(r)
        for r in SyntheticSource(42).history(
            three_cities[::-1], moment - timedelta(days=3), moment + timedelta(hours=1)
        )
    ]
    assert longer[-3:] == [strip(r) for r in history][::-1]


def test_current_uses_the_current_minute():
    source = SyntheticSource(seed=1, clock=lambda: datetime(2026, 3, 1, 8, 17, 45, 999, tzinfo=UTC))
    [record] = source.current(resolve(["dubai-ae"]))
    assert record["timestamp"] == "2026-03-01T08:17:00Z"
    assert record["source"] == "synthetic"


def test_history_steps_and_bounds(london):
    source = SyntheticSource()
    stamps = [
        r["timestamp"]
        for r in source.history([london], datetime(2026, 1, 1, 0, 10, tzinfo=UTC), datetime(2026, 1, 1, 3, tzinfo=UTC))
    ]
    assert stamps == ["2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"]
    half = [
        r["timestamp"][11:16]
        for r in source.history([london], START, START + timedelta(hours=2), step=timedelta(minutes=30))
    ]
    assert half == ["00:00", "00:30", "01:00", "01:30"]
    assert list(source.history([london], START, START)) == []


def test_every_record_validates(year_of_weather):
    for rows in year_of_weather.values():
        for record in rows:
            records.validate(record)


def test_the_whole_catalogue_validates_for_a_month():
    cities = list(catalogue().values())
    for record in SyntheticSource(seed=9).history(
        cities, datetime(2026, 7, 1, tzinfo=UTC), datetime(2026, 8, 1, tzinfo=UTC)
    ):
        records.validate(record)


def local_solar_hour(record: dict) -> int:
    utc_hour = int(record["timestamp"][11:13])
    return round(utc_hour + record["longitude"] / 15) % 24


def test_the_day_peaks_in_the_afternoon_and_bottoms_out_at_night(year_of_weather):
    for city_id, rows in year_of_weather.items():
        by_hour = defaultdict(list)
        for record in rows:
            by_hour[local_solar_hour(record)].append(record["temperature"])
        means = {hour: statistics.fmean(values) for hour, values in by_hour.items()}
        warmest = max(means, key=means.get)
        coldest = min(means, key=means.get)
        assert 13 <= warmest <= 17, city_id
        assert coldest <= 6 or coldest >= 23, city_id


def month_mean(rows: list[dict], month: int) -> float:
    return statistics.fmean(r["temperature"] for r in rows if int(r["timestamp"][5:7]) == month)


def test_seasons_are_reversed_south_of_the_equator(year_of_weather):
    for north in ("london-gb", "moscow-ru", "phoenix-us"):
        assert month_mean(year_of_weather[north], 7) - month_mean(year_of_weather[north], 1) > 8, north
    for south in ("sydney-au", "buenos-aires-ar"):
        assert month_mean(year_of_weather[south], 1) - month_mean(year_of_weather[south], 7) > 5, south
    singapore = year_of_weather["singapore-sg"]
    assert abs(month_mean(singapore, 1) - month_mean(singapore, 7)) < 3


def test_climates_differ_as_they_should(year_of_weather):
    mean = {city: statistics.fmean(r["temperature"] for r in rows) for city, rows in year_of_weather.items()}
    assert mean["singapore-sg"] > mean["sydney-au"] > mean["london-gb"] > mean["moscow-ru"]
    for city_id, rows in year_of_weather.items():
        expected = catalogue()[city_id].climate
        assert mean[city_id] == pytest.approx(expected.annual_mean_c, abs=1.5), city_id
        rainy = sum(r["rainfall"] > 0 for r in rows) / len(rows)
        assert rainy <= 2 * expected.rain_hours_fraction + 0.01, city_id
        humidity = statistics.fmean(r["humidity"] for r in rows)
        assert humidity == pytest.approx(expected.mean_humidity, abs=8), city_id
        wind = statistics.fmean(r["wind_speed"] for r in rows)
        assert wind == pytest.approx(expected.mean_wind_ms, rel=0.25), city_id
    phoenix = year_of_weather["phoenix-us"]
    assert sum(r["rainfall"] > 0 for r in phoenix) < sum(r["rainfall"] > 0 for r in year_of_weather["london-gb"]) / 4


def test_weather_comes_in_spells_lasting_days(year_of_weather):
    london = year_of_weather["london-gb"]
    daily = [statistics.fmean(r["temperature"] for r in london[day * 24 : day * 24 + 24]) for day in range(365)]
    # Day-to-day anomalies (against a 31-day running mean) persist: autocorrelation at one day.
    anomalies = []
    for day in range(15, 350):
        anomalies.append(daily[day] - statistics.fmean(daily[day - 15 : day + 16]))
    lag1 = statistics.correlation(anomalies[:-1], anomalies[1:])
    assert lag1 > 0.5
    assert max(anomalies) > 3 and min(anomalies) < -3  # warm and cold spells of several degrees


def test_humidity_falls_as_the_day_warms_and_pressure_swings_with_fronts(year_of_weather):
    london = year_of_weather["london-gb"]
    # Within each day, hourly deviations from the day's mean are anti-correlated.
    temperature_dev, humidity_dev = [], []
    for day in range(365):
        rows = london[day * 24 : day * 24 + 24]
        t_mean = statistics.fmean(r["temperature"] for r in rows)
        h_mean = statistics.fmean(r["humidity"] for r in rows)
        temperature_dev += [r["temperature"] - t_mean for r in rows]
        humidity_dev += [r["humidity"] - h_mean for r in rows]
    assert statistics.correlation(temperature_dev, humidity_dev) < -0.4
    pressures = [r["pressure"] for r in london]
    assert max(pressures) - min(pressures) > 25  # mid-latitude lows and highs
    tropical = [r["pressure"] for r in year_of_weather["singapore-sg"]]
    assert max(tropical) - min(tropical) < max(pressures) - min(pressures)
    rainy = [r for r in london if r["rainfall"] > 0]
    dry = [r for r in london if r["rainfall"] == 0]
    assert statistics.fmean(r["cloudiness"] for r in rainy) > statistics.fmean(r["cloudiness"] for r in dry) + 20
    assert statistics.fmean(r["pressure"] for r in rainy) < statistics.fmean(r["pressure"] for r in dry)
    assert {r["weather_main"] for r in rainy} <= {"Rain"}


def test_an_anomaly_changes_exactly_the_named_hour_and_metric(three_cities):
    hour = datetime(2026, 2, 3, 4, tzinfo=UTC)
    anomaly = Anomaly("tokyo-jp", hour, "temperature", 15.0)
    start, end = hour - timedelta(hours=6), hour + timedelta(hours=6)
    plain = list(SyntheticSource(seed=5).history(three_cities, start, end))
    injected = list(SyntheticSource(seed=5, anomalies=[anomaly]).history(three_cities, start, end))
    changed = [(a, b) for a, b in zip(plain, injected, strict=True) if strip(a) != strip(b)]
    assert len(changed) == 1
    before, after = changed[0]
    assert (after["city_id"], after["timestamp"]) == ("tokyo-jp", "2026-02-03T04:00:00Z")
    assert after["temperature"] == pytest.approx(before["temperature"] + 15.0, abs=0.011)
    unchanged = ("humidity", "pressure", "wind_speed", "wind_direction", "cloudiness", "rainfall")
    assert all(after[metric] == before[metric] for metric in unchanged)
    assert after["dew_point"] != before["dew_point"]  # derived metrics follow the new temperature


@pytest.mark.parametrize(
    ("metric", "delta"), [("humidity", -30.0), ("pressure", -40.0), ("wind_speed", 25.0), ("rainfall", 12.0)]
)
def test_anomalies_on_other_metrics_and_within_the_hour(london, metric, delta):
    hour = datetime(2026, 6, 1, 12, tzinfo=UTC)
    plain = SyntheticSource(seed=2)
    injected = SyntheticSource(seed=2, anomalies=[Anomaly("london-gb", hour + timedelta(minutes=40), metric, delta)])
    for minutes, hit in ((0, True), (59, True), (60, False), (-1, False)):
        moment = hour + timedelta(minutes=minutes)
        a, b = plain.observe(london, moment), injected.observe(london, moment)
        if hit:
            assert b[metric] == pytest.approx(a[metric] + delta, abs=0.011)
        else:
            assert strip(a) == strip(b)


def test_an_anomaly_may_push_a_record_out_of_range_on_purpose(london):
    hour = datetime(2026, 6, 1, 12, tzinfo=UTC)
    source = SyntheticSource(anomalies=[Anomaly("london-gb", hour, "humidity", 200.0)])
    record = source.observe(london, hour)
    assert record["humidity"] > 100
    with pytest.raises(records.InvalidRecord, match="humidity"):
        records.validate(record)


def test_an_anomaly_on_an_unknown_metric_is_refused():
    with pytest.raises(ConfigError, match="anomaly metric must be one of temperature"):
        Anomaly("london-gb", START, "visibility", 1.0)
