"""The ``city_stats`` view: per city over the whole window, and per city per day, week, month.

Rows (design.md "Batch views"): ``city_id``, ``city``, ``record_count``,
``avg_temperature``, ``min_temperature``, ``max_temperature``, ``stddev_temperature``
(sample standard deviation; absent for a single record), ``avg_humidity``,
``avg_wind_speed``, ``total_rainfall``, ``avg_pressure``, ``first_timestamp``,
``last_timestamp``. Day, week and month rows add ``period`` (``day``, ``week``,
``month``) and ``period_start`` (ISO date; weeks start on Monday, UTC). Whole-window rows
have neither (Spark's JSON writer leaves null fields out).

Averages, sums and deviations are rounded to :data:`DECIMALS` places, so that the order
in which Spark adds partial sums can never change a published number.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from weatherlake.batch.extract import iso_utc

DECIMALS = 4
PERIODS: tuple[str, ...] = ("day", "week", "month")

COLUMNS: tuple[str, ...] = (
    "city_id",
    "city",
    "record_count",
    "avg_temperature",
    "min_temperature",
    "max_temperature",
    "stddev_temperature",
    "avg_humidity",
    "avg_wind_speed",
    "total_rainfall",
    "avg_pressure",
    "first_timestamp",
    "last_timestamp",
    "period",
    "period_start",
)


def _r(column: Column) -> Column:
    return F.round(column, DECIMALS)


def _aggregates() -> list[Column]:
    return [
        F.count(F.lit(1)).alias("record_count"),
        _r(F.avg("temperature")).alias("avg_temperature"),
        F.min("temperature").alias("min_temperature"),
        F.max("temperature").alias("max_temperature"),
        _r(F.stddev_samp("temperature")).alias("stddev_temperature"),
        _r(F.avg("humidity")).alias("avg_humidity"),
        _r(F.avg("wind_speed")).alias("avg_wind_speed"),
        _r(F.sum("rainfall")).alias("total_rainfall"),
        _r(F.avg("pressure")).alias("avg_pressure"),
        F.min("ts").alias("_first"),
        F.max("ts").alias("_last"),
    ]


def period_start(period: str) -> Column:
    """The first UTC day of the observation's day, ISO week (Monday) or month."""
    if period == "day":
        return F.to_date("ts")
    if period == "week":
        return F.to_date(F.date_trunc("week", "ts"))
    if period == "month":
        return F.trunc(F.to_date("ts"), "month")
    raise ValueError(f"unknown period {period!r}")


def transform(observations: DataFrame, periods: tuple[str, ...] = PERIODS) -> DataFrame:
    """Pure transform: clean observations -> city_stats rows (whole window + each period)."""
    whole = (
        observations.groupBy("city_id", "city")
        .agg(*_aggregates())
        .withColumn("period", F.lit(None).cast("string"))
        .withColumn("period_start", F.lit(None).cast("date"))
    )
    parts = [whole]
    for period in periods:
        parts.append(
            observations.groupBy("city_id", "city", period_start(period).alias("period_start"))
            .agg(*_aggregates())
            .withColumn("period", F.lit(period))
        )
    rows = parts[0]
    for part in parts[1:]:
        rows = rows.unionByName(part)
    return rows.select(
        *COLUMNS[:11],
        iso_utc("_first").alias("first_timestamp"),
        iso_utc("_last").alias("last_timestamp"),
        "period",
        F.date_format("period_start", "yyyy-MM-dd").alias("period_start"),
    )
