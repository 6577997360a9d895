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

from weatherlake.batch.extract import METRICS

DECIMALS = 4


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
    once for the median and once more as absolute deviations for the MAD.
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
    return medians.select(
        "city_id",
        "hour_of_day",
        *[F.col(f"{m}__seasonal") for m in metrics],
        *[
            median_of_sorted(F.sort_array(F.transform(f"{m}__values", _distance_from(F.col(f"{m}__seasonal"))))).alias(
                f"{m}__mad"
            )
            for m in metrics
        ],
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
        *[F.round(f"{m}__seasonal", DECIMALS).alias(f"median_{m}") for m in METRICS],
        *[F.round(f"{m}__mad", DECIMALS).alias(f"mad_{m}") for m in METRICS],
    )
    profile = observations.groupBy("city_id", "city", F.hour("ts").alias("hour_of_day")).agg(
        F.count(F.lit(1)).alias("record_count"),
        F.round(F.avg("temperature"), DECIMALS).alias("avg_temperature"),
        F.round(F.avg("humidity"), DECIMALS).alias("avg_humidity"),
        F.round(F.avg("wind_speed"), DECIMALS).alias("avg_wind_speed"),
        F.min("temperature").alias("min_temperature"),
        F.max("temperature").alias("max_temperature"),
        F.round(F.avg("pressure"), DECIMALS).alias("avg_pressure"),
        F.round(F.sum("rainfall"), DECIMALS).alias("total_rainfall"),
    )
    return profile.join(F.broadcast(robust), ["city_id", "hour_of_day"], "left")
