"""The anomalies transform: hand-worked cases, then realistic weather with known anomalies."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest
from pyspark.sql import DataFrame, Row, Window
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from tests.batch import weather
from weatherlake.batch import anomalies
from weatherlake.batch.extract import METRICS, iso_utc, round_half_up

pytestmark = pytest.mark.spark

T0 = datetime(2026, 3, 1, tzinfo=weather.UTC)


def obs_frame(spark, rows):
    return spark.createDataFrame(weather.spark_rows(rows), weather.OBSERVATION_SCHEMA)


def flat_city(hours: int, temperature=lambda i: 10.0, city_id="flat-gb", frozen: bool = False):
    """Steady weather: every MAD but humidity's is 0, so the guarded floors set the scale.
    Humidity wiggles by 0.1 % (far below its floor), as a working sensor's last digit does;
    ``frozen``: it does not, and a steady temperature makes every reading the same."""
    for i in range(hours):
        yield {
            "city_id": city_id,
            "city": "Flat",
            "ts": T0 + timedelta(hours=i),
            "temperature": temperature(i),
            "humidity": 70.0 if frozen else 70.0 + 0.1 * (i % 2),
            "pressure": 1010.0,
            "wind_speed": 3.0,
            "rainfall": 0.0,
        }


def test_a_spike_in_steady_weather_is_scored_against_the_guarded_scale(spark):
    rows = list(flat_city(72))
    rows[30]["temperature"] = 15.0  # 06:00 on day 2: +5 degrees for one hour
    actual = anomalies.transform(obs_frame(spark, rows))
    # Worked out by hand: the hour-of-day median of 06:00 over 3 days is 10 (10, 15, 10)
    # and its MAD 0; both neighbouring sides are 0 off the baseline, so the excess is 5;
    # every MAD is 0, so the scales are the floors: 0.5 degrees.
    expected = [
        Row(
            city_id="flat-gb",
            city="Flat",
            timestamp="2026-03-02T06:00:00Z",
            metric="temperature",
            value=15.0,
            baseline=10.0,
            score=10.0,
            severity="extreme",
            method=anomalies.METHOD,
            deviation=5.0,
            seasonal_baseline=10.0,
            seasonal_score=10.0,
            local_scale=0.5,
            hour_of_day=6,
        )
    ]
    assertDataFrameEqual(actual, expected)


def test_a_sensor_frozen_for_hours_is_a_stuck_sensor_and_calm_weather_is_not(spark):
    frozen = list(flat_city(30, frozen=True))  # 30 h of identical readings
    for row in frozen[8:11]:
        row["temperature"] = 11.0  # 3 h of life: two frozen runs, of 7 h (00-07) and 18 h (11-28)
    calm = [{**row, "city_id": "calm-gb", "city": "Calm", "wind_speed": 0.0, "humidity": 100.0,
             "temperature": 10.0 + 0.01 * (i % 3)} for i, row in enumerate(frozen)]  # fog, no wind: only steady
    rows = anomalies.stuck_sensors(obs_frame(spark, frozen + calm)).orderBy("timestamp").collect()
    assert [(r.city_id, r.timestamp, r.metric, r.value, r.score, r.severity, r.method) for r in rows] == [
        ("flat-gb", "2026-03-01T00:00:00Z", "all", 10.0, 7.0, "moderate", "stuck_sensor"),
        ("flat-gb", "2026-03-01T11:00:00Z", "all", 10.0, 18.0, "severe", "stuck_sensor"),
    ]
    assert rows[0].baseline is None and rows[0].hour_of_day == 0
    # And in the view, beside the seasonal findings, with the same columns.
    assert anomalies.transform(obs_frame(spark, frozen)).where("method = 'stuck_sensor'").count() == 2


@pytest.mark.parametrize(
    "shape, label",
    [
        (lambda i: 10.0 if i < 40 else 16.0, "a front: a step that stays"),
        (lambda i: 10.0 + 0.4 * max(0, min(i - 30, 20)), "a ramp of 8 degrees over 20 hours"),
        (lambda i: 10.0 - (9.0 if 30 <= i < 30 + 7 * 24 else 0.0), "a week-long cold spell"),
    ],
)
def test_weather_that_moves_with_its_neighbours_is_not_flagged(spark, shape, label):
    rows = list(flat_city(10 * 24, temperature=shape))
    assert anomalies.transform(obs_frame(spark, rows)).count() == 0, label


def test_hours_without_both_sides_are_not_judged(spark):
    rows = list(flat_city(48))
    rows[0]["temperature"] = 30.0  # nothing before it
    rows[47]["temperature"] = 30.0  # nothing after it (yet)
    del rows[20:24]  # a 4-hour gap: hour 24 has no data within 3 hours before it
    rows[20]["temperature"] = 30.0  # (this is hour 24)
    assert anomalies.transform(obs_frame(spark, rows)).count() == 0


def test_severity_levels_follow_the_score(spark):
    rows = list(flat_city(96))
    rows[30]["temperature"] = 12.5  # excess 2.5 / 0.5 = score 5
    rows[50]["temperature"] = 7.0  # -3 / 0.5 = -6
    rows[70]["temperature"] = 15.0  # 5 / 0.5 = 10
    rows[80]["temperature"] = 11.5  # 1.5 / 0.5 = 3: below the threshold
    got = {r["timestamp"]: (r["score"], r["severity"]) for r in anomalies.transform(obs_frame(spark, rows)).collect()}
    assert got == {
        "2026-03-02T06:00:00Z": (5.0, "moderate"),
        "2026-03-03T02:00:00Z": (-6.0, "severe"),
        "2026-03-03T22:00:00Z": (10.0, "extreme"),
    }


def test_each_observation_in_a_busy_hour_is_judged_on_its_own(spark):
    rows = list(flat_city(72))
    spiky = dict(rows[30], ts=rows[30]["ts"] + timedelta(minutes=20), temperature=16.0)
    calm = dict(rows[30], ts=rows[30]["ts"] + timedelta(minutes=40), temperature=10.1)
    rows += [spiky, calm]
    got = [(r["timestamp"], r["metric"], r["value"]) for r in anomalies.transform(obs_frame(spark, rows)).collect()]
    assert got == [("2026-03-02T06:20:00Z", "temperature", 16.0)]


# --- realistic weather ------------------------------------------------------------------

DAYS = 75
HOURS = DAYS * 24


def injected_anomalies(climates, seed=3) -> list[weather.Injected]:
    """Single-hour anomalies, well apart, of sizes a careful observer would call anomalous."""
    rng = random.Random(seed)
    out = []
    variable_nights = climates[0]
    # The headline case: night-time jumps of many degrees where nights vary a lot.
    for day in (10, 24, 41, 58):
        local_night = int((3 - variable_nights.longitude / 15) % 24)  # 03:00 local solar time
        out.append(weather.Injected(variable_nights.id, T0 + timedelta(days=day, hours=local_night), "temperature", 8.0))
    kinds = [
        ("temperature", lambda c: rng.choice((-1, 1)) * rng.uniform(6, 9)),
        # Humidity away from the nearer end of 0..100.
        ("humidity", lambda c: (-1 if c.humidity > 60 else 1) * rng.uniform(25, 35)),
        ("pressure", lambda c: rng.choice((-1, 1)) * rng.uniform(5, 8)),
        ("wind_speed", lambda c: rng.uniform(10, 15)),
    ]
    for climate in climates[1:]:
        hours = sorted(rng.sample(range(48, HOURS - 48, 40), 4))
        for hour, (metric, delta) in zip(hours, kinds, strict=True):
            out.append(weather.Injected(climate.id, T0 + timedelta(hours=hour), metric, round(delta(climate), 1)))
    return out


@pytest.fixture(scope="module")
def climates():
    return weather.cities(9)


@pytest.fixture(scope="module")
def ordinary_weather(spark, climates):
    rows = list(weather.observations(climates, T0, HOURS, seed=11))
    return obs_frame(spark, rows).cache()


def test_ordinary_weather_is_rarely_flagged(ordinary_weather):
    flagged = anomalies.transform(ordinary_weather)
    hours_flagged = flagged.select("city_id", "timestamp").distinct().count()
    fraction = hours_flagged / ordinary_weather.count()
    # Fronts, spells and wildly varying nights included: well under 1 %.
    assert fraction < 0.002, f"{fraction:.4%} of ordinary hours flagged"


def test_injected_anomalies_are_found_with_high_precision_and_recall(spark, climates):
    injected = injected_anomalies(climates)
    rows = list(weather.observations(climates, T0, HOURS, seed=11, anomalies=injected))
    flagged = anomalies.transform(obs_frame(spark, rows)).collect()
    truth = {(a.city_id, a.hour.strftime("%Y-%m-%dT%H:%M:%SZ"), a.metric) for a in injected}
    found = {(r["city_id"], r["timestamp"], r["metric"]) for r in flagged}
    recall = len(truth & found) / len(truth)
    precision = len(truth & found) / len(found)
    assert recall >= 0.9 and precision >= 0.9, (
        f"recall {recall:.2f}, precision {precision:.2f}; missed {sorted(truth - found)}; extra {sorted(found - truth)}"
    )
    night_jumps = {k for k in truth if k[0] == climates[0].id}
    assert night_jumps <= found, "every night-time jump in the city with variable nights is caught"
    for row in flagged:  # baseline and deviation are each rounded to 3 decimals
        assert row["baseline"] is not None and abs(row["value"] - row["baseline"] - row["deviation"]) <= 0.001 + 1e-9


def global_three_sigma(observations: DataFrame, sigmas: float = 3.0) -> set[tuple[str, str, str]]:
    """The common global rule the robust scoring replaces: (city_id, timestamp, metric)
    of every value more than ``sigmas`` of its city's standard deviations from its mean."""
    city = Window.partitionBy("city_id")
    flagged = set()
    for m in METRICS:
        std = F.stddev_samp(m).over(city)
        z = F.when(std > 0, (F.col(m) - F.avg(m).over(city)) / std)
        rows = observations.select("city_id", iso_utc("ts").alias("timestamp"), round_half_up(z, 2).alias("z"))
        flagged |= {(r["city_id"], r["timestamp"], m) for r in rows.where(F.abs("z") > sigmas).collect()}
    return flagged


def test_the_global_three_sigma_rule_does_worse(spark, climates, ordinary_weather):
    injected = [a for a in injected_anomalies(climates) if a.city_id == climates[0].id]
    rows = list(weather.observations(climates[:1], T0, HOURS, seed=11, anomalies=injected))
    frame = obs_frame(spark, rows)
    global_hits = {(timestamp, metric) for _, timestamp, metric in global_three_sigma(frame)}
    night_jumps = {(a.hour.strftime("%Y-%m-%dT%H:%M:%SZ"), a.metric) for a in injected}
    # The global rule misses the night-time jumps (they are within that city's range)...
    assert len(night_jumps & global_hits) < len(night_jumps)
    # ...and flags ordinary weather (spells, cold nights) far more than the robust method.
    ordinary_global = len(global_three_sigma(ordinary_weather))
    ordinary_robust = anomalies.transform(ordinary_weather).count()
    assert ordinary_global > 3 * max(ordinary_robust, 1)


def test_a_week_of_the_demo_flags_what_was_injected_and_no_hour_of_day_every_day(spark):
    """The demo's data: a week of the synthetic source with two injected jumps per city.

    With seven values per hour of day, one unusual day (an injected jump, or the week's
    warming) moves one hour's median and not its neighbours'; judged against the medians,
    that hour stood out every day. The cycle built from hour-to-hour changes does not."""
    from weatherlake.cities import resolve
    from weatherlake.ingest.producer import demo_anomalies
    from weatherlake.sources import SyntheticSource

    cities = resolve(["london-gb", "new-york-us", "tokyo-jp", "sydney-au", "dubai-ae", "moscow-ru", "lima-pe"])
    end = datetime(2026, 11, 30, 3, tzinfo=weather.UTC)
    start = end - timedelta(days=7)
    injected = demo_anomalies(cities, start, end, per_city=2, seed=42)
    rows = [
        {**{m: record[m] for m in (*METRICS, "rainfall")}, "city_id": record["city_id"], "city": record["city"],
         "ts": datetime.fromisoformat(record["timestamp"])}
        for record in SyntheticSource(42, injected).history(cities, start, end)
    ]
    flagged = anomalies.transform(obs_frame(spark, rows)).collect()
    truth = {(a.city_id, a.hour.strftime("%Y-%m-%dT%H:%M:%SZ")) for a in injected}
    temperature = {(r["city_id"], r["timestamp"]) for r in flagged if r["metric"] == "temperature"}
    assert temperature == truth
    others = [(r["city_id"], r["timestamp"], r["metric"], r["score"]) for r in flagged if r["metric"] != "temperature"]
    # A one-hour shower lifts humidity by ~10 points: now and then a real, moderate spike.
    assert len(others) <= len(cities) // 2, others
    hours_of_day = [r["hour_of_day"] for r in flagged]
    assert max(hours_of_day.count(h) for h in set(hours_of_day)) <= 3, sorted(hours_of_day)
