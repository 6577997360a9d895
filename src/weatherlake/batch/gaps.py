"""The ``gaps`` and ``hourly_filled`` views: hours without data, found and filled honestly.

Per city, every clock hour from its first hour with data to its last is expected. An
hour with no observation is *missing*; ``gaps`` has one row per run of missing hours:
``city_id``, ``city``, ``start`` and ``end`` (the first and last missing hour),
``missing_hours``, and ``scope``: ``all`` when no city has data in any of those hours
(the source or the pipeline was down), ``city`` otherwise (the city or station was
silent, or its data is late: a later run, with the late data in the lake, has no gap).

``hourly_filled`` is the city's hourly series with every hour present: ``city_id``,
``city``, ``hour``, per metric ``<metric>`` (the hour's mean, or the filled value) and
``<metric>_sd`` (the filled value's standard uncertainty; 0 for a measured hour), and
``imputed`` (false: measured) with ``method``: ``measured``, ``linear`` (a gap of at most
:data:`LINEAR_UP_TO` hours: the straight line between the measured hours around it) or
``profile`` (a longer gap: the city's own diurnal profile of the days around the gap,
:data:`PROFILE_DAYS` on each side, shifted to meet the measured hours at both ends).
Filled values live in this view only, never in the raw data.

The uncertainty is a Brownian bridge: with ``s`` the city's standard deviation of
hour-to-hour changes (of the metric for ``linear``, of its departure from the profile for
``profile``), an hour ``d`` hours into a gap of ``L`` missing hours has
``sd = s * sqrt(d * (L + 1 - d) / (L + 1))``: small next to a measured hour, largest in
the middle. docs/batch.md reports how close the filled values come to the truth.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from weatherlake.batch.extract import city_names, hourly_means, round_half_up
from weatherlake.scoring import METRICS
from weatherlake.views import DECIMALS

#: Gaps up to this many hours are filled with a straight line; longer ones from the profile.
LINEAR_UP_TO = 8
#: Days on each side of an hour whose same hour of day make its profile.
PROFILE_DAYS = 3


def _iso_hour(hour_index: Column) -> Column:
    return F.date_format(F.timestamp_seconds(hour_index * 3600), "yyyy-MM-dd'T'HH:mm:ss'Z'")


def hourly_grid(observations: DataFrame) -> DataFrame:
    """Every (city_id, hour_index) from each city's first to last hour with data, with the
    hour's means (null where missing) and ``measured``."""
    hourly = hourly_means(observations, METRICS)
    span = hourly.groupBy("city_id").agg(F.min("hour_index").alias("lo"), F.max("hour_index").alias("hi"))
    grid = span.select("city_id", F.explode(F.sequence("lo", "hi")).alias("hour_index"))
    return grid.join(hourly.withColumn("measured", F.lit(True)), ["city_id", "hour_index"], "left").fillna(
        {"measured": False}
    )


def filled(observations: DataFrame) -> DataFrame:
    """Pure transform: clean observations -> hourly_filled rows."""
    grid = hourly_grid(observations)
    # Both frames grow from the partition's start, which Spark extends row by row; a frame
    # running to the partition's end would be computed again for every row (quadratic).
    before = Window.partitionBy("city_id").orderBy("hour_index").rowsBetween(Window.unboundedPreceding, 0)
    after = Window.partitionBy("city_id").orderBy(F.col("hour_index").desc()).rowsBetween(
        Window.unboundedPreceding, 0)
    same_hour_nearby = (Window.partitionBy("city_id", F.col("hour_index") % 24).orderBy("hour_index")
                        .rangeBetween(-24 * PROFILE_DAYS, 24 * PROFILE_DAYS))
    measured = F.col("measured")
    prev_hour = F.last(F.when(measured, F.col("hour_index")), ignorenulls=True).over(before)
    next_hour = F.last(F.when(measured, F.col("hour_index")), ignorenulls=True).over(after)
    frame = grid.select(
        "*",
        prev_hour.alias("prev_hour"),
        next_hour.alias("next_hour"),
        *[F.avg(m).over(same_hour_nearby).alias(f"{m}__profile") for m in METRICS],
    )
    frame = frame.select(
        "*",
        *[F.last(F.when(measured, F.col(m)), ignorenulls=True).over(before).alias(f"{m}__prev") for m in METRICS],
        *[F.last(F.when(measured, F.col(m)), ignorenulls=True).over(after).alias(f"{m}__next") for m in METRICS],
        *[F.last(F.when(measured, F.col(m) - F.col(f"{m}__profile")), ignorenulls=True).over(before)
          .alias(f"{m}__prev_residual") for m in METRICS],
        *[F.last(F.when(measured, F.col(m) - F.col(f"{m}__profile")), ignorenulls=True).over(after)
          .alias(f"{m}__next_residual") for m in METRICS],
    )
    steps = _step_spreads(frame)
    frame = frame.join(F.broadcast(steps), "city_id")
    length = F.col("next_hour") - F.col("prev_hour") - 1  # missing hours in the gap
    into = F.col("hour_index") - F.col("prev_hour")  # 1..length
    fraction = into / (length + 1)
    bridge = F.sqrt(into * (length + 1 - into) / (length + 1))
    use_profile = length > LINEAR_UP_TO
    columns = []
    for m in METRICS:
        linear = F.col(f"{m}__prev") + (F.col(f"{m}__next") - F.col(f"{m}__prev")) * fraction
        profile = F.col(f"{m}__profile") + F.col(f"{m}__prev_residual") + (
            F.col(f"{m}__next_residual") - F.col(f"{m}__prev_residual")) * fraction
        by_profile = use_profile & profile.isNotNull()
        value = F.when(measured, F.col(m)).when(by_profile, profile).otherwise(linear)
        spread = F.when(measured, F.lit(0.0)).when(by_profile, F.col(f"{m}__residual_step") * bridge).otherwise(
            F.col(f"{m}__step") * bridge)
        columns += [round_half_up(value, DECIMALS).alias(m), round_half_up(F.coalesce(spread, F.lit(0.0)), DECIMALS)
                    .alias(f"{m}_sd")]
    method = F.when(measured, "measured").when(
        use_profile & F.col(f"{METRICS[0]}__profile").isNotNull(), "profile").otherwise("linear")
    return frame.join(F.broadcast(city_names(observations)), "city_id").select(
        "city_id", "city", _iso_hour(F.col("hour_index")).alias("hour"), *columns,
        (~measured).alias("imputed"), method.alias("method"),
    )


def _step_spreads(frame: DataFrame) -> DataFrame:
    """Per city: the standard deviation of hour-to-hour changes between measured hours, of
    each metric (``<m>__step``) and of its departure from the profile (``<m>__residual_step``)."""
    previous = Window.partitionBy("city_id").orderBy("hour_index")
    consecutive = F.col("measured") & F.lag("measured").over(previous)
    changes = frame.select(
        "city_id",
        *[F.when(consecutive, F.col(m) - F.lag(m).over(previous)).alias(f"{m}__change") for m in METRICS],
        *[F.when(consecutive, (F.col(m) - F.col(f"{m}__profile"))
                 - F.lag(F.col(m) - F.col(f"{m}__profile")).over(previous)).alias(f"{m}__residual_change")
          for m in METRICS],
    )
    return changes.groupBy("city_id").agg(
        *[F.stddev_pop(f"{m}__change").alias(f"{m}__step") for m in METRICS],
        *[F.stddev_pop(f"{m}__residual_change").alias(f"{m}__residual_step") for m in METRICS],
    )


def gaps(observations: DataFrame) -> DataFrame:
    """Pure transform: clean observations -> gaps rows."""
    grid = hourly_grid(observations)
    cities_with_data = grid.where("measured").groupBy("hour_index").agg(F.count(F.lit(1)).alias("cities_measured"))
    missing = grid.where(~F.col("measured")).join(cities_with_data, "hour_index", "left").fillna(
        {"cities_measured": 0})
    # Consecutive missing hours of a city share hour_index - (their rank among its missing hours).
    run = F.col("hour_index") - F.row_number().over(Window.partitionBy("city_id").orderBy("hour_index"))
    runs = missing.withColumn("run", run).groupBy("city_id", "run").agg(
        F.min("hour_index").alias("first"), F.max("hour_index").alias("last"),
        F.count(F.lit(1)).alias("missing_hours"), F.max("cities_measured").alias("others"))
    return runs.join(F.broadcast(city_names(observations)), "city_id").select(
        "city_id", "city", _iso_hour(F.col("first")).alias("start"), _iso_hour(F.col("last")).alias("end"),
        "missing_hours", F.when(F.col("others") == 0, "all").otherwise("city").alias("scope"),
    )
