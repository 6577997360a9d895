"""Every raw record exactly once, in pages, while the sink writes and compaction merges.

The order is per Kafka partition of the lake (``<topic>+<p>``, in name order) and, within
one, by *window*: a window is a group of segments (:mod:`weatherlake.lake.segments`)
whose offset ranges overlap, which is what one sink commit writes (a commit spanning two
dates writes two segments with interleaved ranges). Windows never change once written:
compaction moves segments, byte for byte, and later commits only add windows above the
old ones. Inside a window the lines go by (date, first offset) of their segment, then in
file order.

A record's *position* is ``c0 + k``: ``c0`` its window's lowest offset, ``k`` its place
in the window. A window of ``n`` lines spanning offsets ``c0..c1-1`` holds ``n <= c1 - c0``
distinct offsets, so positions grow strictly through a partition and never collide. A
reader's progress in a partition is one integer, the next position to give, which stays
valid whatever compaction does; a new page starts there.

A window is only given once every segment of it is in place: the export stops below the
sink's newest commit while that commit's renames are still owed (its state's
``pending``). A file that compaction deletes while a page is read (its lines now sit in
the merged file) makes the page be read again from a new listing.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from weatherlake.errors import LakeUnavailable
from weatherlake.lake import layout
from weatherlake.lake.base import Lake
from weatherlake.lake.segments import Segment, file_segments

log = logging.getLogger(__name__)

#: Times a page is read again when compaction removed a file under it.
ATTEMPTS = 3
#: Listings of a date directory tried for two that agree.
LISTINGS = 10


@dataclass(frozen=True)
class LakeFile:
    date: str
    name: str
    first: int
    last: int
    size: int


@dataclass(frozen=True)
class Record:
    partition: str  # "<topic>+<p>"
    position: int
    line: bytes


@dataclass(frozen=True)
class Page:
    records: list[Record]
    #: The next position to give, per partition (those the request covered).
    positions: dict[str, int]
    #: False when every window in place was given.
    more: bool


class Cache(Protocol):
    """What a cache of the exporter must do (:class:`weatherlake.web.cache.BoundedCache` does)."""

    def get(self, key: object, default: object = None) -> object: ...

    def put(self, key: object, value: object, size: int | None = None) -> None: ...


class NoCache:
    def get(self, key: object, default: object = None) -> object:
        return default

    def put(self, key: object, value: object, size: int | None = None) -> None:
        pass


def partition_key(topic: str, partition: int) -> str:
    return f"{topic}+{partition}"


def bounds(lake: Lake) -> dict[str, int]:
    """Per partition, the offset below which every committed window is in place."""
    found: dict[str, int] = {}
    for topic, partition in layout.state_partitions(lake):
        state = layout.load_state(lake, topic, partition)
        if state is None:
            continue
        bound = state.base + state.next_offset
        if any(not layout.in_place(lake, final) for _, final in state.pending):
            # The newest commit's files are not all in place: stop below all of them.
            bound = min(layout.parse_file_name(final.rpartition("/")[2])[2] for _, final in state.pending)
        found[partition_key(topic, partition)] = bound
    return found


def lake_files(lake: Lake) -> dict[str, list[LakeFile]]:
    """Every live committed file, per partition."""
    files: dict[str, list[LakeFile]] = {}
    for date in layout.raw_dates(lake):
        for name, size in _stable_listing(lake, date).items():
            topic, partition, first, last = layout.parse_file_name(name)
            files.setdefault(partition_key(topic, partition), []).append(LakeFile(date, name, first, last, size))
    return files


def _stable_listing(lake: Lake, date: str) -> dict[str, int]:
    """The live files of ``date`` from a listing that a second one confirms.

    A directory listing is not a snapshot (a local directory read while compaction renames
    its output in and deletes the inputs can miss both). The changes a date directory
    sees only add files or remove merged inputs after their output was added, so two
    listings in a row that agree saw one state of it.
    """
    listed = layout.live_file_sizes(lake, date)
    for _ in range(LISTINGS):
        again = layout.live_file_sizes(lake, date)
        if again.keys() == listed.keys():
            return again
        listed = again
    raise LakeUnavailable(f"{layout.date_dir(date)} kept changing while it was listed ({LISTINGS} listings)")


class Exporter:
    """Reads pages of raw records; ``cache`` keeps segments' indexes and lines between pages."""

    def __init__(self, lake: Callable[[], Lake], cache: Cache | None = None) -> None:
        self._lake = lake
        self.cache = cache or NoCache()

    def page(self, positions: dict[str, int], limit: int, only: str | None = None) -> Page:
        """Up to ``limit`` records from ``positions`` on (a partition not named starts at 0);
        ``only``: that partition alone."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return self._page(self._lake(), positions, limit, only)
            except FileNotFoundError as error:
                log.info(
                    "export: %s went away while being read (attempt %d of %d); listing the lake again",
                    error.filename or error,
                    attempt,
                    ATTEMPTS,
                )
        raise LakeUnavailable(f"the raw data kept changing while it was read ({ATTEMPTS} attempts)")

    def _page(self, lake: Lake, positions: dict[str, int], limit: int, only: str | None) -> Page:
        upper = bounds(lake)
        files = lake_files(lake)
        keys = [only] if only is not None else sorted(upper)
        records: list[Record] = []
        reached = dict(positions)
        for key in keys:
            position = positions.get(key, 0)
            for start, end, segments in self._windows(lake, files.get(key, []), position, upper.get(key, 0)):
                if len(records) >= limit:
                    break
                skip = max(0, position - start)
                lines, rest = self._lines(lake, segments, skip, limit - len(records))
                records += [Record(key, start + skip + i, line) for i, line in enumerate(lines)]
                position = end if rest == 0 else start + skip + len(lines)
            reached[key] = position
            if len(records) >= limit:
                break
        return Page(records, reached, more=len(records) >= limit)

    def _windows(self, lake: Lake, files: list[LakeFile], position: int,
                 upper: int) -> Iterator[tuple[int, int, list[Segment]]]:
        """(lowest offset, highest offset + 1, segments by (date, first)) of each window below
        ``upper``, from the first one ending above ``position`` on, in order."""
        low = position
        while True:
            windows = self._scan(lake, files, low, upper)
            for start, end, segments in windows:
                if end <= position:
                    continue
                if start < low:
                    low = start  # segments ending below ``low`` may belong to this window: scan again
                    break
                yield start, end, segments
                yield from windows  # each begins above ``position``: none of its segments was left out
                return
            else:
                return

    def _scan(self, lake: Lake, files: list[LakeFile], low: int,
              upper: int) -> Iterator[tuple[int, int, list[Segment]]]:
        """The windows made of the segments ending in ``low..upper - 1``, in order; files are
        opened (their indexes read) only as the windows reach them."""
        files = sorted((f for f in files if f.last >= low and f.first < upper), key=lambda f: f.first)
        heap: list[tuple[int, int, Segment]] = []
        opened = 0
        order = itertools.count()

        def open_until(offset: int) -> None:
            nonlocal opened
            while opened < len(files) and files[opened].first <= offset:
                for segment in self._segments(lake, files[opened]):
                    if low <= segment.last < upper:
                        heapq.heappush(heap, (segment.first, next(order), segment))
                opened += 1

        while True:
            if not heap:
                if opened == len(files):
                    return
                open_until(files[opened].first)
                continue
            open_until(heap[0][0])  # a file not opened yet may hold a segment beginning lower
            segment = heapq.heappop(heap)[2]
            group, high = [segment], segment.last
            open_until(high)
            while heap and heap[0][0] <= high:
                other = heapq.heappop(heap)[2]
                group.append(other)
                high = max(high, other.last)
                open_until(high)
            group.sort(key=lambda s: (s.date, s.first))
            yield segment.first, high + 1, group

    def _segments(self, lake: Lake, file: LakeFile) -> list[Segment]:
        key = ("segments", file.date, file.name)
        found = self.cache.get(key)
        if found is None:
            found = file_segments(lake, file.date, file.name, file.size)
            self.cache.put(key, found, 200 * len(found))
        return found

    def _lines(self, lake: Lake, segments: list[Segment], skip: int, want: int) -> tuple[list[bytes], int]:
        """Up to ``want`` lines of a window after its first ``skip``, and how many lines remain after them."""
        taken: list[bytes] = []
        rest = 0
        for segment in segments:
            if segment.lines is not None and skip >= segment.lines:
                skip -= segment.lines
                continue
            if len(taken) >= want:
                if segment.lines is None:
                    return taken, 1  # more lines follow (counting them would mean reading them)
                rest += segment.lines - skip
                skip = 0
                continue
            lines = self._segment_lines(lake, segment)
            if skip >= len(lines):
                skip -= len(lines)
                continue
            chosen = lines[skip : skip + want - len(taken)]
            taken += chosen
            rest += len(lines) - skip - len(chosen)
            skip = 0
        return taken, rest

    def _segment_lines(self, lake: Lake, segment: Segment) -> list[bytes]:
        key = ("lines", segment.path, segment.start, segment.end)
        lines = self.cache.get(key)
        if lines is None:
            data = (
                lake.read_range(segment.path, segment.start, segment.end - segment.start)
                if segment.end > segment.start
                else b""
            )
            lines = [line for line in data.split(b"\n") if line.strip()]
            self.cache.put(key, lines, len(data) + 64 * len(lines))
        return lines
