"""Raw lake files written the way the sink writes them, and published views read back.

``sink_write`` drives the real sink's PartitionWriter (the exactly-once commit path:
tmp file, write-ahead state, rename into ``raw/date=.../``) over the real local lake, so
the batch layer is tested on the files the ingest layer really produces -- including
``raw/_tmp`` and ``raw/_state``, which it must never read.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from tests.factories import observation_date
from tests.lakeview import commit_batch
from weatherlake import records
from weatherlake.ingest.sink import PartitionWriter
from weatherlake.lake import Lake, LocalLake

TOPIC = "weather.observations"


def as_records(rows: Iterable[dict], climates: dict, ingested_delay: timedelta = timedelta(seconds=30)) -> list[dict]:
    """Schema-v1 records (weatherlake.records.make_record) for plain rows from tests/batch/weather.py."""
    out = []
    for row in rows:
        out.append(
            records.make_record(
                city=climates[row["city_id"]],
                timestamp=row["ts"],
                source="synthetic",
                temperature=row["temperature"],
                humidity=min(100.0, max(0.0, row["humidity"])),
                pressure=row["pressure"],
                wind_speed=max(0.0, row["wind_speed"]),
                rainfall=row["rainfall"],
                ingested_at=row["ts"] + ingested_delay,
            )
        )
    return out


def sink_write(root: Path | Lake, recs: Iterable[dict], partitions: int = 3, batch: int = 40) -> dict[int, int]:
    """Commit ``recs`` into the lake (a local root, or any Lake) as the sink would; returns the
    next offset per partition.

    Records go to partition crc32(city_id) % partitions (one city stays in order, as with
    Kafka's keyed partitioning) and are committed every ``batch`` records per partition.
    Calling it again continues the offsets from the write-ahead state, like a replay.
    """
    lake = root if isinstance(root, Lake) else LocalLake(root)
    writers = {p: PartitionWriter(lake, TOPIC, p) for p in range(partitions)}
    offsets = {p: (w.recover() or 0) for p, w in writers.items()}
    for record in recs:
        p = zlib.crc32(record["city_id"].encode()) % partitions
        writer = writers[p]
        writer.batch.add(offsets[p], observation_date(record), records.encode(record))
        offsets[p] += 1
        if writer.batch.count >= batch:
            commit_batch(writer)
    for writer in writers.values():
        commit_batch(writer)
    return offsets


def write_raw_file(root: Path, date: str, name: str, lines: list[str]) -> Path:
    """A raw file written by something other than the sink (a manual copy, an old tool)."""
    path = root / "raw" / f"date={date}" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def latest(root: Path, view: str) -> dict | None:
    data = LocalLake(root).read_atomic(f"analytics/{view}/_LATEST")
    return None if data is None else json.loads(data)


def read_view(root: Path, view: str) -> list[dict]:
    """The rows of the run a view's _LATEST names, as a reader would find them."""
    pointer = latest(root, view)
    assert pointer is not None, f"{view} has no _LATEST"
    run = root / pointer["path"]
    assert (run / "_SUCCESS").exists(), f"{run} is not complete"
    return [json.loads(line) for part in sorted(run.glob("part-*")) for line in part.read_text().splitlines()]


def iso(moment: datetime) -> str:
    return records.format_timestamp(moment)
