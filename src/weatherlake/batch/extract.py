"""Extract: raw JSON Lines -> tagged observations -> clean observations.

The raw lake is ``raw/date=YYYY-MM-DD/<topic>+<partition>+<first>+<last>.jsonl`` (schema
v1, see weatherlake.records). Only ``date=`` directories inside the requested range are
listed and read, so ``--from/--to`` prunes whole days; ``raw/_tmp`` and ``raw/_state``
are never named, let alone read.

Nothing here fails a job because of one bad line. Every input line ends up in exactly one
of these buckets, counted in the run's stats:

* ``accepted``: a valid observation, the one kept for its (city_id, timestamp);
* ``malformed``: not a schema-v1 record (broken JSON, wrong types, a missing field, an
  unreadable timestamp, another schema version);
* ``impossible``: a value outside what the Earth has measured (same ranges as ingest);
* ``duplicate``: another copy of an accepted (city_id, timestamp), e.g. from a replay.

Among copies of one observation the most recently ingested wins, ties broken by the
values themselves, so the choice never depends on file or task order.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from weatherlake.records.schema import RANGES, SCHEMA, SCHEMAS, Number, Version
from weatherlake.scoring import METRICS

RAW_DIR = "raw"
#: Committed raw files; anything else in a date directory (temporary names, checksums) is skipped.
RAW_FILE_GLOB = "*.jsonl"
CORRUPT = "_corrupt_record"
DATE_DIR = re.compile(r"date=(\d{4}-\d{2}-\d{2})")

MALFORMED, IMPOSSIBLE, DUPLICATE = "malformed", "impossible", "duplicate"

#: Plausible ranges, inclusive: the schema's own (weatherlake.records.schema), so a record
#: the sink accepted is never called impossible here.
PLAUSIBLE: dict[str, tuple[float, float]] = {
    name: (float(RANGES[name][0]), float(RANGES[name][1])) for name in (*METRICS, "rainfall")
}

_S = T.StringType()


def _spark_type(kind: object) -> T.DataType:
    if isinstance(kind, Number):
        return T.DoubleType()  # JSON ints fit
    return T.IntegerType() if isinstance(kind, Version) else _S


#: Observation schema v1 as Spark reads it, plus the column PERMISSIVE mode fills with
#: the text of a line it could not parse. Schema v2 lines (stations) read the same: the
#: views need none of the fields v2 adds, and a column missing from the schema is skipped.
RAW_SCHEMA = T.StructType(
    [T.StructField(field.name, _spark_type(field.kind)) for field in SCHEMA] + [T.StructField(CORRUPT, _S)]
)


@dataclass(frozen=True)
class InputStats:
    """What a run read: every input line lands in exactly one of the counts."""

    dates: int
    records: int
    accepted: int
    malformed: int
    impossible: int
    duplicates: int
    cutoff: str | None  # newest accepted observation, ISO-8601 UTC

    @property
    def rejected(self) -> int:
        return self.malformed + self.impossible

    def as_dict(self) -> dict:
        return {
            "dates": self.dates,
            "records": self.records,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "malformed": self.malformed,
            "impossible": self.impossible,
            "duplicates": self.duplicates,
        }


def select_dates(names: list[str], date_from: str | None, date_to: str | None) -> list[str]:
    """The ``date=YYYY-MM-DD`` directory names within [date_from, date_to], sorted."""
    chosen = []
    for name in names:
        match = DATE_DIR.fullmatch(name)
        if not match:
            continue  # _tmp, _state and anything else that is not a day of data
        day = match[1]
        if (date_from is None or day >= date_from) and (date_to is None or day <= date_to):
            chosen.append(name)
    return sorted(chosen)


def read_raw(spark: SparkSession, raw_uri: str, date_dirs: list[str]) -> DataFrame:
    """The raw lines of the given date directories, parsed with :data:`RAW_SCHEMA`."""
    return (
        spark.read.schema(RAW_SCHEMA)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT)
        .option("pathGlobFilter", RAW_FILE_GLOB)
        .json([f"{raw_uri.rstrip('/')}/{name}" for name in date_dirs])
    )


def hour_index(ts: str | Column = "ts") -> Column:
    """Whole hours since the epoch: the key of a clock hour, and a plain number to range over."""
    column = F.col(ts) if isinstance(ts, str) else ts
    return F.floor(F.unix_seconds(column) / 3600).cast("long")


def with_hour_index(observations: DataFrame) -> DataFrame:
    """``observations`` with an ``hour_index`` column (already there after :func:`tag`)."""
    if "hour_index" in observations.columns:
        return observations
    return observations.withColumn("hour_index", hour_index())


def tag(raw: DataFrame, partitions: int | None = None) -> DataFrame:
    """Pure transform: one row per input line with a ``status`` (null = accepted).

    Output columns: ``city_id``, ``city``, ``ts`` (timestamp), ``hour_index`` (see
    :func:`hour_index`), ``temperature``, ``humidity``, ``pressure``, ``wind_speed``,
    ``rainfall``, ``status``. The rows are hash-partitioned by ``city_id`` (into
    ``partitions``, default the session's shuffle partitions) and sorted by city, hour and
    time within each partition: the views group and window by city and hour, and with
    the input cached in this order they do so without shuffling or sorting again.
    """
    parsed = raw.select(
        "schema_version",
        "city_id",
        "city",
        # try_cast: an unreadable timestamp is null (then malformed), never a failed job (ANSI mode).
        F.col("timestamp").try_cast("timestamp").alias("ts"),
        "ingested_at",
        *METRICS,
        # 0 when the source says nothing: the schema's own rule for rainfall.
        F.coalesce(F.col("rainfall"), F.lit(0.0)).alias("rainfall"),
        F.col(CORRUPT).isNotNull().alias("corrupt"),
    )
    judged = parsed.select(
        "city_id",
        "city",
        "ts",
        hour_index().alias("hour_index"),
        "ingested_at",
        *METRICS,
        "rainfall",
        _status().alias("status"),
    )
    judged = judged.repartition(partitions, "city_id") if partitions else judged.repartition("city_id")
    return _mark_duplicates(judged).select("city_id", "city", "ts", "hour_index", *METRICS, "rainfall", "status")


def _status() -> Column:
    """Malformed, impossible, or null for a plausible observation (before duplicates)."""
    present = [F.col(column).isNotNull() for column in ("city_id", "city", "ts", *METRICS)]
    complete = reduce(operator.and_, present, F.col("schema_version").isin(*SCHEMAS))
    plausible = reduce(operator.and_, [F.col(column).between(low, high) for column, (low, high) in PLAUSIBLE.items()])
    return (
        F.when(F.col("corrupt") | ~complete, F.lit(MALFORMED))
        .when(~plausible, F.lit(IMPOSSIBLE))
        .otherwise(F.lit(None).cast(_S))
    )


def _mark_duplicates(judged: DataFrame) -> DataFrame:
    """``judged`` with every accepted copy of a (city_id, ts) but one marked duplicate.

    The one kept was ingested last, ties broken by the values themselves. Partitioning
    the window by hour_index too changes no group (it is a function of ts), but makes
    its sort (city_id, hour_index, ts, ...) the order every later window and merge reuses.
    """
    copies = Window.partitionBy("city_id", "hour_index", "ts").orderBy(
        F.col("status").asc_nulls_first(),
        F.col("ingested_at").desc_nulls_last(),
        *[F.col(c).asc_nulls_last() for c in ("city", *METRICS, "rainfall")],
    )
    copy = F.row_number().over(copies)
    duplicate = F.col("status").isNull() & (copy > 1)
    return judged.withColumn("status", F.when(duplicate, F.lit(DUPLICATE)).otherwise(F.col("status")))


def observations(tagged: DataFrame) -> DataFrame:
    """Pure transform: the accepted rows of :func:`tag`, without the ``status`` column."""
    return tagged.where(F.col("status").isNull()).drop("status")


def hourly_means(observations: DataFrame, metrics: tuple[str, ...]) -> DataFrame:
    """Per (city_id, hour_index): the mean of each metric over the hour's observations."""
    return with_hour_index(observations).groupBy("city_id", "hour_index").agg(*[F.avg(m).alias(m) for m in metrics])


def city_names(observations: DataFrame) -> DataFrame:
    """``city_id``, ``city``: one name per city (the greatest seen, should a name ever change)."""
    return observations.groupBy("city_id").agg(F.max("city").alias("city"))


def input_stats(tagged: DataFrame, dates: int) -> InputStats:
    """Count every bucket and find the cutoff in one aggregation over :func:`tag`'s output."""
    rows = tagged.groupBy("status").agg(F.count(F.lit(1)).alias("n"), iso_utc(F.max("ts")).alias("newest")).collect()
    counts = {row["status"]: row["n"] for row in rows}
    newest = next((row["newest"] for row in rows if row["status"] is None), None)
    return InputStats(
        dates=dates,
        records=sum(counts.values()),
        accepted=counts.get(None, 0),
        malformed=counts.get(MALFORMED, 0),
        impossible=counts.get(IMPOSSIBLE, 0),
        duplicates=counts.get(DUPLICATE, 0),
        cutoff=newest,
    )


def round_half_up(column: str | Column, decimals: int) -> Column:
    """``column`` rounded to ``decimals`` places, halves rounded up (towards plus infinity).

    Plain double arithmetic: Spark's ``round`` goes through a ``java.math.BigDecimal``
    for every value, which on the hourly view alone (8.76 million rows a year for 1,000
    cities, seven rounded columns) costs several seconds. The two differ by one unit in
    the last place, and only at a half: a negative one goes up here (-2.5 -> -2, where
    Spark gives -3), and a value within a rounding error of a half may go either way.
    """
    column = F.col(column) if isinstance(column, str) else column
    scale = 10.0**decimals
    return F.floor(column * scale + 0.5) / scale


def iso_hour(hour_index: str | Column) -> Column:
    """An :func:`hour_index` as the ISO-8601 UTC start of its hour (``2026-11-20T14:00:00Z``):
    a whole hour, one plain format, no fractional seconds to consider."""
    column = F.col(hour_index) if isinstance(hour_index, str) else hour_index
    return F.date_format(F.timestamp_seconds(column * 3600), "yyyy-MM-dd'T'HH:mm:ss'Z'")


def iso_utc(column: str | Column) -> Column:
    """A timestamp as ISO-8601 UTC text with ``Z``, microseconds only when there are some.

    The same form weatherlake.records writes. Relies on the session time zone being UTC
    (see weatherlake.batch.session); collecting timestamps into Python instead would
    convert them to the driver's local zone.
    """
    column = F.col(column) if isinstance(column, str) else column
    whole = F.date_format(column, "yyyy-MM-dd'T'HH:mm:ss'Z'")
    fraction = F.date_format(column, "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'")
    return F.when(F.unix_micros(column) % 1_000_000 == 0, whole).otherwise(fraction)
