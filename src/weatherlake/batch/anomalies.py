"""The ``anomalies`` view: observations that are extreme for their place and time.

Each observation's temperature, humidity, pressure and wind speed is judged twice, with
robust statistics only (medians and median absolute deviations, never a mean and a
standard deviation that the outliers themselves inflate):

1. **Seasonal baseline** -- what is normal for this city at this hour of day: the median
   of the metric over the window for (city, UTC hour of day), and its MAD. The deviation
   from it, ``dev``, takes the daily cycle out: a warm afternoon is not unusual.
2. **Local context** -- the neighbouring hours. For the ``context_hours`` (3) clock
   hours before and the 3 after, take the median of their hourly mean ``dev`` on each
   side. The observation's *excess* is how far it sticks out beyond *both* sides: zero
   when it lies between them (a front moving through, a ramp), the smaller of the two
   gaps when it is above both or below both (a spike). A week-long cold spell moves the
   neighbours with it, so it is weather, not 168 anomalies; a sudden warm hour in the
   night sticks out of both sides, however much that city's nights vary from day to day.

The score is ``excess / scale``, where ``scale`` is 1.4826 x the city's median absolute
one-sided gap (a robust standard deviation of hour-to-hour change), guarded by a floor
per metric (:data:`MIN_SCALE`) so that a perfectly steady series (MAD 0) cannot make a
tiny wobble infinitely significant. An observation is flagged at ``|score| >= 4``;
severity is ``moderate`` below 6, ``severe`` below 10, ``extreme`` from 10.

An observation needs data on both sides (within 3 hours) to be judged: the newest hours
before the cutoff are judged by the next run, once the hours after them are in the lake.

Rows: ``city_id``, ``city``, ``timestamp``, ``metric``, ``value``, ``baseline`` (the
value expected from the hour of day and the neighbouring hours), ``score``, ``severity``,
``method``, plus ``deviation`` (value - baseline), ``seasonal_baseline`` and
``seasonal_score`` (against the hour-of-day median and MAD alone), ``local_scale`` and
``hour_of_day``.

:func:`global_three_sigma` keeps the original template's rule (mean +- 3 standard
deviations per city over the whole window) for comparison only; it is not published: it
flags every hour of a cold spell and misses a night-time spike (docs/batch.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from weatherlake.batch.extract import METRICS, iso_utc
from weatherlake.batch.hourly_trends import hour_index

METHOD = "seasonal_mad_local_context"
GLOBAL_METHOD = "global_3sigma"
MAD_TO_SIGMA = 1.4826  # MAD x this estimates the standard deviation of normal data

#: The smallest scale a score is measured against, per metric (units of the metric):
#: with the default threshold of 4, a change under 4x this is never an anomaly.
MIN_SCALE: dict[str, float] = {"temperature": 0.5, "humidity": 2.5, "pressure": 0.5, "wind_speed": 1.0}

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


@dataclass(frozen=True)
class AnomalyParams:
    threshold: float = 4.0
    severe: float = 6.0
    extreme: float = 10.0
    context_hours: int = 3
    metrics: tuple[str, ...] = METRICS
    min_scale: dict[str, float] = field(default_factory=lambda: dict(MIN_SCALE))


def _median3(values: list[Column]) -> Column:
    """Median of up to three nullable values: of those present (mean of two), null if none."""
    a, b, c = values
    present = sum(F.when(v.isNotNull(), 1).otherwise(0) for v in values)
    total = F.coalesce(a, F.lit(0.0)) + F.coalesce(b, F.lit(0.0)) + F.coalesce(c, F.lit(0.0))
    return (
        F.when(present == 3, F.greatest(F.least(a, b), F.least(F.greatest(a, b), c)))
        .when(present == 2, total / 2)
        .when(present == 1, total)
    )


def _median_any(values: list[Column]) -> Column:
    if len(values) == 3:
        return _median3(values)
    # Other context widths: exact median of the non-null values through a sorted array.
    present = F.filter(F.array(*values), lambda v: v.isNotNull())
    ordered = F.array_sort(present)
    n = F.size(ordered)
    low = F.element_at(ordered, F.floor((n + 1) / 2).cast("int"))
    high = F.element_at(ordered, F.floor(n / 2).cast("int") + 1)
    return F.when(n > 0, (low + high) / 2)


def _excess(dev: Column, before: Column, after: Column) -> Column:
    """How far ``dev`` sticks out beyond both sides (signed); 0 when between; null if a side is missing."""
    gap_before, gap_after = dev - before, dev - after
    smaller = F.when(F.abs(gap_before) <= F.abs(gap_after), gap_before).otherwise(gap_after)
    return F.when(before.isNull() | after.isNull(), F.lit(None)).when(gap_before * gap_after > 0, smaller).otherwise(0.0)


def score(observations: DataFrame, params: AnomalyParams = AnomalyParams()) -> DataFrame:
    """Pure transform: every observation with, per metric m, its ``m__score`` and parts.

    Columns per metric: ``m__seasonal`` (hour-of-day median), ``m__seasonal_score``,
    ``m__excess``, ``m__scale``, ``m__score`` (null where there is no context).
    """
    metrics = params.metrics
    base = observations.select(
        "city_id", "city", "ts", F.hour("ts").alias("_hod"), hour_index().alias("_hour"), *metrics
    )
    # 1. Seasonal baseline: exact median and MAD per (city, hour of day). Small tables,
    # broadcast back, so the big side is never shuffled.
    medians = base.groupBy("city_id", "_hod").agg(*[F.median(m).alias(f"{m}__seasonal") for m in metrics])
    with_dev = base.join(F.broadcast(medians), ["city_id", "_hod"]).select(
        "*", *[(F.col(m) - F.col(f"{m}__seasonal")).alias(f"{m}__dev") for m in metrics]
    )
    mads = with_dev.groupBy("city_id", "_hod").agg(
        *[F.median(F.abs(f"{m}__dev")).alias(f"{m}__mad") for m in metrics]
    )
    seasonal = with_dev.join(F.broadcast(mads), ["city_id", "_hod"])

    # 2. Local context: hourly mean deviation k hours before and after, per side a median.
    timeline = Window.partitionBy("city_id").orderBy("_hour")
    k_hours = range(1, params.context_hours + 1)
    context = []
    for m in metrics:
        dev = F.col(f"{m}__dev")
        before = _median_any([F.avg(dev).over(timeline.rangeBetween(-k, -k)) for k in k_hours])
        after = _median_any([F.avg(dev).over(timeline.rangeBetween(k, k)) for k in k_hours])
        context += [(dev - before).alias(f"{m}__gap_before"), (dev - after).alias(f"{m}__gap_after")]
        context.append(_excess(dev, before, after).alias(f"{m}__excess"))
    local = seasonal.select("*", *context)

    # 3. Scale of ordinary hour-to-hour change per city, from the one-sided gaps.
    city = Window.partitionBy("city_id")
    scored = local.select(
        "*",
        *[
            F.greatest(
                F.lit(MAD_TO_SIGMA)
                * (F.median(F.abs(f"{m}__gap_before")).over(city) + F.median(F.abs(f"{m}__gap_after")).over(city))
                / 2,
                F.lit(params.min_scale[m]),
            ).alias(f"{m}__scale")
            for m in metrics
        ],
    )
    return scored.select(
        "*",
        *[(F.col(f"{m}__excess") / F.col(f"{m}__scale")).alias(f"{m}__score") for m in metrics],
        *[
            (
                F.col(f"{m}__dev")
                / F.greatest(F.lit(MAD_TO_SIGMA) * F.col(f"{m}__mad"), F.lit(params.min_scale[m]))
            ).alias(f"{m}__seasonal_score")
            for m in metrics
        ],
    )


def severity(abs_score: Column, params: AnomalyParams) -> Column:
    return (
        F.when(abs_score >= params.extreme, "extreme")
        .when(abs_score >= params.severe, "severe")
        .otherwise("moderate")
    )


def transform(observations: DataFrame, params: AnomalyParams = AnomalyParams()) -> DataFrame:
    """Pure transform: clean observations -> anomalies rows (one per flagged metric)."""
    scored = score(observations, params)
    flagged_any = F.lit(False)
    for m in params.metrics:
        flagged_any = flagged_any | (F.abs(F.col(f"{m}__score")) >= params.threshold)
    candidates = []
    for m in params.metrics:
        value, excess, s = F.col(m), F.col(f"{m}__excess"), F.col(f"{m}__score")
        candidates.append(
            F.struct(
                F.lit(m).alias("metric"),
                value.alias("value"),
                (value - excess).alias("baseline"),
                s.alias("score"),
                excess.alias("deviation"),
                F.col(f"{m}__seasonal").alias("seasonal_baseline"),
                F.col(f"{m}__seasonal_score").alias("seasonal_score"),
                F.col(f"{m}__scale").alias("local_scale"),
            )
        )
    exploded = scored.where(flagged_any).select(
        "city_id",
        "city",
        "ts",
        "_hod",
        F.explode(
            F.filter(F.array(*candidates), lambda a: F.abs(a["score"]) >= params.threshold)
        ).alias("a"),
    )
    a = F.col("a")
    return exploded.select(
        "city_id",
        "city",
        iso_utc("ts").alias("timestamp"),
        a["metric"].alias("metric"),
        a["value"].alias("value"),
        F.round(a["baseline"], 3).alias("baseline"),
        F.round(a["score"], 2).alias("score"),
        severity(F.abs(a["score"]), params).alias("severity"),
        F.lit(METHOD).alias("method"),
        F.round(a["deviation"], 3).alias("deviation"),
        F.round(a["seasonal_baseline"], 3).alias("seasonal_baseline"),
        F.round(a["seasonal_score"], 2).alias("seasonal_score"),
        F.round(a["local_scale"], 3).alias("local_scale"),
        F.col("_hod").alias("hour_of_day"),
    )


def global_three_sigma(observations: DataFrame, sigmas: float = 3.0, metrics: tuple[str, ...] = METRICS) -> DataFrame:
    """The template's rule, for comparison only: |value - city mean| > 3 city standard deviations.

    Rows like :func:`transform`'s (``baseline`` = the city's mean, ``score`` = z-score).
    """
    city = Window.partitionBy("city_id")
    rows = []
    for m in metrics:
        mean, std = F.avg(m).over(city), F.stddev_samp(m).over(city)
        z = F.when(std > 0, (F.col(m) - mean) / std)
        rows.append(
            observations.select(
                "city_id",
                "city",
                iso_utc("ts").alias("timestamp"),
                F.lit(m).alias("metric"),
                F.col(m).alias("value"),
                F.round(mean, 3).alias("baseline"),
                F.round(z, 2).alias("score"),
            ).where(F.abs("score") > sigmas)
        )
    out = rows[0]
    for part in rows[1:]:
        out = out.unionByName(part)
    return out.withColumn("method", F.lit(GLOBAL_METHOD))
