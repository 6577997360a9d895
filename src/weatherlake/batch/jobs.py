"""One batch run: raw lake -> batch views -> ``_LATEST``, in three steps.

1. **extract** (:func:`extracted`): read the ``raw/date=`` directories in the window once
   (explicit schema), tag every line, and cache the tagged rows for every view;
2. **compute the views** (:func:`compute_views`): each requested view's transform over
   the cached clean observations, written to ``analytics/<view>/run=<id>/``;
3. **publish** (:func:`publish_views`): replace each view's ``_LATEST``, prune old runs.

:func:`run` is the three in order; :func:`main` is the command line around it, which
spark-submit runs through the entry file ``batch/driver/analytics.py``::

    spark-submit --master 'local[*]' src/weatherlake/batch/driver/analytics.py \\
        --lake-uri file:///var/lib/weatherlake/weather_data --job all

    spark-submit --master spark://spark-master:7077 --driver-memory 2g \\
        /opt/venv/lib/python3.11/site-packages/weatherlake/batch/driver/analytics.py \\
        --lake-uri hdfs://namenode:8020/weather_data --job anomalies --from 2026-11-01 --to 2026-11-23

``--lake-uri`` defaults to ``LAKE_URL`` + ``LAKE_ROOT`` from the environment.
``--job`` is one of city_stats, hourly_trends, diurnal_profile, anomalies, all (or a
comma-separated list); ``--from/--to`` are inclusive UTC dates (default: all raw data).
``weatherlake analytics`` builds exactly this command line (see weatherlake.batch.submit).

Executors never run Python: every transform is a DataFrame expression evaluated in the
JVM, so a cluster's workers need no weatherlake package (the driver does). The last line
on stdout is ``WEATHERLAKE_RESULT {json}``, the run's figures, for the callers.
Exit status: 0 when the run finished (published, or nothing to read), 1 on failure.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date

from pyspark.sql import DataFrame, SparkSession

from weatherlake import logs
from weatherlake.batch import VIEWS, anomalies, city_stats, diurnal_profile, extract, forecast, gaps, hourly_trends
from weatherlake.batch.extract import InputStats
from weatherlake.batch.hadoopfs import SparkLake
from weatherlake.batch.publish import Publisher, Written, new_run_id
from weatherlake.batch.session import build_session
from weatherlake.config import Settings
from weatherlake.errors import WeatherlakeError
from weatherlake.scoring import METRICS
from weatherlake.timefmt import utc_now_seconds

log = logging.getLogger(__name__)

RESULT_MARKER = "WEATHERLAKE_RESULT "
DEFAULT_KEEP_RUNS = 3

#: view -> transform(clean observations, shared) where ``shared`` holds what two views
#: would otherwise each compute: the seasonal baseline per (city, hour of day), small, and
#: each city's hourly means, which the gap and forecast views start from.
#: (Caching the per-hour partial aggregates for hourly_trends and anomalies too was
#: measured: building that cache costs more than the second aggregation it saves.)
TRANSFORMS: dict[str, Callable[[DataFrame, dict], DataFrame]] = {
    "city_stats": lambda clean, shared: city_stats.transform(clean),
    "hourly_trends": lambda clean, shared: hourly_trends.transform(clean),
    "diurnal_profile": lambda clean, shared: diurnal_profile.transform(clean, seasonal=shared.get("seasonal")),
    "anomalies": lambda clean, shared: anomalies.transform(clean, seasonal=shared.get("seasonal")),
    "gaps": lambda clean, shared: gaps.gaps(clean, hourly=shared.get("hourly")),
    "hourly_filled": lambda clean, shared: gaps.filled(clean, hourly=shared.get("hourly")),
    "forecast": lambda clean, shared: _forecast_views(clean, shared)["forecast"],
    "forecast_skill": lambda clean, shared: _forecast_views(clean, shared)["forecast_skill"],
}


def _forecast_views(clean: DataFrame, shared: dict) -> dict:
    """Both forecast views from one backtest (kept in ``shared``, which the run unpersists)."""
    if "forecast" not in shared:
        rows, skill_rows, cached = forecast.views(clean, hourly=shared.get("hourly"))
        shared.update({"forecast": rows, "forecast_skill": skill_rows})
        shared.update({f"forecast-cache-{i}": frame for i, frame in enumerate(cached)})
    return shared


#: The views that start from each city's hourly means (read more than once even by one).
HOURLY_VIEWS = {"gaps", "hourly_filled", "forecast", "forecast_skill"}


class JobError(WeatherlakeError):
    """Bad job arguments (unknown view, inverted date range)."""


def parse_views(text: str) -> list[str]:
    """``all`` or a comma-separated list of view names -> views in canonical order."""
    names = {part.strip() for part in text.split(",") if part.strip()}
    if "all" in names:
        return list(VIEWS)
    unknown = sorted(names - set(VIEWS))
    if unknown or not names:
        raise JobError(f"unknown job {', '.join(unknown) or text!r}; choose from {', '.join(VIEWS)} or all")
    return [view for view in VIEWS if view in names]


def default_partitions(spark: SparkSession) -> int:
    """Partitions of the cached input: spark.sql.shuffle.partitions when set explicitly,
    else 4 per core (Spark's default of 200 is far too many tasks for a laptop, and with
    AQE off would be kept). Every view keeps this partitioning: nothing shuffles again."""
    configured = spark.sparkContext.getConf().get("spark.sql.shuffle.partitions")
    if configured:
        return int(configured)
    return max(2, 4 * spark.sparkContext.defaultParallelism)


@contextmanager
def extracted(
    spark: SparkSession, lake: SparkLake, dates: list[str], partitions: int
) -> Iterator[tuple[DataFrame, InputStats]]:
    """Step 1: the tagged rows of ``raw/<dates>`` and their counts; cached until the block ends.

    Counting is the first action on the tagged rows, so it also fills the cache that
    every view then reads.
    """
    raw = extract.read_raw(spark, lake.uri(extract.RAW_DIR), dates)
    tagged = extract.tag(raw, partitions).persist()
    try:
        yield tagged, extract.input_stats(tagged, dates=len(dates))
    finally:
        tagged.unpersist()


def compute_views(clean: DataFrame, views: list[str], publisher: Publisher) -> list[Written]:
    """Step 2: compute each view from the clean observations and write it to its run directory.

    Nothing is published yet: a run that fails halfway leaves only unpublished directories.
    """
    shared: dict[str, DataFrame] = {}
    if {"diurnal_profile", "anomalies"} <= set(views):
        shared["seasonal"] = diurnal_profile.seasonal_baseline(clean).cache()  # small: cities x 24 rows
    if HOURLY_VIEWS & set(views):
        shared["hourly"] = extract.hourly_means(clean, METRICS).cache()
    try:
        written = []
        for view in views:
            done = publisher.write(view, TRANSFORMS[view](clean, shared))
            written.append(done)
            log.info("run %s: %s: %d rows in %s (%.1f s)", publisher.run_id, view, done.rows, done.path, done.seconds)
        return written
    finally:
        for frame in shared.values():
            frame.unpersist()


def publish_views(publisher: Publisher, written: list[Written], run_figures: dict, keep_runs: int) -> dict[str, dict]:
    """Step 3: point each written view's ``_LATEST`` at its run directory, then prune its old runs.

    ``run_figures`` are what every ``_LATEST`` of the run shares: ``cutoff``, ``window``,
    ``input``, ``started_at``, ``duration_seconds``. Returns, per view, what the run wrote
    and whether it was published (not when a newer run has published already).
    """
    views = {}
    for done in written:
        pointer = {
            "view": done.view,
            "run_id": publisher.run_id,
            "path": done.path,
            "format": "jsonl",
            "rows": done.rows,
            **run_figures,
            "published_at": utc_now_seconds(),
        }
        published = publisher.publish(done.view, pointer)
        views[done.view] = {"path": done.path, "rows": done.rows, "seconds": round(done.seconds, 3),
                            "published": published}
        publisher.prune(done.view, keep_runs)
    return views


def run(
    spark: SparkSession,
    lake_uri: str,
    views: list[str],
    date_from: str | None = None,
    date_to: str | None = None,
    *,
    keep_runs: int = DEFAULT_KEEP_RUNS,
    run_id: str | None = None,
    partitions: int | None = None,
) -> dict:
    """One batch run over ``lake_uri``: extract, compute the views, publish.

    Returns the run's figures (also written into each ``_LATEST``); ``status`` is
    ``published``, or ``no_input`` when the window holds no valid observation.
    """
    if date_from and date_to and date_from > date_to:
        raise JobError(f"--from {date_from} is after --to {date_to}")
    started, started_at = time.monotonic(), utc_now_seconds()
    run_id = run_id or new_run_id()
    lake = SparkLake(spark, lake_uri)
    publisher = Publisher(lake, run_id)
    window = {"from": date_from, "to": date_to}
    result: dict = {"run_id": run_id, "lake": lake.url, "window": window, "views": {}, "started_at": started_at}

    def elapsed() -> float:
        return round(time.monotonic() - started, 3)

    dates = extract.select_dates(lake.list(extract.RAW_DIR), date_from, date_to)
    log.info("run %s: reading %d date directories under %s (from %s to %s)", run_id, len(dates),
             lake.uri(extract.RAW_DIR), date_from or "the start", date_to or "the end")
    if not dates:
        log.warning("run %s: no raw data in the window; nothing published", run_id)
        return {**result, "status": "no_input", "cutoff": None, "input": None, "duration_seconds": elapsed()}

    with extracted(spark, lake, dates, partitions or default_partitions(spark)) as (tagged, stats):
        log.info(
            "run %s: %d records: %d accepted, %d malformed, %d impossible, %d duplicates; cutoff %s (%.1f s)",
            run_id, stats.records, stats.accepted, stats.malformed, stats.impossible, stats.duplicates,
            stats.cutoff, elapsed(),
        )
        result.update(cutoff=stats.cutoff, input=stats.as_dict())
        if stats.accepted == 0:
            log.warning("run %s: no valid observation in the window; nothing published", run_id)
            return {**result, "status": "no_input", "duration_seconds": elapsed()}
        written = compute_views(extract.observations(tagged), views, publisher)

    run_figures = {"cutoff": stats.cutoff, "window": window, "input": stats.as_dict(), "started_at": started_at,
                   "duration_seconds": elapsed()}
    result["views"] = publish_views(publisher, written, run_figures, keep_runs)
    result.update(status="published", duration_seconds=elapsed())
    log.info("run %s: published %s in %.1f s", run_id, ", ".join(result["views"]), result["duration_seconds"])
    return result


def _date(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date like 2026-11-23: {text!r}") from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Recompute weatherlake's batch views with Spark.")
    parser.add_argument("--lake-uri", help="Spark URI of the lake root [default: LAKE_URL + LAKE_ROOT]")
    parser.add_argument("--job", default="all", help=f"{' | '.join(VIEWS)} | all, or a comma-separated list")
    parser.add_argument("--from", dest="date_from", type=_date, help="first UTC date to read (inclusive)")
    parser.add_argument("--to", dest="date_to", type=_date, help="last UTC date to read (inclusive)")
    parser.add_argument("--keep-runs", type=int, default=DEFAULT_KEEP_RUNS, help="runs kept per view")
    parser.add_argument("--partitions", type=int,
                        help="partitions of the cached input [default: spark.sql.shuffle.partitions if set, else 4 per core]")
    parser.add_argument("--run-id", help="use this run id (tests); default: start time + random suffix")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    args = parser.parse_args(argv)
    if args.keep_runs < 1:
        parser.error("--keep-runs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """The spark-submit program: one run; its figures on stdout, after :data:`RESULT_MARKER`."""
    args = parse_args(argv)
    logs.configure(args.log_level)
    try:
        views = parse_views(args.job)
        lake_uri = args.lake_uri or Settings.from_env().lake_uri
        spark = build_session(f"weatherlake-analytics-{args.job}")
        try:
            result = run(spark, lake_uri, views, args.date_from, args.date_to, keep_runs=args.keep_runs,
                         run_id=args.run_id, partitions=args.partitions)
        finally:
            spark.stop()
    except WeatherlakeError as error:
        log.error("%s", error)
        return 1
    except Exception as error:  # a Spark failure: one readable line, the JVM trace only at DEBUG
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        log.error("run failed: %s: %s", type(error).__name__, first_line[:2000],
                  exc_info=log.isEnabledFor(logging.DEBUG))
        return 1
    print(RESULT_MARKER + json.dumps(result, sort_keys=True), flush=True)
    return 0
