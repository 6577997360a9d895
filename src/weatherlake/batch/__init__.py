"""The batch layer: Spark jobs that recompute the batch views from the raw lake.

Every job is extract -> pure ``transform(df, params) -> df`` -> load:

* :mod:`~weatherlake.batch.extract` reads ``raw/date=*/...jsonl`` with an explicit schema,
  tags malformed, impossible and duplicate records, and hands on clean observations;
* :mod:`~weatherlake.batch.city_stats`, :mod:`~weatherlake.batch.hourly_trends`,
  :mod:`~weatherlake.batch.diurnal_profile`, :mod:`~weatherlake.batch.anomalies` and
  :mod:`~weatherlake.batch.gaps` (``gaps``, ``hourly_filled``) and
  :mod:`~weatherlake.batch.forecast` (``forecast``, ``forecast_skill``) are the pure transforms;
* :mod:`~weatherlake.batch.publish` writes ``analytics/<view>/run=<id>/`` and then swaps
  ``analytics/<view>/_LATEST``;
* :mod:`~weatherlake.batch.jobs` is the batch run tying them together (``spark-submit`` runs it through ``batch/driver/analytics.py``);
* :mod:`~weatherlake.batch.submit`, :mod:`~weatherlake.batch.scheduler` and
  :mod:`~weatherlake.batch.commands` are the ``weatherlake analytics`` / ``scheduler`` edge.

Importing this package does not import pyspark: the CLI stays fast and light.
"""

from weatherlake.errors import WeatherlakeError

VIEWS: tuple[str, ...] = ("city_stats", "hourly_trends", "diurnal_profile", "anomalies", "gaps", "hourly_filled",
                          "forecast", "forecast_skill")


class BatchError(WeatherlakeError):
    """A batch run could not be started or did not finish; the message says why."""
