"""What the batch layer published, read through the Lake interface (no Spark here).

The batch layer (weatherlake.batch.publish) writes each view as JSON Lines under
``analytics/<view>/run=<run_id>/part-*.json`` and then replaces the small JSON pointer
``analytics/<view>/_LATEST`` (``run_id``, ``path``, ``cutoff``, ``rows``, ``input``,
``published_at``, ``duration_seconds`` ...) with ``Lake.write_atomic``. A reader reads the
pointer with ``read_atomic`` and then the files under its ``path``; a run directory never
changes once named, so a pointer and its rows always belong together.

The layout constants are repeated here rather than imported, because
``weatherlake.batch.publish`` imports pyspark and neither the speed layer nor the web
process should. Both sides are pinned by tests (tests/speed/test_published.py).
"""

from __future__ import annotations

import logging
from datetime import datetime

import orjson

from weatherlake.batch import VIEWS
from weatherlake.lake import Lake, join

log = logging.getLogger(__name__)

ANALYTICS_DIR = "analytics"
LATEST = "_LATEST"
#: The speed layer's snapshot, replaced atomically every few seconds.
SNAPSHOT_PATH = "speed/current.json"

__all__ = ["SNAPSHOT_PATH", "VIEWS", "parse_time", "read_pointer", "read_rows", "read_snapshot"]


def latest_path(view: str) -> str:
    return join(ANALYTICS_DIR, view, LATEST)


def read_pointer(lake: Lake, view: str) -> dict | None:
    """The view's ``_LATEST`` pointer, or None when the view has not been published yet."""
    data = lake.read_atomic(latest_path(view))
    if data is None:
        return None
    try:
        pointer = orjson.loads(data)
    except orjson.JSONDecodeError:
        log.warning("ignoring unreadable %s", latest_path(view))
        return None
    if not isinstance(pointer, dict) or not isinstance(pointer.get("path"), str):
        log.warning("ignoring %s without a path", latest_path(view))
        return None
    return pointer


def read_rows(lake: Lake, pointer: dict) -> list[dict]:
    """Every row of the run a pointer names (the ``part-*`` JSON Lines files, in name order)."""
    rows: list[dict] = []
    directory = pointer["path"]
    for name in lake.list(directory):
        if not name.startswith("part-"):
            continue  # _SUCCESS, and checksum files (.part-*.crc) that start with a dot
        for line in lake.read(join(directory, name)).splitlines():
            if line.strip():
                rows.append(orjson.loads(line))
    return rows


def read_snapshot(lake: Lake) -> dict | None:
    """The speed layer's last snapshot, or None when there is none (yet) or it is unreadable."""
    data = lake.read_atomic(SNAPSHOT_PATH)
    if data is None:
        return None
    try:
        snapshot = orjson.loads(data)
    except orjson.JSONDecodeError:
        log.warning("ignoring unreadable %s", SNAPSHOT_PATH)
        return None
    return snapshot if isinstance(snapshot, dict) else None


def parse_time(text: str) -> datetime:
    """An ISO-8601 UTC timestamp (``...Z``, optional fraction) as an aware datetime.

    Compare timestamps through this, never as strings: ``...:00.5Z`` sorts before ``...:00Z``.
    """
    return datetime.fromisoformat(text)
