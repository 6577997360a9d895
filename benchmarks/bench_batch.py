"""Benchmark the batch layer: one year of hourly observations for 1,000 cities.

    .venv/bin/python benchmarks/bench_batch.py                 # full size and 1/10
    .venv/bin/python benchmarks/bench_batch.py --sizes 0.1     # 1/10 only
    .venv/bin/python benchmarks/bench_batch.py --keep          # reuse generated data next time
    .venv/bin/python benchmarks/bench_batch.py --sizes 0.1 --lakes local,hdfs   # also from HDFS

For each size it generates schema-v1 JSON Lines in the lake layout
(``raw/date=YYYY-MM-DD/weather.observations+<p>+<first>+<last>.jsonl``, about 450 bytes
a record, written by Spark itself so generation is quick), then:

* runs every view exactly as ``weatherlake analytics --job all`` does: one spark-submit
  with ``--master local[N]`` (total wall seconds, JVM start included, and the job's own
  per-view seconds);
* times a plain Spark scan of the same files in a separate local session: ``count()``
  (lines, no JSON parsing) and a parse of every field (the ceiling: no job can read
  the raw data faster than that).

With ``--lakes hdfs`` the same files are also copied into a real HDFS (a NameNode and a
DataNode started from their Maven jars in a temporary directory, as ``weatherlake
engines`` runs them) and both measurements are repeated with the lake at ``hdfs://``:
Spark reads and writes through its bundled Hadoop client, as the lake's user.

Prints a table; the figures in docs/batch.md come from this script.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

TOPIC = "weather.observations"
START = "2025-01-01 00:00:00"
SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "da", "pe", "bu", "go", "hi", "ja", "wu"]
COUNTRIES = ["gb", "fr", "de", "es", "it", "us", "br", "jp", "in", "au", "za", "ca"]


def generate(spark, raw_dir: Path, cities: int, hours: int, files_per_day: int = 1) -> int:
    """Write ``cities * hours`` records into ``raw_dir/date=*/`` with sink-style names."""
    from pyspark.sql import functions as F

    n = cities * hours
    tasks = max(1, (hours // 24) * files_per_day // 15)  # about 15 days of data per task
    two_pi = 6.283185307179586
    ids = spark.range(0, n, numPartitions=tasks)
    c = F.col("id") % cities
    h = (F.col("id") / cities).cast("long")
    ts = F.timestamp_seconds(F.unix_timestamp(F.lit(START)) + h * 3600)
    lon = (c * 7.3) % 360 - 180
    lat = (c * 3.1) % 140 - 70
    day_of_year = F.dayofyear(ts)
    local_hour = (F.hour(ts) + lon / 15 + 24) % 24
    temperature = (
        12
        + 10 * F.sin(two_pi * (day_of_year - 110) / 365)
        + 5 * F.sin(two_pi * (local_hour - 9) / 24)
        + 3 * F.sin(two_pi * h / (24 * (4 + c % 7)) + c)
        + F.randn(7) * 0.6
    )
    humidity = F.least(F.greatest(70 - 2 * (temperature - 12) + F.randn(8) * 6, F.lit(5.0)), F.lit(100.0))
    pressure = 1013 + 8 * F.sin(two_pi * h / (24 * (3 + c % 5)) + c) + F.randn(9) * 0.4
    wind = F.abs(4 + 2 * F.sin(two_pi * h / (24 * (2 + c % 3))) + F.randn(10))
    rain = F.when(F.rand(11) < 0.08, F.round(F.rand(12) * 3, 2)).otherwise(F.lit(0.0))
    iso = "yyyy-MM-dd'T'HH:mm:ss'Z'"
    # Slugs like real ones ("kalomi-gb"): distinct from their first letters on.
    syllables = F.array(*[F.lit(x) for x in SYLLABLES])
    name = F.concat(*[F.element_at(syllables, ((c / 16**k).cast("int") % 16 + 1).cast("int")) for k in range(3)])
    country = F.element_at(F.array(*[F.lit(x) for x in COUNTRIES]), (c % len(COUNTRIES) + 1).cast("int"))
    records = ids.select(
        F.lit(1).alias("schema_version"),
        F.concat(name, F.lit("-"), country).alias("city_id"),
        F.initcap(name).alias("city"),
        F.upper(country).alias("country"),
        F.round(lat, 4).alias("latitude"),
        F.round(lon, 4).alias("longitude"),
        F.date_format(ts, iso).alias("timestamp"),
        F.date_format(ts + F.expr("INTERVAL 5 SECONDS"), "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'").alias("ingested_at"),
        F.lit("synthetic").alias("source"),
        F.round(temperature, 2).alias("temperature"),
        F.round(temperature - 0.7, 2).alias("feels_like"),
        F.round(humidity, 1).alias("humidity"),
        F.round(pressure, 1).alias("pressure"),
        F.round(wind, 2).alias("wind_speed"),
        F.round(F.rand(13) * 360, 1).alias("wind_direction"),
        F.round(F.rand(14) * 100, 1).alias("cloudiness"),
        rain.alias("rainfall"),
        F.lit("Clouds").alias("weather_main"),
        F.lit("broken clouds").alias("weather_description"),
        F.round(temperature - 4, 2).alias("dew_point"),
        F.lit(None).cast("double").alias("heat_index"),
        F.lit(None).cast("double").alias("wind_chill"),
        F.to_date(ts).alias("date"),
    )
    staging = raw_dir.parent / "_generating"
    records.write.mode("overwrite").option("ignoreNullFields", "false").partitionBy("date").json(staging.as_uri())
    # Sink-style names: <topic>+<partition>+<first offset>+<last offset>.jsonl.
    offset = 0
    for day_dir in sorted(staging.glob("date=*")):
        target = raw_dir / day_dir.name
        target.mkdir(parents=True, exist_ok=True)
        for index, part in enumerate(sorted(day_dir.glob("part-*.json"))):
            lines = cities * 24 // max(1, len(list(day_dir.glob("part-*.json"))))
            part.rename(target / f"{TOPIC}+{index % 3}+{offset:010d}+{offset + lines - 1:010d}.jsonl")
            offset += lines
    shutil.rmtree(staging)
    return n


def scan(spark, raw_uri: str, dates: list[str]) -> tuple[float, float, int]:
    """Seconds for a plain count and for a parse of every field; and the line count."""
    from pyspark.sql import functions as F

    from weatherlake.batch.extract import RAW_SCHEMA, read_raw

    started = time.monotonic()
    count = read_raw(spark, raw_uri, dates).count()
    count_seconds = time.monotonic() - started
    started = time.monotonic()
    fields = [f.name for f in RAW_SCHEMA.fields if f.name != "_corrupt_record"]
    read_raw(spark, raw_uri, dates).agg(*[F.count(name) for name in fields]).collect()
    return count_seconds, time.monotonic() - started, count


#: The lake's user on the benchmark's HDFS (the OS user running it is HDFS's superuser).
HDFS_USER = "weatherlake"


@contextlib.contextmanager
def hdfs() -> Iterator:
    """A NameNode and a DataNode from their Maven jars in a temporary directory."""
    from tests.conftest import free_port

    from weatherlake.engines.hdfs import HdfsEngine

    with tempfile.TemporaryDirectory(prefix="bench-hdfs-") as home:
        engine = HdfsEngine(Path(home), *(free_port() for _ in range(5)), lake_user=HDFS_USER)
        engine.start()
        try:
            yield engine
        finally:
            for daemon in reversed(engine.daemons()):
                daemon.stop()


def hadoop_delete(spark, uri: str) -> None:
    """Delete a directory tree on any Hadoop filesystem (nothing if it is not there)."""
    path = spark._jvm.org.apache.hadoop.fs.Path(uri)
    path.getFileSystem(spark._jsc.hadoopConfiguration()).delete(path, True)


def hadoop_copy(spark, source: str, target: str) -> None:
    """Copy a directory tree between Hadoop filesystems (here: local -> HDFS), replacing ``target``."""
    jvm, conf = spark._jvm, spark._jsc.hadoopConfiguration()
    src, dst = jvm.org.apache.hadoop.fs.Path(source), jvm.org.apache.hadoop.fs.Path(target)
    dst_fs = dst.getFileSystem(conf)
    dst_fs.delete(dst, True)
    if not jvm.org.apache.hadoop.fs.FileUtil.copy(src.getFileSystem(conf), src, dst_fs, dst, False, conf):
        raise SystemExit(f"copying {source} to {target} failed")


def run_jobs(lake_url: str, cores: int, driver_memory: str, partitions: int, conf: list[str],
             env: dict[str, str] | None = None) -> tuple[float, dict]:
    """The whole analytics run through spark-submit, as `weatherlake analytics --job all`."""
    from weatherlake.batch.submit import JobRequest, build_command, submit_environment
    from weatherlake.config import Settings

    settings = Settings.from_env({}, lake_url=lake_url, lake_root="/weather_data", spark_master=f"local[{cores}]")
    request = JobRequest(
        job="all",
        driver_memory=driver_memory,
        conf=(f"spark.sql.shuffle.partitions={partitions}", "spark.ui.enabled=false", *conf),
        keep_runs=1,
    )
    argv = build_command(settings, request)
    started = time.monotonic()
    completed = subprocess.run(argv, env=submit_environment({**os.environ, **(env or {})}), capture_output=True,
                               text=True)
    seconds = time.monotonic() - started
    result = None
    for line in completed.stdout.splitlines():
        if line.startswith("WEATHERLAKE_RESULT "):
            result = json.loads(line[len("WEATHERLAKE_RESULT ") :])
    if completed.returncode != 0 or result is None:
        sys.stderr.write(completed.stderr[-5000:])
        raise SystemExit(f"spark-submit failed with code {completed.returncode}")
    # spark-submit passes the Python driver's stderr (our log) on to its stdout.
    for line in (completed.stdout + completed.stderr).splitlines():
        if "weatherlake.batch.jobs: run " in line:
            print("   ", line.split("weatherlake.batch.jobs: ", 1)[-1], flush=True)
    return seconds, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cities", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--sizes", default="1,0.1", help="fractions of the full size, comma-separated")
    parser.add_argument("--dir", default="/tmp/weatherlake-bench", help="where the lakes are generated")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--partitions", type=int, default=8, help="spark.sql.shuffle.partitions for the jobs")
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                        help="extra Spark setting for the jobs (repeatable), e.g. to compare a tuning")
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the generated data")
    parser.add_argument("--lakes", default="local", help="comma-separated: local, hdfs (a real HDFS, started here)")
    args = parser.parse_args()
    lakes = args.lakes.split(",")
    if set(lakes) - {"local", "hdfs"}:
        raise SystemExit(f"--lakes: expected local and/or hdfs, got {args.lakes!r}")
    with hdfs() if "hdfs" in lakes else contextlib.nullcontext() as engine:
        if engine is not None:
            # This script's own session (generation, scans, the copy) reads HDFS's settings too.
            os.environ["HADOOP_CONF_DIR"] = str(engine.conf_dir)
        measure(args, lakes, engine)


def measure(args, lakes: list[str], engine) -> None:
    from weatherlake.batch.extract import select_dates
    from weatherlake.batch.session import build_session

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    spark = build_session(
        "weatherlake-bench",
        master=f"local[{args.cores}]",
        conf={"spark.driver.memory": args.driver_memory, "spark.ui.enabled": "false"},
    )
    rows = []
    for fraction in (float(s) for s in args.sizes.split(",")):
        cities = max(1, round(args.cities * fraction))
        hours = args.days * 24
        base = Path(args.dir) / f"lake-{cities}x{hours}"
        raw_dir = base / "weather_data" / "raw"
        if not (args.keep and raw_dir.exists()):
            shutil.rmtree(base, ignore_errors=True)
            started = time.monotonic()
            n = generate(spark, raw_dir, cities, hours)
            print(f"generated {n:,} records for {cities} cities x {hours} hours in {time.monotonic() - started:.1f} s",
                  flush=True)
        shutil.rmtree(base / "weather_data" / "analytics", ignore_errors=True)
        size_mb = sum(f.stat().st_size for f in raw_dir.rglob("*.jsonl")) / 1e6
        dates = select_dates(os.listdir(raw_dir), None, None)
        for lake in lakes:
            if lake == "local":
                lake_url, raw_uri, env = base.as_uri(), raw_dir.as_uri(), {}
            else:
                lake_url, raw_uri = engine.url, f"{engine.url}/weather_data/raw"
                env = {"HADOOP_USER_NAME": HDFS_USER, "HADOOP_CONF_DIR": str(engine.conf_dir)}
                started = time.monotonic()
                hadoop_delete(spark, f"{engine.url}/weather_data/analytics")
                hadoop_copy(spark, raw_dir.as_uri(), raw_uri)
                print(f"copied {size_mb:,.0f} MB into HDFS in {time.monotonic() - started:.1f} s", flush=True)
            count_s, parse_s, n = scan(spark, raw_uri, dates)
            print(f"{lake} scan: count {count_s:.1f} s, parse all fields {parse_s:.1f} s ({n:,} lines, "
                  f"{size_mb:,.0f} MB)", flush=True)
            seconds, result = run_jobs(lake_url, args.cores, args.driver_memory, args.partitions, args.conf, env)
            views = {name: info["seconds"] for name, info in result["views"].items()}
            rows.append((lake, n, size_mb, seconds, result["duration_seconds"], count_s, parse_s, views))
            print(f"{lake} all views: {seconds:.1f} s wall ({result['duration_seconds']:.1f} s in the job), "
                  f"{n / seconds:,.0f} records/s", flush=True)
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    spark.stop()

    print()
    print(f"local[{args.cores}], driver memory {args.driver_memory}, shuffle partitions {args.partitions}"
          + "".join(f", {c}" for c in args.conf))
    print(f"{'lake':<5} {'records':>11} {'MB':>6} {'all views s':>11} {'in job s':>8} {'records/s':>10} "
          f"{'count s':>7} {'parse s':>7}  per view (s)")
    for lake, n, size_mb, seconds, job_s, count_s, parse_s, views in rows:
        per_view = ", ".join(f"{k} {v:.1f}" for k, v in views.items())
        print(f"{lake:<5} {n:>11,} {size_mb:>6,.0f} {seconds:>11.1f} {job_s:>8.1f} {n / seconds:>10,.0f} "
              f"{count_s:>7.1f} {parse_s:>7.1f}  {per_view}")


if __name__ == "__main__":
    main()
