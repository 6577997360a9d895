"""The ``hourly_trends`` view: per city per clock hour, with a rolling 24-hour average.

Rows: ``city_id``, ``city``, ``hour`` (ISO-8601 UTC start of the clock hour),
``record_count``, ``avg_temperature``, ``min_temperature``, ``max_temperature``,
``avg_humidity``, ``avg_pressure``, ``avg_wind_speed``, ``total_rainfall``,
``rolling_24h_avg_temperature`` and ``rolling_24h_record_count``.

The rolling average at hour H is the mean temperature of every observation of that city
in the 24 clock hours ending with H (from H-23h to the end of H): weighted by
observations, not an average of hourly averages, and over whatever hours have data (at
the start of the window, or across a gap, fewer than 24).

``city`` is the city's name in the window (:func:`~weatherlake.batch.extract.city_names`).
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from weatherlake.batch.extract import city_names, iso_hour, round_half_up, with_hour_index
from weatherlake.views import DECIMALS, ROLLING_HOURS


def transform(observations: DataFrame, rolling_hours: int = ROLLING_HOURS) -> DataFrame:
    """Pure transform: clean observations -> hourly_trends rows."""
    # Grouped by (city_id, hour_index) only, the order the cached input is sorted in, so
    # the aggregation streams and its output is already in the window's order. Only
    # numbers: one string among the aggregates would make Spark interpret the whole
    # aggregation row by row, several times slower; the names are joined on instead.
    hourly = with_hour_index(observations).groupBy("city_id", "hour_index").agg(
        F.count(F.lit(1)).alias("record_count"),
        F.avg("temperature").alias("avg_temperature"),
        F.min("temperature").alias("min_temperature"),
        F.max("temperature").alias("max_temperature"),
        F.avg("humidity").alias("avg_humidity"),
        F.avg("pressure").alias("avg_pressure"),
        F.avg("wind_speed").alias("avg_wind_speed"),
        F.sum("rainfall").alias("total_rainfall"),
        F.sum("temperature").alias("_sum_temperature"),
    )
    # Rolling sums as differences of running sums: both running sums are computed
    # incrementally, where a sliding 24-hour frame would re-add its 24 rows for every row.
    # Differences of running sums of temperatures stay exact far beyond the 4 decimals shown.
    running = Window.partitionBy("city_id").orderBy("hour_index")
    upto_now = running.rangeBetween(Window.unboundedPreceding, 0)
    upto_before = running.rangeBetween(Window.unboundedPreceding, -rolling_hours)
    window_sum = F.sum("_sum_temperature").over(upto_now) - F.coalesce(
        F.sum("_sum_temperature").over(upto_before), F.lit(0.0)
    )
    window_count = F.sum("record_count").over(upto_now) - F.coalesce(
        F.sum("record_count").over(upto_before), F.lit(0)
    )
    return hourly.join(F.broadcast(city_names(observations)), "city_id").select(
        "city_id",
        "city",
        iso_hour("hour_index").alias("hour"),
        "record_count",
        round_half_up("avg_temperature", DECIMALS).alias("avg_temperature"),
        "min_temperature",
        "max_temperature",
        round_half_up("avg_humidity", DECIMALS).alias("avg_humidity"),
        round_half_up("avg_pressure", DECIMALS).alias("avg_pressure"),
        round_half_up("avg_wind_speed", DECIMALS).alias("avg_wind_speed"),
        round_half_up("total_rainfall", DECIMALS).alias("total_rainfall"),
        round_half_up(window_sum / window_count, DECIMALS).alias("rolling_24h_avg_temperature"),
        window_count.alias("rolling_24h_record_count"),
    )
