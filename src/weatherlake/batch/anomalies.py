"""The ``anomalies`` view: observations that are extreme for their place and time.

Each observation's temperature, humidity, pressure and wind speed is judged with robust
statistics only (medians and median absolute deviations, never a mean and a standard
deviation that the outliers themselves inflate), in two ways at once:

1. **Seasonal baseline** -- what is normal for this city at this hour of day: the city's
   typical day (``m__cycle``, built from the median hour-to-hour changes, see
   weatherlake.batch.diurnal_profile), and the median of the metric over the window for
   (city, UTC hour of day) with its MAD. The deviation from the cycle, ``dev``, takes the
   daily cycle out: a warm afternoon is not unusual. (Against the medians alone, a week
   of history flagged one hour of day every day: seven values per hour, and one
   unusual day moves one hour's median and not its neighbours'.)
2. **Local context** -- the neighbouring hours, from the hourly mean ``dev`` of the hours
   with data up to ``context_hours`` (3) before and up to 3 after. The observation's
   *excess* is how far it sticks out beyond *both* sides: zero when it lies between them
   (a front moving through, a ramp), the smaller of the two gaps when it is above both or
   below both (a spike). It is measured twice and the larger kept: against the nearest
   hour on each side (which follows a ramp, so a spike at dawn, while the air warms
   fast, still sticks out) and against each side's 3-hour median (which sees past a
   neighbour that is itself disturbed, so both hours of a two-hour spike stick out). A
   week-long cold spell moves the neighbours with it, so it is weather, not 168
   anomalies; a sudden warm hour in the night sticks out of both sides, however much
   that city's nights vary from one day to the next.

The score is ``excess / scale``. ``scale`` is 1.4826 x the city's median gap between an
hour and its nearest neighbours (the typical hour-to-hour change of that metric in that
city), guarded by a floor per metric (:data:`MIN_SCALE`) so that a perfectly steady series
(MAD 0) cannot make a tiny wobble infinitely significant. An observation is flagged at
``|score| >= 4``; severity is ``moderate`` below 6, ``severe`` below 10, ``extreme`` from
10 (the parameters live in weatherlake.scoring, shared with the speed layer).

An observation needs data on both sides (within 3 hours) to be judged: the newest hours
before the cutoff are judged by the next run, once the hours after them are in the lake.

How it stays cheap: the seasonal medians and MADs come from one aggregation (exact,
from each group's sorted values); the context is computed on the per-hour table (mean,
min and max per metric), whose windows stream over the input's (city, hour) order; an
hour is a candidate only if its extreme observation sticks out, and only the candidates'
observations are scored one by one. That is exact, not an approximation: an observation
whose excess passes the threshold makes its hour's maximum (or minimum) pass it too.

Rows: ``city_id``, ``city``, ``timestamp``, ``metric``, ``value``, ``baseline`` (the
value expected from the hour of day and the neighbouring hours), ``score``, ``severity``,
``method``, plus ``deviation`` (value - baseline), ``seasonal_baseline`` and
``seasonal_score`` (against the hour-of-day median and MAD alone), ``local_scale`` and
``hour_of_day``.

**Stuck sensors** are found apart (``method`` ``stuck_sensor``): a run of readings of one
location in which every scored metric keeps exactly the same value for at least
``STUCK_HOURS`` (6) and ``STUCK_READINGS`` (4) readings. Real weather moves at least one of
temperature (to 0.01 °C), humidity, pressure (to 0.1 hPa) and wind within hours, so such a
run is a frozen sensor, not calm weather; each metric alone may well stay put (wind 0 m/s,
humidity 100 % in fog). One row per run: ``timestamp`` its first reading, ``metric``
``all``, ``value`` the frozen temperature, ``score`` the hours it lasted, severity
``moderate`` under 12 h, ``severe`` under 24 h, ``extreme`` beyond; the other columns null.

The common global rule (mean +- 3 standard deviations per city over the whole window) is
not used: it flags the hours of a cold spell and misses a night-time spike
(docs/batch.md; tests/batch/test_anomalies.py compares the two).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from weatherlake.batch.diurnal_profile import median_of_sorted, seasonal_baseline
from weatherlake.batch.extract import iso_utc, round_half_up, with_hour_index

# Thresholds, severity bands, context width and the per-metric scale floors (MIN_SCALE:
# with the default threshold of 4, a change under 4x the floor is never an anomaly) are
# shared with the speed layer's live flags.
from weatherlake.scoring import MIN_SCALE, AnomalyParams

METHOD = "seasonal_mad_local_context"
STUCK_METHOD = "stuck_sensor"
#: A stuck run lasts at least this many hours, over at least this many readings.
STUCK_HOURS = 6.0
STUCK_READINGS = 4
MAD_TO_SIGMA = 1.4826  # MAD x this estimates the standard deviation of normal data

__all__ = ["COLUMNS", "METHOD", "MIN_SCALE", "STUCK_METHOD", "AnomalyParams", "score", "stuck_sensors", "transform"]

COLUMNS: tuple[str, ...] = (
    "city_id",
    "city",
    "timestamp",
    "metric",
    "value",
    "baseline",
    "score",
    "severity",
    "method",
    "deviation",
    "seasonal_baseline",
    "seasonal_score",
    "local_scale",
    "hour_of_day",
)


def _median_present(values: list[Column]) -> Column:
    """Median of the non-null values among a few columns; null if all are null."""
    if len(values) == 3:  # the default: plain comparisons, no arrays
        a, b, c = values
        present = sum(F.when(v.isNotNull(), 1).otherwise(0) for v in values)
        total = F.coalesce(a, F.lit(0.0)) + F.coalesce(b, F.lit(0.0)) + F.coalesce(c, F.lit(0.0))
        return (
            F.when(present == 3, F.greatest(F.least(a, b), F.least(F.greatest(a, b), c)))
            .when(present == 2, total / 2)
            .when(present == 1, total)
        )
    return median_of_sorted(F.array_sort(F.filter(F.array(*values), lambda v: v.isNotNull())))


def _stick_out(dev: Column, before: Column, after: Column) -> Column:
    """How far ``dev`` sticks out beyond both sides (signed); 0 when between; null if a side is missing."""
    gap_before, gap_after = dev - before, dev - after
    smaller = F.when(F.abs(gap_before) <= F.abs(gap_after), gap_before).otherwise(gap_after)
    return F.when(before.isNull() | after.isNull(), F.lit(None)).when(gap_before * gap_after > 0, smaller).otherwise(0.0)


def _excess(dev: Column, metric: str) -> Column:
    """The larger stick-out: beyond the nearest hours, or beyond the 3-hour medians.

    The nearest hours follow a ramp (a spike at dawn, while the air warms fast); the
    medians see past a neighbour that is itself disturbed (a spike lasting two hours).
    """
    near = _stick_out(dev, F.col(f"{metric}__before1"), F.col(f"{metric}__after1"))
    far = _stick_out(dev, F.col(f"{metric}__before"), F.col(f"{metric}__after"))
    return F.when(near.isNull() | far.isNull(), F.lit(None)).when(F.abs(near) >= F.abs(far), near).otherwise(far)


def hourly_context(observations: DataFrame, seasonal: DataFrame, params: AnomalyParams) -> DataFrame:
    """Per (city_id, hour_index) with data, for each metric m:
    ``m__before`` / ``m__after`` (median hourly deviation over each side's hours),
    ``m__before1`` / ``m__after1`` (the nearest hour's), ``m__scale``, and the hour's
    extreme deviations ``m__max_dev`` / ``m__min_dev``.
    """
    deviations = _hourly_deviations(observations, seasonal, params.metrics)
    context = _with_neighbours(deviations, params.metrics, params.context_hours)
    return _with_local_scales(context, params)


def _hourly_deviations(observations: DataFrame, seasonal: DataFrame, metrics: tuple[str, ...]) -> DataFrame:
    """Per (city_id, hour_index): ``m__mean_dev``, ``m__max_dev``, ``m__min_dev``, the hour's
    mean, highest and lowest value of each metric minus its seasonal median."""
    # Grouped by (city_id, hour_index) only, the cached input's order: the aggregation
    # streams, and its output is already in the order of the windows that follow.
    hourly = (
        with_hour_index(observations)
        .groupBy("city_id", "hour_index")
        .agg(*[agg(m).alias(f"{m}__{name}") for m in metrics for name, agg in
               (("mean", F.avg), ("max", F.max), ("min", F.min))])
        .withColumn("hour_of_day", F.pmod("hour_index", 24).cast("int"))
        .join(F.broadcast(seasonal), ["city_id", "hour_of_day"])
    )
    # Only what the windows need: every column more is copied twice for each hour.
    return hourly.select(
        "city_id",
        "hour_index",
        *[(F.col(f"{m}__{name}") - F.col(f"{m}__cycle")).alias(f"{m}__{name}_dev")
          for m in metrics for name in ("mean", "max", "min")],
    )


def _with_neighbours(deviations: DataFrame, metrics: tuple[str, ...], reach: int) -> DataFrame:
    """Adds each side's view of the hour, from the mean deviations of the hours with data
    up to ``reach`` hours away: ``m__before`` / ``m__after`` (each side's median) and
    ``m__before1`` / ``m__after1`` (the nearest hour's)."""
    # The neighbours' hour and deviations travel together in one struct: six lag/lead
    # lookups of one column cost a fraction of thirty lookups of single values.
    timeline = Window.partitionBy("city_id").orderBy("hour_index")
    packed = deviations.withColumn(
        "_p", F.struct("hour_index", *[F.col(f"{m}__mean_dev").alias(m) for m in metrics])
    )
    offsets = [k for k in range(1, reach + 1)] + [-k for k in range(1, reach + 1)]
    shifted = packed.select(
        "*",
        *[
            (F.lag("_p", k).over(timeline) if k > 0 else F.lead("_p", -k).over(timeline)).alias(f"_p{k}")
            for k in offsets
        ],
    )

    def neighbour(metric: str, k: int) -> Column:
        """The k-th hour with data before (k > 0) or after (k < 0), if within ``reach`` hours."""
        other = F.col(f"_p{k}")
        return F.when(F.abs(F.col("hour_index") - other["hour_index"]) <= reach, other[metric])

    sides = []
    for m in metrics:
        sides.append(_median_present([neighbour(m, k) for k in range(1, reach + 1)]).alias(f"{m}__before"))
        sides.append(_median_present([neighbour(m, -k) for k in range(1, reach + 1)]).alias(f"{m}__after"))
        sides.append(neighbour(m, 1).alias(f"{m}__before1"))
        sides.append(neighbour(m, -1).alias(f"{m}__after1"))
    return shifted.select(*deviations.columns, *sides)


def _with_local_scales(context: DataFrame, params: AnomalyParams) -> DataFrame:
    """Adds ``m__scale``: 1.4826 x the city's median gap between an hour and its nearest
    neighbours (its ordinary hour-to-hour change), never below the metric's floor."""
    city = Window.partitionBy("city_id")
    scales = []
    for m in params.metrics:
        mean_dev = F.col(f"{m}__mean_dev")
        # Rounded to 0.001 before the median: Spark's exact median keeps a count per
        # distinct value, and unrounded differences of doubles are nearly all distinct.
        typical_gap = F.median(
            round_half_up((F.abs(mean_dev - F.col(f"{m}__before1")) + F.abs(mean_dev - F.col(f"{m}__after1"))) / 2, 3)
        ).over(city)
        scales.append(
            F.greatest(F.coalesce(F.lit(MAD_TO_SIGMA) * typical_gap, F.lit(0.0)), F.lit(params.min_scale[m])).alias(
                f"{m}__scale"
            )
        )
    return context.select("*", *scales)


def score(
    observations: DataFrame, params: AnomalyParams = AnomalyParams(), seasonal: DataFrame | None = None
) -> DataFrame:
    """Pure transform: the observations of candidate hours, with per metric m its
    ``m__score``, ``m__excess``, ``m__seasonal``, ``m__seasonal_score`` and ``m__scale``.

    Candidate hours are those whose highest or lowest observation of some metric sticks
    out by at least the threshold; every observation outside them scores below it.
    """
    metrics, threshold = params.metrics, params.threshold
    obs = with_hour_index(observations).select("city_id", "city", "ts", "hour_index", *metrics)
    if seasonal is None:
        seasonal = seasonal_baseline(obs, metrics)
    context = hourly_context(obs, seasonal, params)
    candidate = F.lit(False)
    for m in metrics:
        scale = F.col(f"{m}__scale")
        high = _excess(F.col(f"{m}__max_dev"), m) / scale
        low = _excess(F.col(f"{m}__min_dev"), m) / scale
        candidate |= F.coalesce((high >= threshold) | (low <= -threshold), F.lit(False))
    keep = ["city_id", "hour_index"] + [
        f"{m}__{part}" for m in metrics for part in ("before", "after", "before1", "after1", "scale")
    ]
    candidates = (
        context.where(candidate)
        .select(*keep, F.pmod("hour_index", 24).cast("int").alias("hour_of_day"))
        .join(F.broadcast(seasonal), ["city_id", "hour_of_day"])
    )
    # Few rows: broadcast them into one scan of the observations.
    joined = obs.join(F.broadcast(candidates), ["city_id", "hour_index"])
    columns = []
    for m in metrics:
        excess = _excess(F.col(m) - F.col(f"{m}__cycle"), m)
        dev = F.col(m) - F.col(f"{m}__seasonal")
        seasonal_scale = F.greatest(F.lit(MAD_TO_SIGMA) * F.col(f"{m}__mad"), F.lit(params.min_scale[m]))
        columns += [
            excess.alias(f"{m}__excess"),
            (excess / F.col(f"{m}__scale")).alias(f"{m}__score"),
            (dev / seasonal_scale).alias(f"{m}__seasonal_score"),
        ]
    return joined.select("*", *columns)


def severity(abs_score: Column, params: AnomalyParams) -> Column:
    return (
        F.when(abs_score >= params.extreme, "extreme")
        .when(abs_score >= params.severe, "severe")
        .otherwise("moderate")
    )


def transform(
    observations: DataFrame, params: AnomalyParams = AnomalyParams(), seasonal: DataFrame | None = None
) -> DataFrame:
    """Pure transform: clean observations -> anomalies rows (one per flagged metric).

    ``seasonal`` is :func:`~weatherlake.batch.diurnal_profile.seasonal_baseline` of the same
    observations when the caller has it already (a run computing both views shares it).
    """
    scored = score(observations, params, seasonal)
    return _flagged(scored, params).unionByName(stuck_sensors(observations, params))


def _flagged(scored: DataFrame, params: AnomalyParams) -> DataFrame:
    candidates = []
    for m in params.metrics:
        value, excess = F.col(m), F.col(f"{m}__excess")
        candidates.append(
            F.struct(
                F.lit(m).alias("metric"),
                value.alias("value"),
                (value - excess).alias("baseline"),
                F.col(f"{m}__score").alias("score"),
                excess.alias("deviation"),
                F.col(f"{m}__seasonal").alias("seasonal_baseline"),
                F.col(f"{m}__seasonal_score").alias("seasonal_score"),
                F.col(f"{m}__scale").alias("local_scale"),
            )
        )
    flagged = scored.select(
        "city_id",
        "city",
        "ts",
        F.explode(F.filter(F.array(*candidates), lambda a: F.abs(a["score"]) >= params.threshold)).alias("a"),
    )
    a = F.col("a")
    return flagged.select(
        "city_id",
        "city",
        iso_utc("ts").alias("timestamp"),
        a["metric"].alias("metric"),
        a["value"].alias("value"),
        round_half_up(a["baseline"], 3).alias("baseline"),
        round_half_up(a["score"], 2).alias("score"),
        severity(F.abs(a["score"]), params).alias("severity"),
        F.lit(METHOD).alias("method"),
        round_half_up(a["deviation"], 3).alias("deviation"),
        round_half_up(a["seasonal_baseline"], 3).alias("seasonal_baseline"),
        round_half_up(a["seasonal_score"], 2).alias("seasonal_score"),
        round_half_up(a["local_scale"], 3).alias("local_scale"),
        F.hour("ts").alias("hour_of_day"),
    )


def stuck_sensors(observations: DataFrame, params: AnomalyParams = AnomalyParams()) -> DataFrame:
    """Runs of readings with every metric frozen for STUCK_HOURS or more: one row each (see above).

    Ordered by (hour_index, ts), the order the run's input is cached in, so the window sorts nothing."""
    observations = with_hour_index(observations)
    by_time = Window.partitionBy("city_id").orderBy("hour_index", "ts")
    same = None
    for m in params.metrics:
        equal = F.col(m).eqNullSafe(F.lag(m).over(by_time))
        same = equal if same is None else same & equal
    starts = F.when(F.coalesce(same, F.lit(False)), 0).otherwise(1)
    runs = observations.withColumn("run", F.sum(starts).over(by_time.rowsBetween(Window.unboundedPreceding, 0)))
    lasted = runs.groupBy("city_id", "run").agg(
        F.first("city").alias("city"),
        F.min("ts").alias("first_ts"),
        ((F.max(F.unix_micros("ts")) - F.min(F.unix_micros("ts"))) / 3.6e9).alias("hours"),
        F.count(F.lit(1)).alias("readings"),
        F.min_by("temperature", "ts").alias("value"),
    ).where((F.col("hours") >= STUCK_HOURS) & (F.col("readings") >= STUCK_READINGS))
    hours = F.col("hours")
    null = F.lit(None).cast("double")
    return lasted.select(
        "city_id",
        "city",
        iso_utc("first_ts").alias("timestamp"),
        F.lit("all").alias("metric"),
        F.col("value").alias("value"),
        null.alias("baseline"),
        round_half_up(hours, 2).alias("score"),
        F.when(hours >= 24, "extreme").when(hours >= 12, "severe").otherwise("moderate").alias("severity"),
        F.lit(STUCK_METHOD).alias("method"),
        null.alias("deviation"),
        null.alias("seasonal_baseline"),
        null.alias("seasonal_score"),
        null.alias("local_scale"),
        F.hour("first_ts").alias("hour_of_day"),
    )
