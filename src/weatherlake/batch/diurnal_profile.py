"""The ``diurnal_profile`` view: per city per hour of day (UTC), pooled over all days.

Rows: ``city_id``, ``city``, ``hour_of_day`` (0-23, UTC), ``record_count``,
``avg_temperature``, ``avg_humidity``, ``avg_wind_speed``, and also ``min_temperature``,
``max_temperature``, ``avg_pressure``, ``total_rainfall``, and for each of temperature,
humidity, pressure and wind_speed its exact ``median_<metric>`` and median absolute
deviation ``mad_<metric>``, and ``cycle_<metric>``, the city's typical day built from
hour-to-hour changes (:func:`diurnal_cycle`): the seasonal baseline the anomalies view
judges against (:func:`seasonal_baseline`), published so the speed layer uses the same one.

Why a cycle as well as the medians: each hour of day's median comes from different days.
With a week of history that is 7 values per hour; when the week warms or cools by more
than the day's own swing, one extra or one unusual day moves one hour's median by a
degree or two and not its neighbours', so every day at that hour looks like a step that
nobody measured. The median *change* from the hour before, taken over the same days, is
not moved by how warm a day was: summed around the clock it gives the day's shape,
whose level is then set to the medians' mean.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from weatherlake.batch.extract import METRICS, round_half_up, with_hour_index
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
    """Per (city_id, hour_of_day): exact ``m__seasonal`` (median), ``m__mad`` and
    ``m__cycle`` (:func:`diurnal_cycle`) per metric.

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
    medians_and_spreads = spreads.select(
        "city_id",
        "hour_of_day",
        *[F.col(f"{m}__seasonal") for m in metrics],
        *[median_of_sorted(F.col(f"{m}__spread")).alias(f"{m}__mad") for m in metrics],
    )
    return diurnal_cycle(observations, medians_and_spreads, metrics)


#: Days of each city's newest data its diurnal cycle is built from.
CYCLE_DAYS = 56


def diurnal_cycle(observations: DataFrame, seasonal: DataFrame, metrics: tuple[str, ...] = METRICS) -> DataFrame:
    """``seasonal`` (per city_id, hour_of_day, with ``m__seasonal``) plus ``m__cycle``.

    The step into hour of day h is the median, over the days with both hours, of the
    change in the hourly mean from h-1 to h. Summed from 00:00 the steps give the day's
    shape; whatever the sum gains over 24 hours (the window's trend) is spread evenly
    over the day, so the shape closes; its mean is set to the mean of the 24 medians.
    A city without a step for every hour of day (data at a few hours only) keeps its
    medians as the cycle.

    Only each city's newest :data:`CYCLE_DAYS` days are read: a median of 56 changes is
    as steady as one of 365, the shape of the recent days is the one that matters most,
    and a year's window costs a seventh of the time.
    """
    hours = with_hour_index(observations)
    newest = hours.groupBy("city_id").agg(F.max("hour_index").alias("_newest"))
    hourly = (
        hours.join(F.broadcast(newest), "city_id")
        .where(F.col("hour_index") > F.col("_newest") - CYCLE_DAYS * 24)
        .groupBy("city_id", "hour_index")
        .agg(*[F.avg(m).alias(m) for m in metrics])
    )
    previous = F.lag(F.struct("hour_index", *metrics)).over(Window.partitionBy("city_id").orderBy("hour_index"))
    changes = hourly.select(
        "city_id",
        F.pmod("hour_index", 24).cast("int").alias("hour_of_day"),
        *[F.when(previous["hour_index"] == F.col("hour_index") - 1, F.col(m) - previous[m]).alias(m) for m in metrics],
    )
    # Sorted arrays, as for the medians above: with Spark's exact median aggregate the
    # steps of a tenth of the benchmark's year took 9.0 s instead of 3.4 s (2026-12-02).
    steps = (
        changes.groupBy("city_id", "hour_of_day")
        .agg(*[F.sort_array(F.collect_list(m)).alias(m) for m in metrics])
        .select("city_id", "hour_of_day", *[median_of_sorted(F.col(m)).alias(f"{m}__step") for m in metrics])
    )
    day = Window.partitionBy("city_id")
    clock = day.orderBy("hour_of_day").rowsBetween(Window.unboundedPreceding, Window.currentRow)
    with_steps = seasonal.join(steps, ["city_id", "hour_of_day"], "left")
    shaped = with_steps.select(
        "*",
        *[
            # Summed from 00:00 (the step into 00:00 closes the day, it does not open it),
            # less the day's gain spread over its hours.
            (
                F.sum(F.when(F.col("hour_of_day") > 0, F.col(f"{m}__step")).otherwise(0.0)).over(clock)
                - F.sum(f"{m}__step").over(day) * F.col("hour_of_day") / 24
            ).alias(f"{m}__shape")
            for m in metrics
        ],
    )
    return shaped.select(
        "city_id",
        "hour_of_day",
        *[c for c in seasonal.columns if c not in ("city_id", "hour_of_day")],
        # Rounded to the records' own resolution (0.01): the deviations from it then stay
        # on that grid, and the anomalies' per-city median of hour-to-hour gaps counts a
        # few thousand distinct values instead of one per hour (half the anomalies' time).
        *[
            round_half_up(
                F.when(
                    F.count(f"{m}__step").over(day) == 24,
                    F.col(f"{m}__shape") - F.avg(f"{m}__shape").over(day) + F.avg(f"{m}__seasonal").over(day),
                ).otherwise(F.col(f"{m}__seasonal")),
                2,
            ).alias(f"{m}__cycle")
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
        *[round_half_up(f"{m}__seasonal", DECIMALS).alias(f"median_{m}") for m in METRICS],
        *[round_half_up(f"{m}__mad", DECIMALS).alias(f"mad_{m}") for m in METRICS],
        *[round_half_up(f"{m}__cycle", DECIMALS).alias(f"cycle_{m}") for m in METRICS],
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
