"""Segments: the pieces of the raw data that never change, and the index of merged files.

A file the sink commits holds the lines one commit wrote for one date, in offset order:
one *segment*. Compaction concatenates files, byte for byte, so a merged file is a run
of segments, and a segment's bytes stay the same wherever it lives. Before its commit
point, compaction writes the merged file's index::

    raw/_index/date=YYYY-MM-DD/<merged file name>.json
    {"segments": [[first, last, start, end, lines], ...]}

one entry per segment in file order: its offset range, its byte range in the merged file
and its line count. The index exists for the whole life of its merged file (written
before the file is renamed into place, deleted after the file), so a file without one is
a sink's file: a single segment. That is what lets a reader (:mod:`weatherlake.lake.export`)
address a segment the same way before and after compaction.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from weatherlake.lake.base import Lake, join
from weatherlake.lake.layout import RAW, date_dir, parse_file_name

INDEX = f"{RAW}/_index"


@dataclass(frozen=True)
class Segment:
    """One commit's lines of one date: offsets ``first..last``, bytes ``start..end`` of ``path``."""

    date: str
    path: str
    first: int
    last: int
    start: int
    end: int
    lines: int | None  # None: not counted (a sink's file is counted when read)


def index_path(date: str, name: str) -> str:
    return join(INDEX, f"date={date}", f"{name}.json")


def read_index(lake: Lake, date: str, name: str) -> list[list[int]] | None:
    """The index entries of a merged file; None for a file without one."""
    try:
        return orjson.loads(lake.read(index_path(date, name)))["segments"]
    except FileNotFoundError:
        return None


def merged_index(lake: Lake, date: str, inputs: list[tuple[str, bytes]]) -> bytes:
    """The index of the file that concatenates ``inputs`` ((name, content) in file order)."""
    entries, position = [], 0
    for name, data in inputs:
        own = read_index(lake, date, name)
        if own is None:
            _, _, first, last = parse_file_name(name)
            own = [[first, last, 0, len(data), data.count(b"\n")]]
        entries += [[first, last, start + position, end + position, lines] for first, last, start, end, lines in own]
        position += len(data)
    return orjson.dumps({"segments": entries})


def file_segments(lake: Lake, date: str, name: str, size: int) -> list[Segment]:
    """The segments of the committed file ``name`` of ``date``, in file order.

    Raises ``FileNotFoundError`` if the file is gone (merged since it was listed): list
    the date again. The index is read before the file's existence is checked: a merged
    file has its index from before it appears until after it is gone, so a file that
    exists after its index was found missing never had one.
    """
    path = join(date_dir(date), name)
    entries = read_index(lake, date, name)
    if entries is None:
        if not lake.exists(path):
            raise FileNotFoundError(path)
        _, _, first, last = parse_file_name(name)
        return [Segment(date, path, first, last, 0, size, None)]
    return [Segment(date, path, first, last, start, end, lines) for first, last, start, end, lines in entries]
