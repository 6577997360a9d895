"""Load: write each view to a new run directory, then point ``_LATEST`` at it.

Layout (lake-relative)::

    analytics/<view>/run=<run_id>/part-*.json   JSON Lines, one row per line
    analytics/<view>/run=<run_id>/_SUCCESS      written by Spark's committer when complete
    analytics/<view>/_LATEST                    small JSON, replaced with Lake.write_atomic

Readers read ``_LATEST`` (``Lake.read_atomic``) and then the files under its ``path``.
A run directory is never modified after its ``_SUCCESS``, and ``_LATEST`` only ever names
complete ones, so a reader never sees a half-written view. Run ids sort by start time; a
run never moves ``_LATEST`` back to an older run than the one it names (if two runs
overlap, the newer one wins), and pruning keeps the newest ``keep`` runs plus whatever
``_LATEST`` names, so a reader that has just read ``_LATEST`` still finds its files.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from pyspark.sql import DataFrame, Observation
from pyspark.sql import functions as F

from weatherlake.batch.hadoopfs import SparkLake
from weatherlake.lake.base import join
from weatherlake.views import ANALYTICS_DIR, latest_path, run_path

log = logging.getLogger(__name__)

SUCCESS = "_SUCCESS"
RUN_PREFIX = "run="
RUN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{4}")


def new_run_id(now: datetime | None = None) -> str:
    """``20261123T101500Z-3fa1``: sorts by start time, unique enough for concurrent starts."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def view_dir(view: str) -> str:
    return join(ANALYTICS_DIR, view)


def run_dir(view: str, run_id: str) -> str:
    return run_path(view, run_id)


@dataclass(frozen=True)
class Written:
    view: str
    path: str  # lake-relative run directory
    rows: int
    seconds: float


class Publisher:
    """Writes one run's views and publishes them; only :meth:`write` runs Spark."""

    def __init__(self, lake: SparkLake, run_id: str) -> None:
        if not RUN_ID.fullmatch(run_id):
            raise ValueError(f"not a run id: {run_id!r}")
        self.lake = lake
        self.run_id = run_id

    def write(self, view: str, rows: DataFrame) -> Written:
        """Write ``rows`` as JSON Lines under the run directory (fails if it exists)."""
        started = time.monotonic()
        path = run_dir(view, self.run_id)
        # Counted while writing (an Observation), not by computing the view twice.
        counted = Observation(f"{view}-rows")
        rows.observe(counted, F.count(F.lit(1)).alias("rows")).write.mode("errorifexists").json(self.lake.uri(path))
        if not self.lake.exists(join(path, SUCCESS)):
            raise RuntimeError(f"Spark wrote {path} without {SUCCESS}")
        return Written(view, path, int(counted.get["rows"]), time.monotonic() - started)

    def read_latest(self, view: str) -> dict | None:
        data = self.lake.read_atomic(latest_path(view))
        if data is None:
            return None
        try:
            return json.loads(data)
        except ValueError:
            log.warning("ignoring unreadable %s", latest_path(view))
            return None

    def publish(self, view: str, pointer: dict) -> bool:
        """Replace the view's ``_LATEST`` with ``pointer`` unless a newer run already published."""
        current = self.read_latest(view)
        if current and str(current.get("run_id", "")) > self.run_id:
            log.warning(
                "%s: not publishing run %s, _LATEST already names the newer run %s",
                view,
                self.run_id,
                current["run_id"],
            )
            return False
        self.lake.write_atomic(latest_path(view), json.dumps(pointer, indent=2, sort_keys=True).encode() + b"\n")
        return True

    def prune(self, view: str, keep: int) -> list[str]:
        """Delete this view's runs older than the newest ``keep`` (never what ``_LATEST`` names,
        never a run newer than this one, which may still be writing); return what was deleted."""
        current = self.read_latest(view) or {}
        runs = sorted(
            name[len(RUN_PREFIX) :]
            for name in self.lake.list(view_dir(view))
            if name.startswith(RUN_PREFIX) and RUN_ID.fullmatch(name[len(RUN_PREFIX) :])
        )
        older = [run for run in runs if run <= self.run_id]
        protected = set(older[-keep:]) | {str(current.get("run_id"))}
        deleted = []
        for run in older:
            if run not in protected:
                self.lake.delete_tree(run_dir(view, run))
                deleted.append(run)
        if deleted:
            log.info("%s: pruned %d old run(s): %s", view, len(deleted), ", ".join(deleted))
        return deleted
