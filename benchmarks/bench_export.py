"""Export benchmark: records a second through GET /api/export/observations, and what a poll
with nothing new costs, on a local lake laid out as the sink writes it.

    .venv/bin/python benchmarks/bench_export.py [--days 7] [--cities 100] [--limit 10000] [--runs 3]

The lake is written by the sink's own ``PartitionWriter``: ``--cities`` cities every 10
minutes, committed once a minute per partition (3 partitions), as a sink under a steady
feed does; so a day has 4,320 small files. Each run pages the whole lake through the
Flask app (a client's token, ``--limit`` records a page) once before compaction and
once after every date was compacted, then times 20 requests with the last cursor (a
poll that finds nothing new). No network: the app runs in this process.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from weatherlake.config import Settings
from weatherlake.ingest.compact import compact_date
from weatherlake.ingest.sink import PartitionWriter
from weatherlake.lake import layout, open_lake
from weatherlake.web import create_app

TOKEN = "token-of-the-benchmark-client"
PARTITIONS = 3


def fill(lake, days: int, cities: int) -> int:
    """Commit ``days`` of readings of ``cities`` cities; the number of records."""
    writers = [PartitionWriter(lake, "weather.observations", p) for p in range(PARTITIONS)]
    offsets = [0] * PARTITIONS
    for writer in writers:
        writer.recover()
    start = datetime(2026, 11, 1, tzinfo=UTC)
    count = 0
    for minute in range(days * 24 * 60):
        moment = start + timedelta(minutes=minute)
        if minute % 10 == 0:
            stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
            for city in range(cities):
                partition = city % PARTITIONS
                record = {"schema_version": 1, "city_id": f"city-{city:03d}", "city": f"City {city}",
                          "country": "GB", "latitude": 51.5, "longitude": -0.1, "timestamp": stamp,
                          "ingested_at": stamp, "source": "synthetic", "temperature": 10.0 + city % 7,
                          "feels_like": 9.0, "humidity": 70.0, "pressure": 1012.0, "wind_speed": 3.0, "rainfall": 0.0}
                writers[partition].batch.add(offsets[partition], stamp[:10], orjson.dumps(record))
                offsets[partition] += 1
                count += 1
        for writer in writers:  # one commit a minute per partition, as SINK_MAX_AGE_SECONDS=60 does
            batch = writer.seal()
            if batch is not None:
                writer.commit(batch, list)
    return count


def page_all(client, cursor: str | None, limit: int) -> tuple[int, int, float, str]:
    """(records, pages, seconds, last cursor) of paging from ``cursor`` to the end."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    records = pages = 0
    started = time.perf_counter()
    while True:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        body = orjson.loads(client.get("/api/export/observations", query_string=params, headers=headers).data)
        records += body["count"]
        pages += 1
        cursor = body["next_cursor"]
        if not body["has_more"]:
            return records, pages, time.perf_counter() - started, cursor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--cities", type=int, default=100)
    parser.add_argument("--limit", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
            tokens = Path(tmp) / "tokens"
            tokens.write_text(f"bench {TOKEN}\n")
            settings = Settings.from_env({}, lake_url=Path(tmp, "lake").as_uri(), export_tokens=str(tokens),
                                         export_rate_per_minute=1_000_000)
            lake = open_lake(settings)
            built = time.perf_counter()
            count = fill(lake, args.days, args.cities)
            files = sum(len(lake.list(layout.date_dir(d))) for d in layout.raw_dates(lake))
            print(f"run {run}: lake of {count:,} records in {files:,} files written in "
                  f"{time.perf_counter() - built:.0f} s")
            client = create_app(settings, {"TESTING": True}).test_client()
            for label in ("sink's files", "compacted"):
                if label == "compacted":
                    for day in layout.raw_dates(lake):
                        compact_date(lake, day)
                records, pages, seconds, cursor = page_all(client, None, args.limit)
                assert records == count, (records, count)
                polls = []
                for _ in range(20):
                    started = time.perf_counter()
                    page_all(client, cursor, args.limit)
                    polls.append(time.perf_counter() - started)
                print(f"  {label:>12}: {records / seconds:,.0f} records/s ({pages} pages of {args.limit:,} in "
                      f"{seconds:.1f} s, {1000 * seconds / pages:.0f} ms a page); a poll with nothing new: "
                      f"median {1000 * statistics.median(polls):.0f} ms")


if __name__ == "__main__":
    main()
