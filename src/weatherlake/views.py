"""What the batch views promise their readers: where a view is published and how its
numbers are shaped.

The batch layer writes the views (Spark); the speed layer and the serving layer read
them and extend them past the cutoff (plain Python). Both sides take these from here so
that a merged number matches a published one. No pyspark import here: the web process
imports this module.
"""

from __future__ import annotations

from weatherlake.lake.base import join

#: Decimal places of every average, sum and deviation in a view, in the batch layer and
#: in a row merged with the speed layer: rounded, a published number does not depend on
#: the order in which Spark added partial sums.
DECIMALS = 4

#: The clock hours of the ``hourly_trends`` rolling average, ending with the row's hour.
ROLLING_HOURS = 24

#: The lake directory of the published views: ``analytics/<view>/run=<run_id>/`` holds a
#: run's rows, ``analytics/<view>/_LATEST`` points at the newest complete run.
ANALYTICS_DIR = "analytics"
LATEST = "_LATEST"


def latest_path(view: str) -> str:
    """``analytics/<view>/_LATEST``, the view's pointer to its newest complete run."""
    return join(ANALYTICS_DIR, view, LATEST)


def run_path(view: str, run_id: str) -> str:
    """``analytics/<view>/run=<run_id>``, the directory of one run's rows."""
    return join(ANALYTICS_DIR, view, f"run={run_id}")
