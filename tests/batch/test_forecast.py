"""The forecast on real history (TMY3, tests/history.py): shown only where its backtest beats
persistence and climatology, from the last observation on, with a band around it."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import pytest
from pyspark.sql import types as T

from tests.history import METRICS, START, tmy_history
from weatherlake.batch import forecast

pytestmark = pytest.mark.spark

DAYS = 120


@pytest.fixture(scope="module")
def views(spark):
    schema = T.StructType([T.StructField("city_id", T.StringType()), T.StructField("city", T.StringType()),
                           T.StructField("ts", T.TimestampType()), *[T.StructField(m, T.DoubleType()) for m in METRICS],
                           T.StructField("rainfall", T.DoubleType())])
    values = tmy_history()["greensboro-us"][: 24 * DAYS]
    rows = [("greensboro-us", "Greensboro", START + timedelta(hours=h, minutes=30), *(v[m] for m in METRICS), 0.0)
            for h, v in enumerate(values)]
    rows_f, rows_s, cached = forecast.views(spark.createDataFrame(rows, schema))
    result = rows_f.collect(), rows_s.collect()
    for frame in cached:
        frame.unpersist()
    return result


def test_a_horizon_is_shown_only_where_the_method_beats_persistence_and_climatology(views):
    rows, skill = views
    scores = {(r["metric"], r["horizon_hours"]): r for r in skill}
    assert len(scores) == len(METRICS) * forecast.HORIZONS
    assert all(r["samples"] >= 50 for r in skill)
    shown = {(r["metric"], r["horizon_hours"]) for r in rows}
    for key, score in scores.items():
        beats = score["mae"] < score["mae_persistence"] and score["mae"] < score["mae_climatology"]
        assert (key in shown) == beats, key
    # On this city's real weather the method has skill for temperature at most horizons.
    temperature = sorted(h for metric, h in shown if metric == "temperature")
    assert len(temperature) >= 40 and {1, 6, 12, 24} <= set(temperature)


def test_the_forecast_starts_after_the_last_observation_with_a_band_around_it(views):
    rows, _ = views
    last = (START + timedelta(hours=24 * DAYS - 1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    by_metric = defaultdict(list)
    for row in rows:
        assert row["issued_at"] == last and row["method"] == forecast.METHOD
        target = START + timedelta(hours=24 * DAYS - 1 + row["horizon_hours"])
        assert row["target_time"] == target.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert row["lower"] <= row["value"] <= row["upper"]
        by_metric[row["metric"]].append(row)
    widths = {r["horizon_hours"]: r["upper"] - r["lower"] for r in by_metric["temperature"]}
    assert widths[1] < widths[12]  # less certain further ahead
