"""``/api/raw-data``: the newest committed records of one raw date partition, with bounded work.

The one endpoint that reads the lake per request, so each request has a :class:`Budget`:
at most ``max_bytes`` read, ``max_records`` decoded and ``max_seconds`` spent (checked
between reads). Files are read newest first, each from its end backwards in chunks
(64 KiB, doubling up to 1 MiB), and a file is left as soon as it gave ``limit``
matching records: a request never loads a whole file. When the budget runs out first,
the answer is what was found, marked ``complete: false``.

Identical requests that arrive together share one read (:class:`~weatherlake.web.cache.Flights`);
answers are kept for the reload period in a byte-bounded cache. A file that compaction
removes while it is being read (its records now sit in a merged file) makes the
partition be listed and read again, up to ``ATTEMPTS`` times, on the same budget. Which
files hold a date's records, and in what order, is :mod:`weatherlake.lake.layout`'s
to say. The store (:mod:`weatherlake.web.store`) holds the :class:`RawReader`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from weatherlake.errors import LakeUnavailable
from weatherlake.lake import Lake, join, layout
from weatherlake.timefmt import parse_utc
from weatherlake.web.cache import BoundedCache, Flights, approximate_size
from weatherlake.web.ranges import chunks_from_end

log = logging.getLogger(__name__)

#: The newest committed files looked at per request.
FILES_READ = 8
MAX_BYTES = 4 * 1024 * 1024
MAX_RECORDS = 20_000
MAX_SECONDS = 2.0
CACHE_BYTES = 8 * 1024 * 1024
ATTEMPTS = 3


@dataclass(frozen=True)
class Budget:
    """What one request may do: bytes read, records decoded, seconds spent (checked between reads)."""

    max_bytes: int = MAX_BYTES
    max_records: int = MAX_RECORDS
    max_seconds: float = MAX_SECONDS


#: The budget of one request unless the app sets another (RAW_MAX_BYTES, ...).
BUDGET = Budget()


@dataclass
class Scan:
    """What one request may still read, and what it has read."""

    budget: Budget
    bytes: int = 0
    records: int = 0
    files: int = 0
    stopped: bool = False
    started: float = field(default_factory=time.monotonic)

    def take_bytes(self, wanted: int) -> int:
        """How many of ``wanted`` bytes may be read now (0: the budget is spent). The first
        read is always granted: an answer needs something."""
        budget = self.budget
        if self.bytes and (self.bytes >= budget.max_bytes or time.monotonic() - self.started >= budget.max_seconds):
            self.stopped = True
            return 0
        granted = min(wanted, budget.max_bytes - self.bytes)
        self.bytes += granted
        return granted

    def take_record(self) -> bool:
        if self.records >= self.budget.max_records:
            self.stopped = True
            return False
        self.records += 1
        return True


@dataclass(frozen=True)
class RawAnswer:
    date: str | None
    rows: list[dict]
    complete: bool
    scanned: dict


class RawReader:
    """Reads raw partitions for the API: budgets, shared reads, a short-lived cache."""

    def __init__(self, lake: Callable[[], Lake], *, ttl_seconds: float, budget: Budget = BUDGET,
                 cache_bytes: int = CACHE_BYTES) -> None:
        self._lake = lake
        self.ttl_seconds = ttl_seconds
        self.budget = budget
        self.cache = BoundedCache(cache_bytes)
        self.flights = Flights()

    def answer(self, day: str | None, cities: frozenset[str] | None, limit: int) -> RawAnswer:
        """The newest ``limit`` records of ``day`` (default: the newest date), of ``cities`` (None: all)."""
        key = (day, cities, limit)
        cached = self.cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < self.ttl_seconds:
            return cached[1]
        return self.flights.run(key, lambda: self._read_and_keep(key))

    def _read_and_keep(self, key: tuple) -> RawAnswer:
        read_at = time.monotonic()
        answer = read_partition(self._lake(), *key, Scan(self.budget))
        if self.ttl_seconds > 0:
            self.cache.put(key, (read_at, answer), approximate_size(answer.rows))
        return answer


def read_partition(lake: Lake, day: str | None, cities: frozenset[str] | None, limit: int, scan: Scan) -> RawAnswer:
    """The newest ``limit`` records of ``day``'s raw directory (default: the newest date), within ``scan``."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return _read_once(lake, day, cities, limit, scan)
        except FileNotFoundError as error:
            # Compaction merged and deleted a file between the listing and the read.
            log.info("raw file %s went away while being read (attempt %d of %d); listing the partition again",
                     error.filename, attempt, ATTEMPTS)
    raise LakeUnavailable(f"{layout.date_dir(day)} kept changing while it was read ({ATTEMPTS} attempts)")


def _read_once(lake: Lake, day: str | None, cities: frozenset[str] | None, limit: int, scan: Scan) -> RawAnswer:
    days = layout.raw_dates(lake)
    if day is None:
        if not days:
            return RawAnswer(None, [], True, _scanned(scan))
        day = days[-1]
    elif day not in days:
        return RawAnswer(day, [], True, _scanned(scan))
    directory = layout.date_dir(day)
    sizes = layout.live_file_sizes(lake, day)
    rows: list[dict] = []
    for name in layout.newest_first(list(sizes))[:FILES_READ]:
        if scan.stopped:
            break
        scan.files += 1
        rows += _newest_records(lake, join(directory, name), sizes[name], cities, limit, scan)
    rows.sort(key=lambda row: parse_utc(row["timestamp"]), reverse=True)
    return RawAnswer(day, rows[:limit], not scan.stopped, _scanned(scan))


def _scanned(scan: Scan) -> dict:
    return {"files": scan.files, "bytes": scan.bytes, "records": scan.records}


def _newest_records(lake: Lake, path: str, size: int, cities: frozenset[str] | None, limit: int,
                    scan: Scan) -> list[dict]:
    """Up to ``limit`` matching records of one file, read from its end backwards."""
    found: list[dict] = []
    head = b""  # the beginning of the earliest line read so far: its start lies in the next chunk
    for start, chunk in chunks_from_end(lake, path, size, scan.take_bytes):
        lines = (chunk + head).split(b"\n")
        head = lines.pop(0) if start > 0 else b""
        for line in reversed(lines):
            if not line.strip():
                continue
            if not scan.take_record():
                return found
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                log.warning("skipping a line of %s that is not JSON", path)
                continue
            if cities is None or record.get("city_id") in cities:
                found.append(record)
                if len(found) == limit:
                    return found
    return found
