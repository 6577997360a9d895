"""The serving layer's in-memory copy of the lake: batch views, speed snapshot, sink state.

A :class:`ViewStore` reads each view's ``_LATEST`` pointer, the speed snapshot, the
sink's per-partition state (through :mod:`weatherlake.lake.layout`), the list of
anomalies a demo injected (:mod:`weatherlake.lake.injected`), the alerts
(``alerts/current.json``) and the stations' catalogue (``stations/catalogue.json``),
keeps them in memory, and looks again at most every ``WEB_RELOAD_SECONDS``: a view's rows are read only
when its pointer names a new run, the snapshot is parsed only when its bytes changed.
Requests never list or read the lake for views. Raw records are the exception: the
store reads them per request, within a budget and with a short-lived cache
(:meth:`ViewStore.raw_records`, :mod:`weatherlake.web.raw`).

The check runs in a background thread started by a request that finds the data older
than the reload period; that request and every other keep answering from the current
:class:`Loaded` object, which is never modified once published (only its memo of derived
results grows). Before a new one is published, the ``warm`` callback computes the most
asked-for answers, and results for cities whose inputs did not change are carried over,
so requests rarely merge anything themselves. The first load is synchronous. Tests pass
``background=False``.

A lake that cannot be read keeps the last good data in service and is reported as an
error state by ``/api/health`` and ``/api/pipeline``: a refresh never takes the API down.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import msgspec
import orjson

from weatherlake.alerts import STATE_PATH as ALERTS_PATH
from weatherlake.lake import Lake, injected, join, layout
from weatherlake.speed.published import SNAPSHOT_PATH, VIEWS, SnapshotDecoder, read_pointer
from weatherlake.stations import catalogue as stations_catalogue
from weatherlake.timefmt import parse_utc, seconds_text
from weatherlake.web import ranges
from weatherlake.web.cache import BoundedCache
from weatherlake.web.params import HOURS, PERIODS_LIMIT
from weatherlake.web.raw import BUDGET, Budget, RawAnswer, RawReader

log = logging.getLogger(__name__)

#: Default byte budget of a Loaded's cache of derived results (WEB_CACHE_MB sets it).
CACHE_BYTES = 128 * 1024 * 1024
#: Per city, the clock hours of hourly_trends a request can reach, back from the city's
#: newest: the longest window (params.HOURS) and the 23 hours before it that its rolling
#: 24 h average reads.
HOURLY_KEPT = HOURS.maximum + 23
#: Views with a row per city and clock hour: only the newest HOURLY_KEPT hours are kept.
HOURLY_VIEWS = frozenset({"hourly_trends", "hourly_filled"})
#: Per city and period kind, the most city_stats period rows a request can reach.
PERIODS_KEPT = PERIODS_LIMIT.maximum
#: Views no endpoint shows rows of: only their pointer is loaded (for the status).
POINTER_ONLY = frozenset({"diurnal_profile"})
#: Text fields whose values repeat across rows (a city's name on each of its rows, an hour
#: on each city's row): one shared string each. An hourly row takes 830 bytes, not 1,020.
SHARED_TEXT = ("city_id", "city", "hour", "period", "period_start", "metric", "severity", "method")
_MISSING = object()

#: Memo kinds whose key is (kind, city_id, ...) and whose value depends on that city alone.
PER_CITY = frozenset({"hourly", "stats", "periods", "anomalies", "current"})


@dataclass(frozen=True)
class ViewData:
    """One published batch view as loaded: its pointer and its rows by city.

    Only what a request can reach is kept (:data:`HOURLY_KEPT`, :data:`PERIODS_KEPT`,
    :data:`POINTER_ONLY`): a year of hourly history costs no more than 90 days. The
    run's files are read a chunk at a time, and hourly_trends twice: first only each
    row's city and hour, to learn each city's newest hour, then decoding only the rows
    kept (a year of 100 cities: 2.7 s and 174 MB, against 4.9 s and 198 MB when the
    newest rows were kept as they came).
    """

    name: str
    pointer: dict | None
    by_city: dict[str, list[dict]]
    loaded_at: float
    rows_read: int = 0

    @property
    def published(self) -> bool:
        return self.pointer is not None

    @property
    def cutoff(self) -> str | None:
        return self.pointer.get("cutoff") if self.pointer else None

    @property
    def row_count(self) -> int | None:
        """Rows in the published run (not only those kept); None when not published."""
        return self.pointer.get("rows", self.rows_read) if self.pointer else None

    @classmethod
    def load(cls, lake: Lake, name: str, pointer: dict | None) -> ViewData:
        if pointer is None or name in POINTER_ONLY:
            return cls(name, pointer, {}, time.time())
        first_hours = _first_hours_kept(lake, pointer) if name in HOURLY_VIEWS else None
        by_city: dict[str, list[dict]] = {}
        read = 0
        for line in view_lines(lake, pointer):
            read += 1
            if first_hours is not None:
                key = _HOUR_KEY.decode(line)
                if key.hour < first_hours[key.city_id]:
                    continue
            row = _decode(line)
            by_city.setdefault(row.get("city_id"), []).append(row)
        if name in HOURLY_VIEWS:
            for rows in by_city.values():
                rows.sort(key=lambda row: row["hour"])
        if name == "city_stats":
            by_city = {city_id: _newest_periods(rows) for city_id, rows in by_city.items()}
        return cls(name, pointer, by_city, time.time(), read)


def view_lines(lake: Lake, pointer: dict) -> Iterator[bytes]:
    """Every row (a JSON line) of the run a pointer names, from its ``part-*`` files read a
    chunk at a time: a view is never held whole."""
    directory = pointer["path"]
    for name, size in sorted(lake.sizes(directory).items()):
        if not name.startswith("part-"):
            continue  # _SUCCESS, and checksum files (.part-*.crc) that start with a dot
        for line in ranges.lines(lake, join(directory, name), size):
            if line.strip():
                yield line


def _decode(line: bytes) -> dict:
    row = orjson.loads(line)
    for key in SHARED_TEXT:
        value = row.get(key)
        if type(value) is str:
            row[key] = sys.intern(value)
    return row


class _HourKey(msgspec.Struct):
    city_id: str | None = None
    hour: str = ""


_HOUR_KEY = msgspec.json.Decoder(_HourKey)  # reads two fields of a line, skips the rest


def _first_hours_kept(lake: Lake, pointer: dict) -> dict[str | None, str]:
    """Per city, the oldest hour of hourly_trends a request can reach (HOURLY_KEPT back from its newest)."""
    newest: dict[str | None, str] = {}
    for line in view_lines(lake, pointer):
        key = _HOUR_KEY.decode(line)
        if key.hour > newest.get(key.city_id, ""):
            newest[key.city_id] = key.hour
    return {city_id: seconds_text(parse_utc(hour) - timedelta(hours=HOURLY_KEPT - 1))
            for city_id, hour in newest.items()}


def _newest_periods(rows: list[dict]) -> list[dict]:
    """A city's city_stats rows: the whole-window row, and the newest PERIODS_KEPT of each period."""
    periods: dict[object, list[dict]] = {}
    for row in rows:
        periods.setdefault(row.get("period"), []).append(row)
    kept = periods.pop(None, [])
    for period_rows in periods.values():
        kept += sorted(period_rows, key=lambda row: row.get("period_start") or "")[-PERIODS_KEPT:]
    return kept


def _same_run(a: dict | None, b: dict | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.get("run_id") == b.get("run_id") and a.get("path") == b.get("path")


@dataclass
class Loaded:
    """Everything the API serves, as of one check of the lake. Treat as read-only."""

    version: int
    views: dict[str, ViewData]
    snapshot: dict | None
    snapshot_seen_at: float | None
    sink_offsets: dict[int, int]
    checked_at: float
    lake_url: str
    lake_error: str | None = None
    #: (city_id, hour, metric) of the anomalies a demo injected (weatherlake.lake.injected)
    injected: frozenset = frozenset()
    #: The alert service's alerts/current.json (weatherlake.alerts.service); None before its first write
    alerts: dict | None = None
    #: station_id -> entry of stations/catalogue.json (weatherlake.stations.catalogue)
    stations: dict = field(default_factory=dict)
    cache_bytes: int = CACHE_BYTES
    cache: BoundedCache = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.cache = BoundedCache(self.cache_bytes)

    def memo(self, key: tuple, compute: Callable[[], object]) -> object:
        """``compute()`` once per key for this version of the data, kept while the cache's
        byte budget allows (least recently used results make room first)."""
        value = self.cache.get(key, _MISSING)
        if value is _MISSING:
            value = compute()
            self.cache.put(key, value)
        return value

    def inherit(self, old: Loaded) -> None:
        """Reuse ``old``'s per-city results for cities whose inputs did not change.

        Valid when every batch view is the same loaded run and the speed cutoff is the
        same: then a city's merged rows depend only on its own part of the snapshot.
        """
        if old.speed_cutoff != self.speed_cutoff or any(self.views[v] is not old.views[v] for v in self.views):
            return
        new_cities, old_cities = self.speed_cities, old.speed_cities
        same: dict[str, bool] = {}
        for key, value, size in old.cache.items():
            if key[0] not in PER_CITY:
                continue
            city_id = key[1]
            if city_id not in same:
                new, old_entry = new_cities.get(city_id), old_cities.get(city_id)
                # The same object when its snapshot line did not change (SnapshotDecoder).
                same[city_id] = new is old_entry or new == old_entry
            if same[city_id]:
                self.cache.put(key, value, size)

    @property
    def lake_kind(self) -> str:
        """``local`` or ``hdfs``: what the API says about the lake, never where it is."""
        return "local" if self.lake_url.startswith("file:") else "hdfs"

    @property
    def speed_cities(self) -> dict[str, dict]:
        return (self.snapshot or {}).get("cities", {})

    @property
    def speed_cutoff(self) -> str | None:
        return (self.snapshot or {}).get("cutoff")


class ViewStore:
    """Loads the lake's views lazily and keeps them fresh (see the module docstring)."""

    def __init__(
        self,
        open_lake: Callable[[], Lake],
        topic: str,
        *,
        reload_seconds: float = 5.0,
        background: bool = True,
        clock: Callable[[], float] = time.monotonic,
        warm: Callable[[Loaded], None] | None = None,
        cache_bytes: int = CACHE_BYTES,
        raw_budget: Budget = BUDGET,
    ) -> None:
        self._open_lake = open_lake
        self._lake: Lake | None = None
        self.topic = topic
        self.reload_seconds = reload_seconds
        self.background = background
        self._clock = clock
        self._warm = warm
        self.cache_bytes = cache_bytes
        self._loaded: Loaded | None = None
        self._checked = 0.0
        self._snapshot_bytes: bytes | None = None
        self._small_files: dict[str, bytes | None] = {}  # path -> the bytes last read (see _small_file)
        self._snapshots = SnapshotDecoder()  # unchanged cities keep their parsed entry
        self._refresh_lock = threading.Lock()
        self._refreshing = False
        self.raw = RawReader(lambda: self.lake, ttl_seconds=reload_seconds, budget=raw_budget)

    @property
    def lake(self) -> Lake:
        if self._lake is None:
            self._lake = self._open_lake()
        return self._lake

    def current(self) -> Loaded:
        """The data to answer from; starts a refresh when it is older than the reload period."""
        loaded = self._loaded
        if loaded is None:
            return self.refresh()
        if self._clock() - self._checked >= self.reload_seconds and not self._refreshing:
            if self.background:
                self._refreshing = True
                threading.Thread(target=self._refresh_quietly, name="weatherlake-view-refresh", daemon=True).start()
            else:
                return self.refresh()
        return loaded

    def raw_records(self, day: str | None, cities: frozenset[str] | None, limit: int) -> RawAnswer:
        """The newest ``limit`` raw records of ``day`` (default: the newest date) of ``cities``
        (None: all), read now within the raw budget; repeated asks within the reload period
        are answered from a cache."""
        return self.raw.answer(day, cities, limit)

    def _refresh_quietly(self) -> None:
        try:
            self.refresh()
        except Exception:  # noqa: BLE001 - a background refresh must never die loudly; refresh logs
            log.exception("view refresh failed")
        finally:
            self._refreshing = False

    def refresh(self) -> Loaded:
        """Check the lake now; return the (possibly unchanged) data."""
        with self._refresh_lock:
            old = self._loaded
            try:
                loaded = self._load(old)
            except Exception as error:  # noqa: BLE001 - any lake failure: keep serving what we have
                message = f"{type(error).__name__}: {error}"
                log.warning("cannot read the lake at %s: %s", self.lake.url, message)
                if old is None:
                    loaded = Loaded(0, {v: ViewData(v, None, {}, time.time()) for v in VIEWS}, None, None, {},
                                    time.time(), self.lake.url, lake_error=message, cache_bytes=self.cache_bytes)
                else:
                    old.lake_error, old.checked_at = message, time.time()
                    loaded = old
            if loaded is not old and self._warm is not None:
                try:
                    self._warm(loaded)  # before publishing it: requests find the common answers ready
                except Exception:  # noqa: BLE001 - warming is an optimisation; requests compute lazily
                    log.exception("warming the new data failed")
            self._loaded = loaded
            self._checked = self._clock()
        if loaded is not old:
            _keep_out_of_full_collections()
        return loaded

    def _load(self, old: Loaded | None) -> Loaded:
        lake = self.lake
        changed = old is None
        views = {}
        for view in VIEWS:
            pointer = read_pointer(lake, view)
            previous = old.views.get(view) if old else None
            if previous is not None and _same_run(previous.pointer, pointer):
                views[view] = previous
            else:
                started = time.monotonic()
                views[view] = ViewData.load(lake, view, pointer)
                changed = True
                if pointer:
                    log.info("loaded %s run %s: %d rows read, %d kept (%.2f s)", view, pointer.get("run_id"),
                             views[view].rows_read, sum(map(len, views[view].by_city.values())),
                             time.monotonic() - started)
        data = lake.read_atomic(SNAPSHOT_PATH)
        snapshot, seen_at = (old.snapshot, old.snapshot_seen_at) if old else (None, None)
        if data != self._snapshot_bytes:
            snapshot = self._snapshots.decode(data) if data else None
            seen_at = time.time() if data else None
            self._snapshot_bytes = data
            changed = True
        sink_offsets = self._sink_offsets(lake)
        if old is not None and sink_offsets != old.sink_offsets:
            changed = True
        injected_keys = injected.keys(lake.read_atomic(injected.PATH))
        if old is not None and injected_keys != old.injected:
            changed = True
        alerts, alerts_changed = self._small_file(lake, ALERTS_PATH, lambda data: orjson.loads(data) if data else None,
                                                  old.alerts if old else None)
        stations, stations_changed = self._small_file(
            lake, stations_catalogue.PATH, lambda data: stations_catalogue.parse(data) if data else {},
            old.stations if old else {})
        changed = changed or alerts_changed or stations_changed
        if not changed:
            old.lake_error, old.checked_at = None, time.time()
            return old
        version = (old.version + 1) if old else 1
        loaded = Loaded(version, views, snapshot, seen_at, sink_offsets, time.time(), lake.url,
                        injected=injected_keys, alerts=alerts, stations=stations, cache_bytes=self.cache_bytes)
        if old is not None and injected_keys == old.injected:
            loaded.inherit(old)
        return loaded

    def _small_file(self, lake: Lake, path: str, parse: Callable[[bytes | None], object], previous):
        """(content, changed) of a small file written atomically (the alerts, the stations'
        catalogue): ``parse(bytes or None)`` only when its bytes changed since the last
        read, else ``previous``."""
        data = lake.read_atomic(path)
        if data == self._small_files.get(path):
            return previous, False
        self._small_files[path] = data
        return parse(data), True

    def _sink_offsets(self, lake: Lake) -> dict[int, int]:
        """What the lake sink has committed per partition (its state, see lake/layout.py)."""
        return layout.sink_positions(lake, self.topic)

    def close(self) -> None:
        if self._lake is not None:
            self._lake.close()


def _keep_out_of_full_collections() -> None:
    """Move what is alive now (mostly the loaded views) out of the cycle collector's sight.

    Its full passes scan every tracked object; with 1,000 cities loaded each took 40-60 ms
    with the GIL held, so every request in the worker waited (measured with gc.callbacks
    under benchmarks/bench_serving.py). Frozen objects are still freed by reference
    counting when a newer load replaces them. A few objects a refresh end up in reference
    cycles, which only a full pass frees: every FULL_COLLECTION_EVERY refreshes one
    runs over everything, so that stays bounded (measured: ~7 objects a refresh).
    """
    global _refreshes_since_full
    _refreshes_since_full += 1
    if _refreshes_since_full >= FULL_COLLECTION_EVERY:
        _refreshes_since_full = 0
        gc.unfreeze()
        gc.collect()
    else:
        gc.collect(1)
    gc.freeze()


#: Refreshes between two full garbage collections (at most one every few minutes).
FULL_COLLECTION_EVERY = 50
_refreshes_since_full = 0
