"""Benchmark the forecast views alone at many cities: how far the broadcast origins scale.

    .venv/bin/python benchmarks/bench_forecast.py                   # 1,000 and 10,000 cities
    .venv/bin/python benchmarks/bench_forecast.py --cities 20000 --driver-memory 8g

The forecast reads only each city's newest 45 days of hourly means
(``weatherlake.batch.forecast.HISTORY_HOURS``), so this script skips the raw data: it
generates those hourly means in Spark (a daily cycle, a slow pressure swing and noise
per city; every hour present), caches them, and times ``forecast.views`` writing both
views (``forecast`` and ``forecast_skill``) to Spark's ``noop`` sink, one local session
per size. The backtest's origins (cities x 4 metrics x 120) are broadcast to the
targets; at 10,000 cities that is 4.8 million rows held by the driver, which is what
this measures. Prints one line per size; the figures in docs/batch.md come from it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pyspark.sql import functions as F  # noqa: E402

from weatherlake.batch import forecast  # noqa: E402
from weatherlake.batch.session import build_session  # noqa: E402
from weatherlake.scoring import METRICS  # noqa: E402

#: The first hour index of the generated history (2025-11-24): any hour will do.
START_HOUR = 490_000


def hourly_means(spark, cities: int):
    """``city_id``, ``hour_index`` and the four metrics' means for the newest 45 days."""
    hours = forecast.HISTORY_HOURS
    grid = spark.range(cities * hours).select(
        F.format_string("c%05d", (F.col("id") / hours).cast("int")).alias("city_id"),
        (F.lit(START_HOUR) + F.col("id") % hours).alias("hour_index"))
    day = 6.283 * ((F.col("hour_index") % 24) - 9) / 24
    place = F.expr("pmod(hash(city_id), 1000)") / 1000.0
    return grid.select(
        "city_id", "hour_index",
        (10 + 10 * place + 6 * F.sin(day) + 2 * F.randn(1)).alias("temperature"),
        (70 - 15 * F.sin(day) + 5 * F.randn(2)).alias("humidity"),
        (1013 + 5 * F.sin(F.col("hour_index") / 97.0) + F.randn(3)).alias("pressure"),
        F.abs(4 + 2 * F.randn(4)).alias("wind_speed"),
    ).select("city_id", "hour_index", *METRICS)


def run(cities: int, driver_memory: str) -> None:
    spark = build_session("bench-forecast", master="local[2]", conf={
        "spark.driver.memory": driver_memory, "spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "8"})
    try:
        hourly = hourly_means(spark, cities).cache()
        rows = hourly.count()
        names = spark.range(cities).select(F.format_string("c%05d", F.col("id").cast("int")).alias("city_id"),
                                           F.format_string("City %d", F.col("id").cast("int")).alias("city"))
        started = time.monotonic()
        rows_out, skill_rows, cached = forecast.views(names, hourly)
        skill_rows.write.format("noop").mode("overwrite").save()
        rows_out.write.format("noop").mode("overwrite").save()
        seconds = time.monotonic() - started
        for frame in (*cached, hourly):
            frame.unpersist()
        print(f"{cities:>7,} cities  {rows:>11,} hourly rows  forecast + forecast_skill {seconds:7.1f} s", flush=True)
    finally:
        spark.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cities", default="1000,10000", help="comma-separated city counts (default: 1000,10000)")
    parser.add_argument("--driver-memory", default="4g", help="Spark driver memory (default: 4g, as the analytics)")
    args = parser.parse_args()
    print(f"local[2], driver {args.driver_memory}, {forecast.HISTORY_HOURS} hours of hourly means per city")
    for cities in (int(n) for n in args.cities.split(",")):
        run(cities, args.driver_memory)


if __name__ == "__main__":
    main()
