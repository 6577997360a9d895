"""OpenWeatherMap current weather (API 2.5, free tier).

``GET /data/2.5/weather?lat=..&lon=..&units=metric&appid=KEY``, one request per city,
at most 60 requests a minute (the free tier's limit) through a sliding-window limiter.
With ``units=metric`` the answer is already in our units: ``main.temp`` and
``main.feels_like`` °C, ``main.humidity`` %, ``main.sea_level`` (else ``main.pressure``,
which is sea-level pressure too) hPa, ``wind.speed`` m/s, ``wind.deg`` degrees,
``clouds.all`` %, ``rain.1h`` mm, ``weather[0].main`` / ``description``, ``dt`` Unix time.

History is a paid OpenWeatherMap product, so :meth:`history` asks Open-Meteo.

Errors: 401 -> :class:`SourceAuthError` (the key is wrong; retrying cannot help); 404 ->
:class:`SourceError` naming the city; 429 and 5xx are retried first. The key travels in
the query string, so it is kept in a :class:`~weatherlake.config.Secret`, masked in
urllib3's log lines and never put into an exception message.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime

from weatherlake.cities import City
from weatherlake.config import Secret
from weatherlake.errors import ConfigError, SourceAuthError, SourceError, SourceUnreachable
from weatherlake.records import make_record
from weatherlake.sources.base import UTC, Source
from weatherlake.sources.http import RETRY_STATUSES, JsonClient, RateLimiter, payload_error, status_error

log = logging.getLogger(__name__)

PROVIDER = "OpenWeatherMap"
FREE_TIER_CALLS_PER_MINUTE = 60


class OpenWeatherMapSource(Source):
    """Current weather from OpenWeatherMap; history delegated to ``history_source``."""

    name = "openweathermap"

    def __init__(
        self,
        api_key: Secret | str,
        base_url: str = "https://api.openweathermap.org",
        *,
        history_source: Source | None = None,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._key = api_key if isinstance(api_key, Secret) else Secret(api_key)
        if not self._key:
            raise ConfigError(f"{PROVIDER} needs an API key: set OPENWEATHER_API_KEY")
        self._client = JsonClient(
            PROVIDER, base_url, timeout=timeout, retries=retries, backoff=backoff, secrets=(self._key.reveal(),)
        )
        self._limiter = limiter or RateLimiter(FREE_TIER_CALLS_PER_MINUTE, 60.0)
        self._history_source = history_source

    def __repr__(self) -> str:
        return f"OpenWeatherMapSource({self._client.host!r}, api_key={self._key!r})"

    def close(self) -> None:
        self._client.close()
        if self._history_source is not None:
            self._history_source.close()

    def current(self, cities: Sequence[City]) -> list[dict]:
        """One request per city. A city the provider cannot answer for is logged and left
        out; if none could be answered the first error is raised. An authentication failure
        or an unreachable provider is raised at once."""
        records, errors = [], []
        for city in cities:
            try:
                records.append(self.observe(city))
            except (SourceAuthError, SourceUnreachable):
                raise
            except SourceError as exc:
                log.error("%s", exc)
                errors.append(exc)
        if errors and not records:
            raise errors[0]
        return records

    def observe(self, city: City) -> dict:
        """The current observation for one city."""
        self._limiter.acquire()
        params = {
            "lat": f"{city.latitude:g}",
            "lon": f"{city.longitude:g}",
            "units": "metric",
            "appid": self._key.reveal(),
        }
        status, body = self._client.get("/data/2.5/weather", params)
        if status == 401:
            raise SourceAuthError(f"{PROVIDER} rejected the API key (HTTP 401)")
        if status == 404:
            raise SourceError(f"{PROVIDER} has no weather for {city.id} (HTTP 404: city not found)")
        if status != 200:
            raise status_error(PROVIDER, status, body, self._client.retries if status in RETRY_STATUSES else 0)
        if not isinstance(body, dict):
            raise payload_error(PROVIDER, f"a body that is not a JSON object for {city.id}")
        return parse_current(city, body, self.name)

    def history(self, cities: Sequence[City], start: datetime, end: datetime) -> Iterator[dict]:
        if self._history_source is None:
            raise SourceError(f"{PROVIDER} history is a paid API; no history source configured")
        return self._history_source.history(cities, start, end)


def parse_current(city: City, body: dict, source: str = "openweathermap") -> dict:
    """A record from one ``/data/2.5/weather`` answer (requested with ``units=metric``)."""
    main = _object(body, "main", city)
    wind = body.get("wind") if isinstance(body.get("wind"), dict) else {}
    clouds = body.get("clouds") if isinstance(body.get("clouds"), dict) else {}
    rain = body.get("rain") if isinstance(body.get("rain"), dict) else {}
    weather = body.get("weather")
    condition = weather[0] if isinstance(weather, list) and weather and isinstance(weather[0], dict) else {}
    dt = body.get("dt")
    if isinstance(dt, bool) or not isinstance(dt, (int, float)):
        raise payload_error(PROVIDER, f"no observation time 'dt' for {city.id}")
    values = {}
    for name, value in (
        ("main.temp", main.get("temp")),
        ("main.humidity", main.get("humidity")),
        ("main.pressure", main.get("sea_level", main.get("pressure"))),
        ("wind.speed", wind.get("speed")),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise payload_error(PROVIDER, f"no number {name} for {city.id}")
        values[name] = value
    return make_record(
        city=city,
        timestamp=datetime.fromtimestamp(dt, UTC),
        source=source,
        temperature=values["main.temp"],
        humidity=values["main.humidity"],
        pressure=values["main.pressure"],
        wind_speed=values["wind.speed"],
        feels_like=_optional_number(main.get("feels_like")),
        wind_direction=_optional_number(wind.get("deg")),
        cloudiness=_optional_number(clouds.get("all")),
        rainfall=_optional_number(rain.get("1h")) or 0.0,
        weather_main=condition.get("main") if isinstance(condition.get("main"), str) else None,
        weather_description=condition.get("description") if isinstance(condition.get("description"), str) else None,
    )


def _object(body: dict, key: str, city: City) -> dict:
    value = body.get(key)
    if not isinstance(value, dict):
        raise payload_error(PROVIDER, f"no '{key}' object for {city.id}")
    return value


def _optional_number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)
