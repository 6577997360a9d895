"""Pipeline status and freshness, from what the lake holds (the web process never calls Kafka).

* ingest: per partition, the offset the lake sink has committed (its state in the
  lake) against the topic's end offset and the speed layer's position, which the speed
  layer reads from Kafka and writes into its snapshot every few seconds. The end offsets
  are approximate: the embedded broker's high watermark can read low right after a
  compressed batch, so an end offset is never shown below a position already reached,
  and the lag is only ever as fresh as the last snapshot;
* lag over the last day: the most the sink and the speed layer lagged in each clock hour
  of the last 24 that the speed layer sampled (its snapshot's ``lag_by_hour``,
  weatherlake.speed.lag), so a stall that is over still shows;
* dead letters: the end offsets of the dead-letter topic (same source);
* batch: each view's last run (run id, cutoff, rows, input counts, duration, age);
* speed: when the snapshot was written, its cutoff and counters, and whether it is live.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from weatherlake.speed import lag
from weatherlake.timefmt import hour_text, parse_utc, seconds_text
from weatherlake.web.store import Loaded

#: What the API says about a failed read of the lake (the store logs the details: hosts, paths).
LAKE_ERROR = "the lake could not be read at the last check; the server log has the details"
#: A snapshot older than this many snapshot periods (and at least STALE_MIN_SECONDS) is stale.
STALE_PERIODS = 3
STALE_MIN_SECONDS = 30.0


def _age(timestamp: str | None, now: float) -> float | None:
    if not timestamp:
        return None
    return round(max(now - parse_utc(timestamp).timestamp(), 0.0), 1)


def speed_status(loaded: Loaded, now: float) -> dict:
    snapshot = loaded.snapshot
    if snapshot is None:
        return {"state": "missing", "message": "no speed snapshot yet: is `weatherlake speed` running?"}
    age = _age(snapshot.get("generated_at"), now)
    period = float(snapshot.get("limits", {}).get("snapshot_seconds") or 5.0)
    live = age is not None and age <= max(STALE_PERIODS * period, STALE_MIN_SECONDS)
    return {
        "state": "live" if live else "stale",
        "message": None if live else f"the speed snapshot is {age:.0f} s old: is `weatherlake speed` running?",
        "generated_at": snapshot.get("generated_at"),
        "age_seconds": age,
        "cutoff": snapshot.get("cutoff"),
        "batch_run_id": snapshot.get("batch_run_id"),
        "newest_observation": snapshot.get("newest"),
        "cities": len(snapshot.get("cities", {})),
        "stats": snapshot.get("stats", {}),
    }


def view_status(loaded: Loaded, name: str, now: float) -> dict:
    view = loaded.views[name]
    if not view.pointer:
        return {"state": "not_published", "message": f"{name} has not been published yet: run `weatherlake analytics`"}
    pointer = view.pointer
    return {
        "state": "ready",
        "run_id": pointer.get("run_id"),
        "cutoff": pointer.get("cutoff"),
        "rows": view.row_count,
        "published_at": pointer.get("published_at"),
        "age_seconds": _age(pointer.get("published_at"), now),
        "cutoff_age_seconds": _age(pointer.get("cutoff"), now),
        "duration_seconds": pointer.get("duration_seconds"),
        "input": pointer.get("input"),
    }


def freshness(loaded: Loaded, view: str | None, now: float | None = None) -> dict:
    """The short freshness block every data response carries."""
    now = time.time() if now is None else now
    block = {"speed": {k: v for k, v in speed_status(loaded, now).items() if k in ("state", "generated_at",
                                                                                  "age_seconds", "cutoff")}}
    if view is not None:
        status = view_status(loaded, view, now)
        block["batch"] = {k: status.get(k) for k in ("state", "run_id", "cutoff", "published_at", "age_seconds")}
    return block


def pipeline(loaded: Loaded, now: float | None = None) -> dict:
    """The body of ``/api/pipeline``: the lake, ingest per partition, the speed layer, batch runs."""
    now = time.time() if now is None else now
    snapshot = loaded.snapshot or {}
    views = {name: view_status(loaded, name, now) for name in loaded.views}
    return {
        "generated_at": seconds_text(now),
        "lake": {
            "kind": loaded.lake_kind,
            "state": "error" if loaded.lake_error else "ok",
            "error": LAKE_ERROR if loaded.lake_error else None,
            "checked_at": seconds_text(loaded.checked_at),
        },
        "ingest": _ingest(snapshot, loaded.sink_offsets, now),
        "speed": speed_status(loaded, now),
        "batch": {"last_run": _last_run(views), "views": views},
    }


INGEST_NOTE = ("End offsets come from the speed layer's last snapshot; the lag may be a few seconds old "
               "and the embedded broker's high watermark can read low right after a compressed batch.")


def _ingest(snapshot: dict, sink_offsets: dict[int, int], now: float) -> dict:
    kafka = snapshot.get("kafka") or {}
    partitions = _partitions(snapshot, sink_offsets)
    dlq_ends = kafka.get("dlq_end_offsets")
    return {
        "topic": snapshot.get("topic"),
        "partitions": partitions,
        "lake_committed_total": sum(sink_offsets.values()) if sink_offsets else None,
        "sink_lag_total": _total(partitions, "sink_lag"),
        "speed_lag_total": _total(partitions, "speed_lag"),
        "lag_last_24h": _lag_last_day(snapshot.get("lag_by_hour"), now),
        "dead_letter_topic": kafka.get("dlq_topic"),
        "dead_lettered": sum(dlq_ends.values()) if dlq_ends is not None else None,
        "end_offsets_checked_at": kafka.get("checked_at"),
        "approximate": True,
        "note": INGEST_NOTE,
    }


def _lag_last_day(lag_by_hour, now: float) -> dict:
    """The speed layer's ``lag_by_hour`` in the last 24 clock hours (this one included), and
    the most each layer lagged in them (None: no hour sampled)."""
    first = hour_text(datetime.fromtimestamp(now - 23 * 3600, UTC))
    by_hour = [{"hour": hour, "sink": entry["sink"], "speed": entry["speed"]}
               for hour, entry in sorted(lag.restored(lag_by_hour).items()) if hour >= first]
    return {"sink_max": max((h["sink"] for h in by_hour if h["sink"] is not None), default=None),
            "speed_max": max((h["speed"] for h in by_hour), default=None),
            "by_hour": by_hour}


def _partitions(snapshot: dict, sink_offsets: dict[int, int]) -> list[dict]:
    """Per partition: the end offset, the sink's and the speed layer's positions, their lags."""
    ends = {int(p): n for p, n in ((snapshot.get("kafka") or {}).get("end_offsets") or {}).items()}
    speed_offsets = {int(p): n for p, n in (snapshot.get("offsets") or {}).items()}
    partitions = []
    for p in sorted(set(ends) | set(speed_offsets) | set(sink_offsets)):
        sink, live = sink_offsets.get(p), speed_offsets.get(p)
        # Never below a position already reached (see the module docstring).
        end = max((n for n in (ends.get(p), sink, live) if n is not None), default=None)
        partitions.append(
            {
                "partition": p,
                "end_offset": end,
                "lake_committed_offset": sink,
                "sink_lag": None if sink is None or end is None else end - sink,
                "speed_offset": live,
                "speed_lag": None if live is None or end is None else end - live,
            }
        )
    return partitions


def _last_run(views: dict[str, dict]) -> dict | None:
    """The most recently published view's run."""
    published = [v for v in views.values() if v["state"] == "ready"]
    last = max(published, key=lambda v: v.get("published_at") or "", default=None)
    if last is None:
        return None
    return {k: last.get(k) for k in ("run_id", "cutoff", "published_at", "age_seconds", "duration_seconds", "input")}


def _total(partitions: list[dict], key: str) -> int | None:
    values = [p[key] for p in partitions if p[key] is not None]
    return sum(values) if values else None
