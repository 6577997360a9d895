"""The Spark settings every batch run uses, in one place for the jobs and the tests."""

from __future__ import annotations

from pyspark import SparkConf
from pyspark.sql import SparkSession

#: Defaults for every session the batch layer builds; a ``--conf`` given to spark-submit
#: (or ``conf=`` below) wins over them.
SESSION_CONF: dict[str, str] = {
    # Timestamps are UTC everywhere: the lake's date= partitions and every ISO string.
    "spark.sql.session.timeZone": "UTC",
    # Progress goes through our own log lines; the \r progress bar garbles piped output.
    "spark.ui.showConsoleProgress": "false",
    # Exact medians (Percentile) run as object-hash aggregates; the default fallback to
    # sort-based aggregation after 128 keys per task costs a sort of every row.
    "spark.sql.objectHashAggregate.sortBased.fallbackThreshold": "1000000",
    # Small lookup tables (per city x hour-of-day baselines) are broadcast, never shuffled.
    "spark.sql.autoBroadcastJoinThreshold": str(64 * 1024 * 1024),
    "spark.sql.adaptive.enabled": "true",
    # HotSpot never JIT-compiles a method over 8000 bytes of bytecode; wider generated
    # methods (the anomaly scoring has many columns) would run interpreted, 5x slower.
    # At this limit Spark splits such a stage into per-operator code instead.
    "spark.sql.codegen.hugeMethodLimit": "8000",
    # The cached input is sorted by city and hour: aggregating by them then streams
    # through it (sort aggregate, output still sorted for the windows that follow)
    # instead of building a hash table and sorting again.
    "spark.sql.execution.replaceHashWithSortAgg": "true",
    # Windows over a whole city (8,760 rows a year) stay in memory instead of switching
    # to the spilling buffer at 4,096 rows.
    "spark.sql.windowExec.buffer.in.memory.threshold": "131072",
}


def build_session(app_name: str, master: str | None = None, conf: dict[str, str] | None = None) -> SparkSession:
    """The batch layer's SparkSession; ``master`` is normally left to spark-submit."""
    spark_conf = SparkConf()  # holds what spark-submit was given (--conf, --master, ...)
    for key, value in SESSION_CONF.items():
        if not spark_conf.contains(key):
            spark_conf.set(key, value)
    for key, value in (conf or {}).items():
        spark_conf.set(key, value)
    if master:
        spark_conf.setMaster(master)
    if not spark_conf.contains("spark.app.name"):
        spark_conf.setAppName(app_name)
    spark = SparkSession.builder.config(conf=spark_conf).getOrCreate()
    # spark.log.level needs Spark >= 3.5; setLogLevel works everywhere and is cheap.
    spark.sparkContext.setLogLevel("WARN")
    return spark
