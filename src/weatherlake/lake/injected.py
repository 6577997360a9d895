"""The anomalies a demo injected, kept in the lake so that the API can say which findings
were put there on purpose: ``demo/injected.json``.

    {"anomalies": [{"city_id": "london-gb", "hour": "2026-11-25T07:00:00Z",
                    "metric": "temperature", "delta": 14.4}, ...]}

The producer adds what it injects (``weatherlake produce --inject-anomalies N``) to what
is there; the web layer reads the file with the views. Only synthetic data carries
injected anomalies, so a lake of real weather has no such file.
"""

from __future__ import annotations

import orjson

from weatherlake.lake.base import Lake
from weatherlake.timefmt import hour_text

PATH = "demo/injected.json"

#: (city_id, clock hour as ``YYYY-MM-DDTHH:00:00Z``, metric)
Key = tuple[str, str, str]


def record(lake: Lake, anomalies) -> int:
    """Add ``anomalies`` (:class:`weatherlake.sources.Anomaly`) to the file; returns how many it holds."""
    entries = {_key(entry): entry for entry in _entries(lake.read_atomic(PATH))}
    for anomaly in anomalies:
        entry = {"city_id": anomaly.city_id, "hour": hour_text(anomaly.hour), "metric": anomaly.metric,
                 "delta": anomaly.delta}
        entries[_key(entry)] = entry
    lake.write_atomic(PATH, orjson.dumps({"anomalies": sorted(entries.values(), key=_key)}))
    return len(entries)


def keys(data: bytes | None) -> frozenset[Key]:
    """The (city, hour, metric) of every injected anomaly in the file's content (None: none)."""
    return frozenset(_key(entry) for entry in _entries(data))


def _entries(data: bytes | None) -> list[dict]:
    return orjson.loads(data)["anomalies"] if data else []


def _key(entry: dict) -> Key:
    return entry["city_id"], entry["hour"], entry["metric"]
