"""Writing batch views and speed snapshots into a test lake, in the layouts the real writers use.

Batch views follow weatherlake.batch.publish (pinned by tests/speed/test_published.py):
``analytics/<view>/run=<id>/part-00000-...json`` (JSON Lines, as Spark's writer names
them) plus ``_SUCCESS``, then ``analytics/<view>/_LATEST`` replaced with write_atomic.
Speed snapshots are built by the real SpeedState from records.
"""

from __future__ import annotations

import orjson

from weatherlake.lake import Lake
from weatherlake.speed.published import SNAPSHOT_PATH, encode_snapshot
from weatherlake.speed.state import SpeedState


def publish_view(lake: Lake, view: str, rows: list[dict], *, cutoff: str | None, run_id: str = "20261121T000000Z-0001",
                 published_at: str = "2026-11-21T00:00:05Z", records: int | None = None) -> dict:
    path = f"analytics/{view}/run={run_id}"
    body = b"".join(orjson.dumps({k: v for k, v in row.items() if v is not None}) + b"\n" for row in rows)
    lake.write(f"{path}/part-00000-5f1c-c000.json", body)
    lake.write(f"{path}/.part-00000-5f1c-c000.json.crc", b"not json")
    lake.write(f"{path}/_SUCCESS", b"")
    pointer = {
        "view": view,
        "run_id": run_id,
        "path": path,
        "format": "jsonl",
        "rows": len(rows),
        "cutoff": cutoff,
        "window": {"from": None, "to": None},
        "input": {"dates": 1, "records": records or 0, "accepted": records or 0, "rejected": 0, "malformed": 0,
                  "impossible": 0, "duplicates": 0},
        "started_at": "2026-11-21T00:00:00Z",
        "published_at": published_at,
        "duration_seconds": 5.0,
    }
    lake.write_atomic(f"analytics/{view}/_LATEST", orjson.dumps(pointer))
    return pointer


def write_snapshot(lake: Lake, records: list[dict], *, cutoff: str | None, generated_at: str, sequence: int = 1,
                   baselines=None, extra: dict | None = None) -> dict:
    state = SpeedState(cutoff, baselines)
    for record in records:
        state.apply(record)
    snapshot = {
        "format": 1,
        "sequence": sequence,
        "generated_at": generated_at,
        "topic": "weather.observations",
        "cutoff": cutoff,
        "newest": state.newest,
        "offsets": {},
        "kafka": {},
        "stats": dict(state.stats),
        "limits": {"max_hours": 48, "max_cities": 20000, "snapshot_seconds": 5.0},
        "cities": state.to_snapshot(),
        **(extra or {}),
    }
    lake.write_atomic(SNAPSHOT_PATH, encode_snapshot(snapshot))
    return snapshot
