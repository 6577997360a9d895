"""The ``city_stats`` view: per city over the whole window, and per city per day, week, month.

Rows (docs/batch.md, the views table): ``city_id``, ``city``, ``record_count``,
``avg_temperature``, ``min_temperature``, ``max_temperature``, ``stddev_temperature``
(sample standard deviation; absent for a single record), ``avg_humidity``,
``avg_wind_speed``, ``total_rainfall``, ``avg_pressure``, ``first_timestamp``,
``last_timestamp``. Day, week and month rows add ``period`` (``day``, ``week``,
``month``) and ``period_start`` (ISO date; weeks start on Monday, UTC). Whole-window rows
have neither (Spark's JSON writer leaves null fields out).

Averages, sums and deviations are rounded to :data:`~weatherlake.views.DECIMALS`
places, so that the order in which Spark adds partial sums does not change a published
number. The standard deviation comes from sums of squares (exact enough for
temperatures: their squares are far from losing precision in a double).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from weatherlake.batch.extract import iso_utc, round_half_up
from weatherlake.views import DECIMALS

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
    return round_half_up(column, DECIMALS)


def _day_partials(observations: DataFrame) -> DataFrame:
    """Per city and UTC day: counts, sums, sums of squares, extremes (one pass, hash aggregate)."""
    return observations.groupBy("city_id", "city", F.to_date("ts").alias("day")).agg(
        F.count(F.lit(1)).alias("n"),
        F.sum("temperature").alias("sum_t"),
        F.sum(F.col("temperature") * F.col("temperature")).alias("sumsq_t"),
        F.min("temperature").alias("min_t"),
        F.max("temperature").alias("max_t"),
        F.sum("humidity").alias("sum_h"),
        F.sum("wind_speed").alias("sum_w"),
        F.sum("pressure").alias("sum_p"),
        F.sum("rainfall").alias("sum_r"),
        F.min("ts").alias("first"),
        F.max("ts").alias("last"),
    )


def _combine(partials: DataFrame, keys: list) -> DataFrame:
    """Merge partial aggregates over ``keys`` and finish them into the view's figures."""
    merged = partials.groupBy(*keys).agg(
        *[F.sum(c).alias(c) for c in ("n", "sum_t", "sumsq_t", "sum_h", "sum_w", "sum_p", "sum_r")],
        F.min("min_t").alias("min_t"),
        F.max("max_t").alias("max_t"),
        F.min("first").alias("first"),
        F.max("last").alias("last"),
    )
    n = F.col("n")
    # Sample variance from the sums; clamped at 0 against rounding when all values are equal.
    variance = F.greatest((F.col("sumsq_t") - F.col("sum_t") * F.col("sum_t") / n) / (n - 1), F.lit(0.0))
    return merged.select(
        *keys,
        n.alias("record_count"),
        _r(F.col("sum_t") / n).alias("avg_temperature"),
        F.col("min_t").alias("min_temperature"),
        F.col("max_t").alias("max_temperature"),
        _r(F.when(n > 1, F.sqrt(variance))).alias("stddev_temperature"),
        _r(F.col("sum_h") / n).alias("avg_humidity"),
        _r(F.col("sum_w") / n).alias("avg_wind_speed"),
        _r(F.col("sum_r")).alias("total_rainfall"),
        _r(F.col("sum_p") / n).alias("avg_pressure"),
        iso_utc("first").alias("first_timestamp"),
        iso_utc("last").alias("last_timestamp"),
    )


def period_start(period: str, day: str = "day") -> Column:
    """The first UTC day of the day's day, ISO week (Monday) or month."""
    if period == "day":
        return F.col(day)
    if period == "week":
        return F.to_date(F.date_trunc("week", F.col(day)))
    if period == "month":
        return F.trunc(F.col(day), "month")
    raise ValueError(f"unknown period {period!r}")


def transform(observations: DataFrame, periods: tuple[str, ...] = PERIODS) -> DataFrame:
    """Pure transform: clean observations -> city_stats rows (whole window + each period).

    One pass over the observations builds per-day partial sums; each day row is then
    counted once per period it belongs to (its day, week, month, and the whole window),
    and those few rows are merged in a second, small aggregation.
    """
    days = _day_partials(observations)
    memberships = [F.struct(F.lit(None).cast("string").alias("period"), F.lit(None).cast("date").alias("start"))]
    memberships += [F.struct(F.lit(p).alias("period"), period_start(p).alias("start")) for p in periods]
    exploded = days.select("*", F.explode(F.array(*memberships)).alias("_m")).select(
        "*", F.col("_m.period").alias("period"), F.col("_m.start").alias("period_start")
    )
    rows = _combine(exploded, ["city_id", "city", "period", "period_start"])
    return rows.select(*COLUMNS[:13], "period", F.date_format("period_start", "yyyy-MM-dd").alias("period_start"))
