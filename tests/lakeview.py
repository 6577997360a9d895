"""Reading the raw lake back in tests, independently of the code under test's bookkeeping."""

from __future__ import annotations

import orjson

from weatherlake.ingest.sink import RAW, PartitionWriter
from weatherlake.lake import Lake, join
from weatherlake.lake.layout import live_files


def committed(lake: Lake) -> list[tuple[str, str, dict]]:
    """(date directory, file name, record) for every line of every live committed file."""
    rows = []
    for directory in lake.list(RAW):
        if not directory.startswith("date="):
            continue
        for name in live_files(lake.list(join(RAW, directory))):
            for line in lake.read(join(RAW, directory, name)).splitlines():
                rows.append((directory, name, orjson.loads(line)))
    return rows


def all_files(lake: Lake, directory: str = RAW) -> list[str]:
    """Every file path under ``directory`` (the real listing, superseded files included)."""
    paths = []
    for name in lake.list(directory):
        path = join(directory, name)
        children = lake.list(path)
        if children:
            paths.extend(all_files(lake, path))
        elif not path.endswith("/"):
            paths.append(path)
    return paths


def commit_batch(writer: PartitionWriter, send_dead_letters=list) -> int | None:
    """Seal a writer's open batch and commit it, as the sink does; None if it is empty."""
    batch = writer.seal()
    return None if batch is None else writer.commit(batch, send_dead_letters)
