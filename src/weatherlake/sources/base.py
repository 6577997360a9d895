"""The interface every weather source implements, and small time helpers they share."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

from weatherlake.cities import City

HOUR = timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Source(ABC):
    """A provider of observation records for cities.

    Records come from :func:`weatherlake.records.make_record` and are *candidates*: the
    producer validates them and routes a failure to the dead-letter topic. No method
    does network I/O before it is called (constructors are cheap and offline).
    """

    #: The value records carry in their ``source`` field.
    name: str

    @abstractmethod
    def current(self, cities: Sequence[City]) -> list[dict]:
        """The latest observation for each city (a city the provider cannot answer for is
        left out and logged)."""

    @abstractmethod
    def history(self, cities: Sequence[City], start: datetime, end: datetime) -> Iterator[dict]:
        """Hourly observations for whole hours in ``[start, end)``, oldest first; within
        one hour, cities in the given order."""

    def close(self) -> None:  # noqa: B027 (optional hook: most sources hold nothing)
        """Release connections; the source must not be used afterwards."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def align_up(moment: datetime, step: timedelta = HOUR) -> datetime:
    """The first multiple of ``step`` (counted from the Unix epoch) at or after ``moment``."""
    moment = as_utc(moment)
    steps = math.ceil((moment - _EPOCH) / step)
    return _EPOCH + steps * step


def time_steps(start: datetime, end: datetime, step: timedelta = HOUR) -> Iterator[datetime]:
    """Aligned moments ``t`` with ``start <= t < end``, every ``step``."""
    if step <= timedelta(0):
        raise ValueError("step must be positive")
    moment = align_up(start, step)
    end = as_utc(end)
    while moment < end:
        yield moment
        moment += step


def count_steps(start: datetime, end: datetime, step: timedelta = HOUR) -> int:
    """How many moments :func:`time_steps` yields."""
    first = align_up(start, step)
    end = as_utc(end)
    return 0 if first >= end else math.ceil((end - first) / step)
