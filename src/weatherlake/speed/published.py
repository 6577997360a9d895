"""What the batch layer published, read through the Lake interface (no Spark here).

The batch layer (weatherlake.batch.publish) writes each view as JSON Lines under
``analytics/<view>/run=<run_id>/part-*.json`` and then replaces the small JSON pointer
``analytics/<view>/_LATEST`` (``run_id``, ``path``, ``cutoff``, ``rows``, ``input``,
``published_at``, ``duration_seconds`` ...) with ``Lake.write_atomic``. A reader reads the
pointer with ``read_atomic`` and then the files under its ``path``; a run directory never
changes once named, so a pointer and its rows always belong together. Both sides take
the layout from :mod:`weatherlake.views`, which imports no pyspark.
"""

from __future__ import annotations

import logging

import orjson

from weatherlake.batch import VIEWS
from weatherlake.lake import Lake, join
from weatherlake.views import latest_path

log = logging.getLogger(__name__)

#: The speed layer's snapshot, replaced atomically every few seconds (see encode_snapshot).
SNAPSHOT_PATH = "speed/current.json"

#: VIEWS is re-exported: the serving layer reads the batch views through here.
__all__ = [
    "SNAPSHOT_PATH",
    "VIEWS",
    "SnapshotDecoder",
    "encode_snapshot",
    "read_pointer",
    "read_rows",
    "read_snapshot",
]


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


def encode_snapshot(snapshot: dict) -> bytes:
    """A snapshot as JSON Lines: everything but ``cities`` on the first line, then a line
    per city, ``{"city_id": ..., **entry}``.

    A reader that kept the previous snapshot's lines parses only the cities whose line
    changed (:class:`SnapshotDecoder`): with 1,000 cities, parsing the whole snapshot as
    one document held the GIL of a web worker for 10-12 ms at every reload.
    """
    header = {key: value for key, value in snapshot.items() if key != "cities"}
    lines = [orjson.dumps(header)]
    lines += [orjson.dumps({"city_id": city_id, **entry}) for city_id, entry in snapshot.get("cities", {}).items()]
    return b"\n".join(lines) + b"\n"


class SnapshotDecoder:
    """Decodes snapshots, reusing the parsed entry of every city whose line is unchanged.

    An unchanged city's entry is the very same object as in the previous snapshot, so a
    reader can tell what changed with ``is``. Treat the entries as read-only. A snapshot
    written as one JSON document (format 1) decodes too.
    """

    def __init__(self) -> None:
        self._entries: dict[bytes, tuple[str, dict]] = {}

    def decode(self, data: bytes) -> dict:
        """The snapshot as one dict; raises ValueError if it is unreadable."""
        header, *city_lines = data.splitlines()
        snapshot = orjson.loads(header)
        if not isinstance(snapshot, dict):
            raise ValueError("a snapshot starts with a JSON object")
        cities = snapshot.setdefault("cities", {})
        entries = {}
        for line in city_lines:
            parsed = self._entries.get(line)
            if parsed is None:
                entry = orjson.loads(line)
                if not isinstance(entry, dict) or not isinstance(entry.get("city_id"), str):
                    raise ValueError("a snapshot's city line is a JSON object with a city_id")
                parsed = (entry.pop("city_id"), entry)
            entries[line] = parsed
            cities[parsed[0]] = parsed[1]
        self._entries = entries
        return snapshot


def read_snapshot(lake: Lake) -> dict | None:
    """The speed layer's last snapshot, or None when there is none (yet) or it is unreadable."""
    data = lake.read_atomic(SNAPSHOT_PATH)
    if data is None:
        return None
    try:
        return SnapshotDecoder().decode(data)
    except ValueError:  # orjson.JSONDecodeError is one
        log.warning("ignoring unreadable %s", SNAPSHOT_PATH)
        return None

