"""Backfill: a period of hourly history from any source, with progress reports."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from weatherlake.cities import City
from weatherlake.sources.auto import history_with_fallback
from weatherlake.sources.base import Source, align_up, as_utc, count_steps
from weatherlake.timefmt import parse_utc

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackfillProgress:
    """How far a backfill has come."""

    records: int  # yielded so far (bad replay lines included)
    expected: int  # cities x whole hours in the period; a provider may have fewer
    through: datetime | None  # observations up to (excluding) this time are done
    source: str | None  # the ``source`` of the latest record: shows a fallback happening
    done: bool = False

    @property
    def fraction(self) -> float:
        return min(1.0, self.records / self.expected) if self.expected else 1.0


def backfill(
    source: Source,
    cities: Sequence[City],
    start: datetime,
    end: datetime,
    *,
    progress: Callable[[BackfillProgress], None] | None = None,
    every: timedelta = timedelta(days=1),
    fallback: Source | None = None,
) -> Iterator[dict]:
    """Yield hourly records for ``[start, end)``, oldest first, calling ``progress`` each
    time another ``every`` of observation time is complete, and once at the end.

    With ``fallback`` (e.g. a :class:`SyntheticSource`), an unreachable ``source`` is
    replaced from where it stopped, with a WARNING. ``WEATHER_SOURCE=auto`` sources
    (:class:`FallbackSource`) do this by themselves.
    """
    start, end = as_utc(start), as_utc(end)
    expected = len(cities) * count_steps(start, end)
    items = (
        history_with_fallback(source, fallback, cities, start, end)
        if fallback is not None
        else source.history(cities, start, end)
    )
    records = 0
    latest_text = None
    latest_source = None
    next_report = align_up(start) + every
    for item in items:
        if isinstance(item, dict):
            text = item.get("timestamp")
            if progress is not None and text != latest_text and isinstance(text, str):
                latest_text = text
                try:
                    moment = parse_utc(text)
                except ValueError:
                    moment = None
                if moment is not None and moment >= next_report:
                    # The first record of a later hour: everything before it is complete.
                    progress(BackfillProgress(records, expected, moment, latest_source))
                    while next_report <= moment:
                        next_report += every
            latest_source = item.get("source", latest_source)
        records += 1
        yield item
    log.info("backfill done: %d records for %d cities (expected %d)", records, len(cities), expected)
    if progress is not None:
        progress(BackfillProgress(records, expected, end, latest_source, done=True))
