"""Replay a JSON Lines file of observations (one record per line), for demos and tests.

Every line comes out, good or bad, because bad input must lose nothing:

* a line that decodes to a JSON object comes out as that ``dict``, unchanged except that
  ``ingested_at`` is set to now (the replay is a new ingestion) and ``source`` is set to
  ``"replay"`` only when the line has none. It is *not* validated here: the producer
  validates and routes a failure to the dead-letter topic like any other record;
* a line that is not UTF-8 JSON, or is JSON but not an object, comes out as a
  :class:`RawLine`: its exact bytes (without the line ending), the reason, and where it
  came from. The producer recognises it with ``isinstance(item, RawLine)`` and sends
  ``item.data`` to the dead-letter topic with ``item.reason``.

Blank lines are skipped. The ``cities`` argument is ignored: the recording decides.
:meth:`ReplaySource.current` returns one "tick" per call, the next run of consecutive
lines that share a ``timestamp``, and ``[]`` once the file is exhausted.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

import orjson

from weatherlake.cities import City
from weatherlake.errors import SourceError
from weatherlake.records import utc_now_text
from weatherlake.sources.base import Source, as_utc
from weatherlake.timefmt import parse_utc


@dataclass(frozen=True)
class RawLine:
    """A replay line that is not a JSON object: dead-letter material, kept byte for byte."""

    data: bytes
    reason: str
    path: str
    line_number: int


class ReplaySource(Source):
    """Observations read back from a JSON Lines file."""

    name = "replay"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: IO[bytes] | None = None
        self._items: Iterator[dict | RawLine] | None = None
        self._pending: dict | RawLine | None = None
        self.exhausted = False

    def __repr__(self) -> str:
        return f"ReplaySource({str(self.path)!r})"

    def lines(self) -> Iterator[dict | RawLine]:
        """Every non-blank line of the file, in order, from the start."""
        with self._open() as handle:
            for item in self._decode(handle):
                yield self._stamp(item)

    def current(self, cities: Sequence[City] = ()) -> list[dict | RawLine]:
        """The next tick: consecutive lines with the same ``timestamp`` (lines without a
        readable timestamp join the tick they are in)."""
        if self._items is None:
            if self.exhausted:
                return []
            self._file = self._open()
            self._items = self._decode(self._file)
        tick: list[dict | RawLine] = []
        tick_time = None
        while True:
            item, self._pending = self._pending, None
            if item is None:
                item = next(self._items, None)
            if item is None:
                self._finish()
                return tick
            moment = _timestamp_of(item)
            if moment is not None:
                if tick_time is None:
                    tick_time = moment
                elif moment != tick_time:
                    self._pending = item
                    return tick
            tick.append(self._stamp(item))

    def history(self, cities: Sequence[City], start: datetime, end: datetime) -> Iterator[dict | RawLine]:
        """Lines whose ``timestamp`` lies in ``[start, end)``, in file order, plus every line
        without a readable timestamp (so nothing bad is silently dropped)."""
        start, end = as_utc(start), as_utc(end)
        for item in self.lines():
            moment = _timestamp_of(item)
            if moment is None or start <= moment < end:
                yield item

    def close(self) -> None:
        self._finish()

    def _finish(self) -> None:
        self.exhausted = True
        self._items = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def _open(self) -> IO[bytes]:
        try:
            return self.path.open("rb")
        except OSError as exc:
            raise SourceError(f"cannot read replay file {self.path}: {exc.strerror or exc}") from None

    def _decode(self, handle: IO[bytes]) -> Iterator[dict | RawLine]:
        for number, line in enumerate(handle, start=1):
            data = line.rstrip(b"\r\n")
            if not data.strip():
                continue
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError as exc:
                yield RawLine(data, f"not valid JSON: {exc}", str(self.path), number)
                continue
            if type(obj) is not dict:
                kind = _JSON_TYPES.get(type(obj), type(obj).__name__)
                yield RawLine(data, f"not valid JSON: expected an object, got {kind}", str(self.path), number)
                continue
            yield obj

    def _stamp(self, item: dict | RawLine) -> dict | RawLine:
        """A replayed record is a new ingestion; it keeps its source if it names one."""
        if isinstance(item, dict):
            item["ingested_at"] = utc_now_text()
            item.setdefault("source", self.name)
        return item


_JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


def _timestamp_of(item: dict | RawLine) -> datetime | None:
    if isinstance(item, RawLine):
        return None
    text = item.get("timestamp")
    if not isinstance(text, str):
        return None
    try:
        return as_utc(parse_utc(text))
    except ValueError:
        return None
