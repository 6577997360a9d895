"""The ``diurnal_profile`` view: per city per hour of day (UTC), pooled over all days.

Rows: ``city_id``, ``city``, ``hour_of_day`` (0-23, UTC), ``record_count``,
``avg_temperature``, ``avg_humidity``, ``avg_wind_speed``, and also ``min_temperature``,
``max_temperature``, ``avg_pressure``, ``total_rainfall``, and for each of temperature,
humidity, pressure and wind_speed its exact ``median_<metric>`` and median absolute
deviation ``mad_<metric>``: the seasonal baseline the anomalies view judges against
(:func:`seasonal_baseline`), published so the speed layer can use the same one.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from weatherlake.batch.extract import METRICS, round_half_up
from weatherlake.views import DECIMALS


def median_of_sorted(values: Column) -> Column:
    """Median of a sorted array (mean of the two middle values when even); null if empty."""
    n = F.size(values)
    low = F.element_at(values, F.floor((n + 1) / 2).cast("int"))
    high = F.element_at(values, (F.floor(n / 2) + 1).cast("int"))
    return F.when(n > 0, (low + high) / 2)


def _distance_from(center: Column):
    return lambda value: F.abs(value - center)


def seasonal_baseline(observations: DataFrame, metrics: tuple[str, ...] = METRICS) -> DataFrame:
    """Per (city_id, hour_of_day): exact ``m__seasonal`` (median) and ``m__mad`` per metric.

    One aggregation: each group's values are collected (a few hundred a year), sorted
    once for the median and once more as absolute deviations for the MAD. Each sorted
    array is a column of its own before its median is taken: written inline, Spark would
    sort the deviations once for every reference in :func:`median_of_sorted` (each
    lambda gets its own variable, so no two copies count as the same expression).
    """
    grouped = observations.groupBy("city_id", F.hour("ts").alias("hour_of_day")).agg(
        *[F.sort_array(F.collect_list(m)).alias(f"{m}__values") for m in metrics]
    )
    medians = grouped.select(
        "city_id",
        "hour_of_day",
        *[F.col(f"{m}__values") for m in metrics],
        *[median_of_sorted(F.col(f"{m}__values")).alias(f"{m}__seasonal") for m in metrics],
    )
    spreads = medians.select(
        "city_id",
        "hour_of_day",
        *[F.col(f"{m}__seasonal") for m in metrics],
        *[
            F.sort_array(F.transform(f"{m}__values", _distance_from(F.col(f"{m}__seasonal")))).alias(f"{m}__spread")
            for m in metrics
        ],
    )
    return spreads.select(
        "city_id",
        "hour_of_day",
        *[F.col(f"{m}__seasonal") for m in metrics],
        *[median_of_sorted(F.col(f"{m}__spread")).alias(f"{m}__mad") for m in metrics],
    )


def transform(observations: DataFrame, seasonal: DataFrame | None = None) -> DataFrame:
    """Pure transform: clean observations -> diurnal_profile rows.

    ``seasonal`` is :func:`seasonal_baseline` of the same observations when the caller
    has it already (a run computing the anomalies too shares it).
    """
    if seasonal is None:
        seasonal = seasonal_baseline(observations)
    robust = seasonal.select(
        "city_id",
        "hour_of_day",
        *[round_half_up(f"{m}__seasonal", DECIMALS).alias(f"median_{m}") for m in METRICS],
        *[round_half_up(f"{m}__mad", DECIMALS).alias(f"mad_{m}") for m in METRICS],
    )
    profile = observations.groupBy("city_id", "city", F.hour("ts").alias("hour_of_day")).agg(
        F.count(F.lit(1)).alias("record_count"),
        round_half_up(F.avg("temperature"), DECIMALS).alias("avg_temperature"),
        round_half_up(F.avg("humidity"), DECIMALS).alias("avg_humidity"),
        round_half_up(F.avg("wind_speed"), DECIMALS).alias("avg_wind_speed"),
        F.min("temperature").alias("min_temperature"),
        F.max("temperature").alias("max_temperature"),
        round_half_up(F.avg("pressure"), DECIMALS).alias("avg_pressure"),
        round_half_up(F.sum("rainfall"), DECIMALS).alias("total_rainfall"),
    )
    return profile.join(F.broadcast(robust), ["city_id", "hour_of_day"], "left")
