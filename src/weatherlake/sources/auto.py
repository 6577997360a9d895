"""Choosing a source from settings, and standing in with synthetic data when a real
provider cannot be reached.

``WEATHER_SOURCE=auto`` means: OpenWeatherMap when ``OPENWEATHER_API_KEY`` is set, else
Open-Meteo; while that provider is unreachable (connection refused, DNS failure, timeout:
:class:`SourceUnreachable`), synthetic records stand in, announced by a WARNING that says
records will carry ``source: synthetic``, and the provider is probed again at most every
ten minutes. Other errors (a rejected key, a bad answer) are raised, never papered over.
An explicit ``openweathermap`` or ``open-meteo`` never falls back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

from weatherlake.cities import City
from weatherlake.config import Settings
from weatherlake.errors import ConfigError, SourceUnreachable
from weatherlake.sources.base import HOUR, Source
from weatherlake.sources.open_meteo import OpenMeteoSource
from weatherlake.sources.openweathermap import OpenWeatherMapSource
from weatherlake.sources.replay import ReplaySource
from weatherlake.sources.synthetic import Anomaly, SyntheticSource
from weatherlake.timefmt import parse_utc

log = logging.getLogger(__name__)

REPROBE_SECONDS = 600.0


class FallbackSource(Source):
    """``primary`` while it answers; ``fallback`` (synthetic) while it is unreachable."""

    name = "auto"

    def __init__(
        self,
        primary: Source,
        fallback: Source,
        *,
        reprobe_seconds: float = REPROBE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.reprobe_seconds = reprobe_seconds
        self._clock = clock
        self._next_probe: float | None = None  # set while the primary is considered down

    def __repr__(self) -> str:
        return f"FallbackSource({self.primary!r}, {self.fallback!r})"

    @property
    def falling_back(self) -> bool:
        """Whether records currently come from the fallback."""
        return self._next_probe is not None

    def current(self, cities: Sequence[City]) -> list[dict]:
        if not self._should_try_primary():
            return self.fallback.current(cities)
        try:
            records = self.primary.current(cities)
        except SourceUnreachable as exc:
            self._primary_down(exc)
            return self.fallback.current(cities)
        self._primary_up()
        return records

    def history(self, cities: Sequence[City], start: datetime, end: datetime) -> Iterator[dict]:
        if not self._should_try_primary():
            return self.fallback.history(cities, start, end)
        return history_with_fallback(self.primary, self.fallback, cities, start, end, on_unreachable=self._primary_down)

    def close(self) -> None:
        self.primary.close()
        self.fallback.close()

    def _should_try_primary(self) -> bool:
        return self._next_probe is None or self._clock() >= self._next_probe

    def _primary_down(self, exc: SourceUnreachable) -> None:
        again = self._next_probe is not None
        self._next_probe = self._clock() + self.reprobe_seconds
        log.warning(
            "%s: %s %s; records will say source: %s until it answers (next try in %.0f min)",
            exc,
            "still falling back to" if again else "falling back to",
            self.fallback.name,
            self.fallback.name,
            self.reprobe_seconds / 60,
        )

    def _primary_up(self) -> None:
        if self._next_probe is not None:
            log.warning("%s answers again; records say source: %s again", self.primary.name, self.primary.name)
            self._next_probe = None


def history_with_fallback(
    primary: Source,
    fallback: Source,
    cities: Sequence[City],
    start: datetime,
    end: datetime,
    *,
    on_unreachable: Callable[[SourceUnreachable], None] | None = None,
) -> Iterator[dict]:
    """``primary.history`` until it becomes unreachable, then ``fallback.history`` from the
    hour after the last record the primary gave (providers fetch whole hours for all cities
    before yielding them, so no hour is half done)."""
    last = None
    try:
        for record in primary.history(cities, start, end):
            if isinstance(record, dict):
                last = record.get("timestamp", last)
            yield record
        return
    except SourceUnreachable as exc:
        if on_unreachable is not None:
            on_unreachable(exc)
        else:
            log.warning("%s: falling back to %s; records will say source: %s", exc, fallback.name, fallback.name)
    resume = start if last is None else parse_utc(last) + HOUR
    yield from fallback.history(cities, resume, end)


def open_source(settings: Settings, *, anomalies: Iterable[Anomaly] = ()) -> Source:
    """The source ``settings.weather_source`` names. No network I/O happens here."""
    kind = settings.weather_source
    http = {"timeout": settings.http_timeout_seconds}
    if kind == "synthetic":
        return SyntheticSource(settings.synthetic_seed, anomalies)
    if kind == "replay":
        if not settings.replay_file:
            raise ConfigError("REPLAY_FILE must name a JSON Lines file when WEATHER_SOURCE=replay")
        if not Path(settings.replay_file).is_file():
            raise ConfigError(f"REPLAY_FILE {settings.replay_file!r} is not a readable file")
        return ReplaySource(settings.replay_file)

    def open_meteo() -> OpenMeteoSource:
        return OpenMeteoSource(settings.open_meteo_base_url, settings.open_meteo_archive_url, **http)

    def openweathermap() -> OpenWeatherMapSource:
        return OpenWeatherMapSource(
            settings.openweather_api_key, settings.openweather_base_url, history_source=open_meteo(), **http
        )

    if kind == "open-meteo":
        return open_meteo()
    if kind == "openweathermap":
        if not settings.openweather_api_key:
            raise ConfigError("OPENWEATHER_API_KEY must be set when WEATHER_SOURCE=openweathermap")
        return openweathermap()
    if kind == "auto":
        primary = openweathermap() if settings.openweather_api_key else open_meteo()
        return FallbackSource(primary, SyntheticSource(settings.synthetic_seed, anomalies))
    raise ConfigError(f"WEATHER_SOURCE {kind!r} is not a known source")
