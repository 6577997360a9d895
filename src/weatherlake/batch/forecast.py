"""The ``forecast`` and ``forecast_skill`` views: the next 48 hours from the lake's own
history, shown only where the method beats persistence and climatology.

**The method** (``damped_anomaly``). For a city and metric, the *climatology* of an hour
is the mean of the same hour of day over the :data:`CLIMATE_DAYS` days before the forecast
is issued; the *anomaly* is how far the last observation is from its climatology. The
forecast for ``h`` hours ahead is the target hour's climatology plus ``beta_h`` times the
anomaly: today's warm spell fades into the usual day at the rate the city's history
shows, ``beta_h`` being the least-squares slope of later departures on earlier ones.

**Its skill is measured, not claimed.** A rolling-origin backtest over each city's last
:data:`BACKTEST_DAYS` days issues a forecast every :data:`ORIGIN_STEP` hours from what was
known then; the slopes are fitted on the earlier half of those origins and judged on the
later half against persistence (the last observation) and climatology (the target hour's
mean), by mean absolute error per horizon: ``forecast_skill`` (``city_id``, ``metric``,
``horizon_hours``, ``mae``, ``mae_persistence``, ``mae_climatology``, ``samples``).

Both views read each city's newest :data:`HISTORY_HOURS` only (the backtest's days and
the climatology behind them): older history changes neither, and a year of data costs
little more than two months. A metric a city has not reported within them gets no
forecast.

``forecast`` rows (``city_id``, ``city``, ``metric``, ``issued_at``, ``target_time``,
``horizon_hours``, ``value``, ``lower``, ``upper``, ``method``) start from each city's last
hour with data and exist only for the horizons where ``mae`` is below both others; the
band is the 10th and 90th percentiles of the backtest's errors at that horizon.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from weatherlake.batch.extract import city_names, hourly_means, iso_hour, round_half_up
from weatherlake.scoring import METRICS
from weatherlake.views import DECIMALS

HORIZONS = 48
#: Days of the same hour of day a climatology averages.
CLIMATE_DAYS = 14
#: Days of each city's newest history the backtest issues forecasts over.
BACKTEST_DAYS = 30
#: Hours between the backtest's forecasts.
ORIGIN_STEP = 6
METHOD = "damped_anomaly"
#: Percentiles of the backtest's errors that bound the published band.
BAND = (0.1, 0.9)
#: Hours of each city's newest history the views read: the backtest's days, and the
#: climatology's days (plus one) before the first of them.
HISTORY_HOURS = 24 * (BACKTEST_DAYS + CLIMATE_DAYS + 1)


def _long_hourly(hourly: DataFrame) -> DataFrame:
    """(city_id, newest, hour_index, metric, value, clim_day, clim_two_days) over each city's
    newest :data:`HISTORY_HOURS`: the hour's mean, and the mean of the same hour of day over
    CLIMATE_DAYS days ending one and two days before it."""
    newest = hourly.groupBy("city_id").agg(F.max("hour_index").alias("newest"))
    recent = hourly.join(F.broadcast(newest), "city_id").where(F.col("hour_index") > F.col("newest") - HISTORY_HOURS)
    # The climatologies on the hourly rows, every metric in one window, before one row per metric.
    same_hour = Window.partitionBy("city_id", F.col("hour_index") % 24).orderBy("hour_index")
    climates = recent.select("city_id", "newest", "hour_index", *[F.struct(
        F.lit(m).alias("metric"), F.col(m).alias("value"),
        F.avg(m).over(same_hour.rangeBetween(-24 * CLIMATE_DAYS, -24)).alias("clim_day"),
        F.avg(m).over(same_hour.rangeBetween(-24 * (CLIMATE_DAYS + 1), -48)).alias("clim_two_days"),
    ).alias(m) for m in METRICS])
    return climates.select("city_id", "newest", "hour_index", F.explode(F.array(*METRICS)).alias("m")).select(
        "city_id", "newest", "hour_index", "m.*")


def _pairs(long: DataFrame) -> DataFrame:
    """Backtest pairs: per origin (every ORIGIN_STEP hours of each city's last BACKTEST_DAYS)
    and horizon, the anomaly at the origin, the target's climatology as known at the origin,
    persistence and the truth; ``late`` marks the later half of the origins."""
    origins = long.where(
        (F.col("hour_index") > F.col("newest") - 24 * BACKTEST_DAYS) & (F.col("hour_index") % ORIGIN_STEP == 0)
        & F.col("clim_day").isNotNull()
    ).select("city_id", "metric", F.col("hour_index").alias("origin"), F.col("value").alias("persistence"),
             (F.col("value") - F.col("clim_day")).alias("anomaly"),
             (F.col("hour_index") > F.col("newest") - 12 * BACKTEST_DAYS).alias("late"))
    # Each target hour meets the origins within HORIZONS hours before it: the horizons
    # congruent to it modulo ORIGIN_STEP. The targets stream past the origins, which are
    # few (cities x metrics x origins) and broadcast: the pairs are never shuffled.
    first_horizon = (F.col("hour_index") - 1) % ORIGIN_STEP + 1
    targets = long.where(F.col("hour_index") > F.col("newest") - 24 * BACKTEST_DAYS).select(
        "city_id", "metric", F.col("hour_index").alias("target"), F.col("value").alias("truth"), "clim_day",
        "clim_two_days", F.explode(F.sequence(first_horizon, F.lit(HORIZONS), F.lit(ORIGIN_STEP))).alias("horizon"))
    return targets.withColumn("origin", F.col("target") - F.col("horizon")).join(
        F.broadcast(origins), ["city_id", "metric", "origin"]).select(
        "city_id", "metric", "origin", "horizon", "late", "persistence", "anomaly", "truth",
        F.when(F.col("horizon") <= 24, F.col("clim_day")).otherwise(F.col("clim_two_days")).alias("climatology"),
    ).where(F.col("climatology").isNotNull())


def slopes(pairs: DataFrame) -> DataFrame:
    """Per (city, metric, horizon), beta (later departures on earlier ones, through the
    origin; null when every anomaly was 0): ``beta_fit`` from the earlier origins, for the
    backtest to judge, and ``beta`` from all of them, for the published forecast."""
    departure = F.col("truth") - F.col("climatology")

    def beta(rows: Column) -> Column:
        return F.try_divide(F.sum(F.when(rows, F.col("anomaly") * departure)),
                            F.sum(F.when(rows, F.col("anomaly") ** 2)))

    return pairs.groupBy("city_id", "metric", "horizon").agg(
        beta(~F.col("late")).alias("beta_fit"), beta(F.lit(True)).alias("beta"))


def skill(pairs: DataFrame, fitted: DataFrame) -> DataFrame:
    """Per (city, metric, horizon): the MAE of the method (:func:`slopes`' ``beta_fit``)
    and of its two rivals over the later origins, and the error percentiles."""
    judged = pairs.where("late").join(F.broadcast(fitted), ["city_id", "metric", "horizon"]).select(
        "*", (F.col("climatology") + F.coalesce(F.col("beta_fit"), F.lit(0.0)) * F.col("anomaly")
              - F.col("truth")).alias("error"))
    # Rounded here: the published figures are the ones the choice of horizons is made on.
    scored = judged.groupBy("city_id", "metric", "horizon").agg(
        round_half_up(F.avg(F.abs("error")), DECIMALS).alias("mae"),
        round_half_up(F.avg(F.abs(F.col("persistence") - F.col("truth"))), DECIMALS).alias("mae_persistence"),
        round_half_up(F.avg(F.abs(F.col("climatology") - F.col("truth"))), DECIMALS).alias("mae_climatology"),
        F.count(F.lit(1)).alias("samples"),
        F.sort_array(F.collect_list("error")).alias("errors"),
    )
    # The band's ends: the errors of rank ceil(p * n) of n (nearest rank; a few dozen a
    # horizon, where an approximate percentile's sketch costs more than sorting them).
    rank = [F.greatest(F.lit(1), F.ceil(F.lit(p) * F.col("samples"))).cast("int") for p in BAND]
    return scored.select("*", F.array(*[F.element_at("errors", r) for r in rank]).alias("error_band")).drop("errors")


def views(observations: DataFrame, hourly: DataFrame | None = None) -> tuple[DataFrame, DataFrame, list[DataFrame]]:
    """Pure transform: clean observations -> (forecast rows, forecast_skill rows, the frames
    it cached for both, to unpersist when they are written). ``hourly``: the observations'
    :func:`~weatherlake.batch.extract.hourly_means`, when the caller has them."""
    long = _long_hourly(hourly if hourly is not None else hourly_means(observations, METRICS)).cache()
    pairs = _pairs(long)
    fitted = slopes(pairs).cache()
    scored = skill(pairs, fitted).cache()
    newest = long.where(F.col("value").isNotNull()).groupBy("city_id", "metric").agg(
        F.max("hour_index").alias("issued"))
    last = long.join(newest, ["city_id", "metric"]).where(F.col("hour_index") == F.col("issued")).select(
        "city_id", "metric", "issued", (F.col("value") - F.col("clim_day")).alias("anomaly"))
    # The target hour's climatology at the issue time: the same hour of day over the CLIMATE_DAYS days up to it.
    recent = long.join(newest, ["city_id", "metric"]).where(
        (F.col("hour_index") > F.col("issued") - 24 * CLIMATE_DAYS) & (F.col("hour_index") <= F.col("issued")))
    climate = recent.groupBy(F.col("city_id").alias("climate_city"), F.col("metric").alias("climate_metric"),
                             (F.col("hour_index") % 24).alias("hour_of_day")).agg(F.avg("value").alias("climatology"))
    ahead = last.select("*", F.explode(F.sequence(F.lit(1), F.lit(HORIZONS))).alias("horizon")).withColumn(
        "target", F.col("issued") + F.col("horizon"))
    shown = scored.where((F.col("mae") < F.col("mae_persistence")) & (F.col("mae") < F.col("mae_climatology")))
    value = F.col("climatology") + F.coalesce(F.col("beta"), F.lit(0.0)) * F.col("anomaly")
    forecast = ahead.join(climate, (F.col("city_id") == F.col("climate_city")) & (F.col("metric") == F.col(
        "climate_metric")) & (F.col("hour_of_day") == F.col("target") % 24)).join(
        fitted, ["city_id", "metric", "horizon"]).join(shown, ["city_id", "metric", "horizon"]).select(
        "city_id", "metric", iso_hour("issued").alias("issued_at"), iso_hour("target").alias(
            "target_time"), F.col("horizon").alias("horizon_hours"),
        round_half_up(value, DECIMALS).alias("value"),
        round_half_up(value + F.col("error_band")[0], DECIMALS).alias("lower"),
        round_half_up(value + F.col("error_band")[1], DECIMALS).alias("upper"),
        F.lit(METHOD).alias("method"))
    names = F.broadcast(city_names(observations))
    skill_rows = scored.join(names, "city_id").select(
        "city_id", "city", "metric", F.col("horizon").alias("horizon_hours"),
        "mae", "mae_persistence", "mae_climatology", "samples")
    return forecast.join(names, "city_id").select("city_id", "city", *forecast.columns[1:]), skill_rows, [long, fitted, scored]
