"""The ``diurnal_profile`` view: per city per hour of day (UTC), pooled over all days.

Rows: ``city_id``, ``city``, ``hour_of_day`` (0-23, UTC), ``record_count``,
``avg_temperature``, ``avg_humidity``, ``avg_wind_speed``, and also ``min_temperature``,
``max_temperature``, ``avg_pressure`` and ``total_rainfall``.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

DECIMALS = 4


def transform(observations: DataFrame) -> DataFrame:
    """Pure transform: clean observations -> diurnal_profile rows."""
    return observations.groupBy("city_id", "city", F.hour("ts").alias("hour_of_day")).agg(
        F.count(F.lit(1)).alias("record_count"),
        F.round(F.avg("temperature"), DECIMALS).alias("avg_temperature"),
        F.round(F.avg("humidity"), DECIMALS).alias("avg_humidity"),
        F.round(F.avg("wind_speed"), DECIMALS).alias("avg_wind_speed"),
        F.min("temperature").alias("min_temperature"),
        F.max("temperature").alias("max_temperature"),
        F.round(F.avg("pressure"), DECIMALS).alias("avg_pressure"),
        F.round(F.sum("rainfall"), DECIMALS).alias("total_rainfall"),
    )
