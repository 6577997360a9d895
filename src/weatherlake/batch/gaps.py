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

import operator
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from weatherlake.batch.extract import city_names, hourly_means, iso_hour, round_half_up
from weatherlake.scoring import METRICS
from weatherlake.views import DECIMALS

#: Gaps up to this many hours are filled with a straight line; longer ones from the profile.
LINEAR_UP_TO = 8
#: Days on each side of an hour whose same hour of day make its profile.
PROFILE_DAYS = 3


def _city_hours() -> Window:
    """Each city's hours in order. The cached input is partitioned by city: no window over
    it shuffles, and those over the grid share one sort."""
    return Window.partitionBy("city_id").orderBy("hour_index")


def _following(hourly: DataFrame) -> DataFrame:
    """:func:`~weatherlake.batch.extract.hourly_means`' rows with each city's next measured
    hour (``next_hour``, null for its last)."""
    return hourly.select("*", F.lead("hour_index").over(_city_hours()).alias("next_hour"))


def missing_runs(hourly: DataFrame) -> DataFrame:
    """``city_id``, ``first``, ``last``: each run of hours without data between two measured
    hours of a city."""
    return _following(hourly).where(F.col("next_hour") > F.col("hour_index") + 1).select(
        "city_id", (F.col("hour_index") + 1).alias("first"), (F.col("next_hour") - 1).alias("last"))


def hourly_grid(hourly: DataFrame) -> DataFrame:
    """Every (city_id, hour_index) from each city's first to last hour with data, with the
    hour's means (null where missing) and ``measured``: each measured hour followed by the
    missing ones up to the next, in each city's order."""
    until = F.coalesce(F.col("next_hour") - 1, F.col("hour_index"))
    grid = _following(hourly).select(
        "city_id", F.col("hour_index").alias("measured_hour"), *METRICS,
        F.explode(F.sequence("hour_index", until)).alias("hour_index"))
    measured = F.col("hour_index") == F.col("measured_hour")
    return grid.select("city_id", "hour_index", *[F.when(measured, F.col(m)).alias(m) for m in METRICS],
                       measured.alias("measured"))


def _with_profiles(grid: DataFrame) -> DataFrame:
    """``grid`` with ``<metric>__profile``: the mean of the metric at the same hour of day
    over PROFILE_DAYS days either side, measured hours only. The grid has every hour, so
    those are the rows 24, 48, ... before and after: offsets in the city's own order, where
    a window over each hour of day would shuffle every hour again. Each offset fetches all
    metrics at once, in one struct."""
    shifts = {f"__{shift.__name__}{day}": shift(F.struct(*METRICS), 24 * day).over(_city_hours())
              for day in range(1, PROFILE_DAYS + 1) for shift in (F.lag, F.lead)}
    shifted = grid.select("*", *[column.alias(name) for name, column in shifts.items()])

    def profile(metric: str) -> Column:
        around = [F.col(metric), *[F.col(name)[metric] for name in shifts]]
        total = reduce(operator.add, [F.coalesce(value, F.lit(0.0)) for value in around])
        count = reduce(operator.add, [value.isNotNull().cast("int") for value in around])
        return F.try_divide(total, count)

    return shifted.select(*grid.columns, *[profile(m).alias(f"{m}__profile") for m in METRICS])


def filled(observations: DataFrame, hourly: DataFrame | None = None) -> DataFrame:
    """Pure transform: clean observations -> hourly_filled rows (``hourly``: their
    :func:`~weatherlake.batch.extract.hourly_means`, when the caller has them)."""
    profiled = _with_profiles(hourly_grid(hourly if hourly is not None else hourly_means(observations, METRICS)))
    measured = F.col("measured")
    residual = {m: F.col(m) - F.col(f"{m}__profile") for m in METRICS}  # departure from the profile
    # What a filled hour needs of the measured hours around it, in one struct (null when
    # the hour is missing): the nearest before and after it are a lag and a lead that skip
    # nulls, in one pass through each city's hours.
    measured_hour = F.struct(F.col("hour_index").alias("hour"), *METRICS,
                             *[residual[m].alias(f"{m}__residual") for m in METRICS])
    hours = profiled.select("*", F.when(measured, measured_hour).alias("__measured"))
    in_order = _city_hours()
    frame = hours.select(
        *profiled.columns,
        F.expr("lag(__measured) IGNORE NULLS").over(in_order).alias("prev"),
        F.expr("lead(__measured) IGNORE NULLS").over(in_order).alias("next"),
        F.lag("__measured").over(in_order).alias("before"),  # null: the hour before was missing
    )
    # Hour-to-hour changes between measured hours, of each metric and of its departure
    # from the profile: their spread per city is the bridge's ``s``.
    consecutive = measured & F.col("before").isNotNull()
    changes = {
        **{f"{m}__step": F.col(m) - F.col("before")[m] for m in METRICS},
        **{f"{m}__residual_step": residual[m] - F.col("before")[f"{m}__residual"] for m in METRICS},
    }
    whole_city = in_order.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    frame = frame.select(
        *profiled.columns, "prev", "next",
        *[F.stddev_pop(F.when(consecutive, change)).over(whole_city).alias(name) for name, change in changes.items()])
    length = F.col("next.hour") - F.col("prev.hour") - 1  # missing hours in the gap
    into = F.col("hour_index") - F.col("prev.hour")  # 1..length
    fraction = into / (length + 1)
    bridge = F.sqrt(into * (length + 1 - into) / (length + 1))
    use_profile = length > LINEAR_UP_TO
    columns = []
    for m in METRICS:
        prev, next_ = F.col("prev")[m], F.col("next")[m]
        prev_residual, next_residual = F.col("prev")[f"{m}__residual"], F.col("next")[f"{m}__residual"]
        linear = prev + (next_ - prev) * fraction
        profile = F.col(f"{m}__profile") + prev_residual + (next_residual - prev_residual) * fraction
        by_profile = use_profile & profile.isNotNull()
        value = F.when(measured, F.col(m)).when(by_profile, profile).otherwise(linear)
        spread = F.when(measured, F.lit(0.0)).when(by_profile, F.col(f"{m}__residual_step") * bridge).otherwise(
            F.col(f"{m}__step") * bridge)
        columns += [round_half_up(value, DECIMALS).alias(m), round_half_up(F.coalesce(spread, F.lit(0.0)), DECIMALS)
                    .alias(f"{m}_sd")]
    method = F.when(measured, "measured").when(
        use_profile & F.col(f"{METRICS[0]}__profile").isNotNull(), "profile").otherwise("linear")
    return frame.join(F.broadcast(city_names(observations)), "city_id").select(
        "city_id", "city", iso_hour("hour_index").alias("hour"), *columns,
        (~measured).alias("imputed"), method.alias("method"),
    )


def gaps(observations: DataFrame, hourly: DataFrame | None = None) -> DataFrame:
    """Pure transform: clean observations -> gaps rows (``hourly`` as for :func:`filled`)."""
    hourly = hourly if hourly is not None else hourly_means(observations, METRICS)
    runs = missing_runs(hourly)
    measured_hours = hourly.select("hour_index").distinct().withColumn("someone", F.lit(True))
    # An outage: not one city has data in any hour of the run.
    others = runs.select("*", F.explode(F.sequence("first", "last")).alias("hour_index")).join(
        measured_hours, "hour_index", "left").groupBy("city_id", "first", "last").agg(
        F.count("someone").alias("others"))
    return others.join(F.broadcast(city_names(observations)), "city_id").select(
        "city_id", "city", iso_hour("first").alias("start"), iso_hour("last").alias("end"),
        (F.col("last") - F.col("first") + 1).alias("missing_hours"),
        F.when(F.col("others") == 0, "all").otherwise("city").alias("scope"),
    )
