"""Open-Meteo: free, keyless, several cities per request.

* current: ``GET /v1/forecast?latitude=a,b&longitude=c,d&current=...&wind_speed_unit=ms
  &timezone=GMT``. With several locations the answer is a JSON list in request order
  (each item with a ``location_id``); with one it is a single object.
* history, the last 92 days: the same endpoint with ``hourly=...&start_date&end_date``;
  older: the archive API ``/v1/archive`` (ERA5 reanalysis; it lags about five days, which
  is why recent hours come from the forecast API).
* units: read from ``current_units`` / ``hourly_units`` and converted to ours (°C, m/s,
  hPa, mm), whatever was asked for; an unknown unit is a ``SourceError``.
* rainfall: ``rain`` + ``showers`` (liquid; snow is not rain), else ``precipitation``.
  Hourly values are sums over the preceding hour, as the schema wants. Current values are
  sums over the preceding ``interval`` (15 min), scaled to an hourly rate.
* weather codes: WMO 4677 codes as Open-Meteo documents them, mapped to
  ``weather_main`` / ``weather_description`` in OpenWeatherMap's style (see ``WMO_CODES``).
* errors: ``{"error": true, "reason": "..."}`` (HTTP 400) -> ``SourceError(reason)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timedelta

from weatherlake.cities import City
from weatherlake.errors import SourceError
from weatherlake.records import make_record
from weatherlake.sources.base import UTC, Source, align_up, as_utc
from weatherlake.sources.http import RETRY_STATUSES, JsonClient, payload_error, status_error

log = logging.getLogger(__name__)

PROVIDER = "Open-Meteo"
_COMMON = (
    "temperature_2m",
    "relative_humidity_2m",
    "apparent_temperature",
    "pressure_msl",
    "wind_speed_10m",
    "wind_direction_10m",
    "cloud_cover",
    "rain",
)
CURRENT_VARIABLES = (*_COMMON, "showers", "precipitation", "weather_code")
FORECAST_HOURLY_VARIABLES = CURRENT_VARIABLES
ARCHIVE_HOURLY_VARIABLES = (*_COMMON, "precipitation", "weather_code")  # the archive has no "showers"
RECENT_DAYS = 92  # the forecast API keeps this many past days
MAX_LOCATIONS_PER_REQUEST = 50
HISTORY_CHUNK_DAYS = 31

WMO_CODES: dict[int, tuple[str, str]] = {
    0: ("Clear", "clear sky"),
    1: ("Clouds", "mainly clear"),
    2: ("Clouds", "partly cloudy"),
    3: ("Clouds", "overcast"),
    45: ("Fog", "fog"),
    48: ("Fog", "depositing rime fog"),
    51: ("Drizzle", "light drizzle"),
    53: ("Drizzle", "moderate drizzle"),
    55: ("Drizzle", "dense drizzle"),
    56: ("Drizzle", "light freezing drizzle"),
    57: ("Drizzle", "dense freezing drizzle"),
    61: ("Rain", "slight rain"),
    63: ("Rain", "moderate rain"),
    65: ("Rain", "heavy rain"),
    66: ("Rain", "light freezing rain"),
    67: ("Rain", "heavy freezing rain"),
    71: ("Snow", "slight snow fall"),
    73: ("Snow", "moderate snow fall"),
    75: ("Snow", "heavy snow fall"),
    77: ("Snow", "snow grains"),
    80: ("Rain", "slight rain showers"),
    81: ("Rain", "moderate rain showers"),
    82: ("Rain", "violent rain showers"),
    85: ("Snow", "slight snow showers"),
    86: ("Snow", "heavy snow showers"),
    95: ("Thunderstorm", "thunderstorm"),
    96: ("Thunderstorm", "thunderstorm with slight hail"),
    99: ("Thunderstorm", "thunderstorm with heavy hail"),
}


def describe_weather_code(code: object) -> tuple[str | None, str | None]:
    """``(weather_main, weather_description)`` for a WMO code; ``(None, None)`` if unknown."""
    if isinstance(code, float) and code.is_integer():
        code = int(code)
    if not isinstance(code, int) or isinstance(code, bool):
        return None, None
    return WMO_CODES.get(code, (None, None))


# Unit strings as Open-Meteo writes them in *_units, and how to reach ours.
_TEMPERATURE_UNITS = {"°C": lambda v: v, "°F": lambda v: (v - 32.0) / 1.8}
_SPEED_UNITS = {"m/s": 1.0, "km/h": 1.0 / 3.6, "mp/h": 0.44704, "mph": 0.44704, "kn": 0.514444}
_LENGTH_UNITS = {"mm": 1.0, "inch": 25.4}
_PRESSURE_UNITS = {"hPa": 1.0}
_PERCENT_UNITS = {"%": 1.0}
_ANGLE_UNITS = {"°": 1.0}
_SCALE_BY_VARIABLE = {
    "relative_humidity_2m": _PERCENT_UNITS,
    "cloud_cover": _PERCENT_UNITS,
    "pressure_msl": _PRESSURE_UNITS,
    "wind_speed_10m": _SPEED_UNITS,
    "wind_direction_10m": _ANGLE_UNITS,
    "rain": _LENGTH_UNITS,
    "showers": _LENGTH_UNITS,
    "precipitation": _LENGTH_UNITS,
}


def _converters(units: object) -> dict[str, Callable[[float], float]]:
    """Per-variable conversion to our units, from a ``*_units`` object."""
    if not isinstance(units, dict):
        raise payload_error(PROVIDER, "no units object in the answer")
    converters: dict[str, Callable[[float], float]] = {}
    for variable, unit in units.items():
        if variable in ("temperature_2m", "apparent_temperature"):
            convert = _TEMPERATURE_UNITS.get(unit)
        elif variable in _SCALE_BY_VARIABLE:
            factor = _SCALE_BY_VARIABLE[variable].get(unit)
            convert = None if factor is None else (lambda v, f=factor: v * f)
        else:
            continue  # time, interval, weather_code: not converted
        if convert is None:
            raise payload_error(PROVIDER, f"unknown unit {unit!r} for {variable}")
        converters[variable] = convert
    return converters


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _liquid_rain(get: Callable[[str], float | None]) -> float:
    """Rain plus showers (liquid water), else all precipitation, else 0 (mm)."""
    rain, showers = get("rain"), get("showers")
    if rain is not None or showers is not None:
        return (rain or 0.0) + (showers or 0.0)
    precipitation = get("precipitation")
    return precipitation if precipitation is not None else 0.0


class OpenMeteoSource(Source):
    """Current weather and hourly history from Open-Meteo."""

    name = "open-meteo"

    def __init__(
        self,
        base_url: str = "https://api.open-meteo.com",
        archive_url: str = "https://archive-api.open-meteo.com",
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._forecast = JsonClient(PROVIDER, base_url, timeout=timeout, retries=retries, backoff=backoff)
        self._archive = JsonClient(
            PROVIDER + " archive", archive_url, timeout=timeout, retries=retries, backoff=backoff
        )
        self._clock = clock or (lambda: datetime.now(UTC))

    def __repr__(self) -> str:
        return f"OpenMeteoSource({self._forecast.host!r}, {self._archive.host!r})"

    def close(self) -> None:
        self._forecast.close()
        self._archive.close()

    # --- current ------------------------------------------------------------------------

    def current(self, cities: Sequence[City]) -> list[dict]:
        records = []
        for chunk in _chunks(cities, MAX_LOCATIONS_PER_REQUEST):
            answers = self._request(
                self._forecast,
                "/v1/forecast",
                chunk,
                {"current": ",".join(CURRENT_VARIABLES), "wind_speed_unit": "ms", "timezone": "GMT"},
            )
            for city, answer in zip(chunk, answers, strict=True):
                record = self._current_record(city, answer)
                if record is not None:
                    records.append(record)
        return records

    def _current_record(self, city: City, answer: dict) -> dict | None:
        block = answer.get("current")
        if not isinstance(block, dict):
            raise payload_error(PROVIDER, f"no 'current' block for {city.id}")
        convert = _converters(answer.get("current_units"))

        def get(variable: str) -> float | None:
            value = _number(block.get(variable))
            return None if value is None or variable not in convert else convert[variable](value)

        required = {
            name: get(name) for name in ("temperature_2m", "relative_humidity_2m", "pressure_msl", "wind_speed_10m")
        }
        missing = [name for name, value in required.items() if value is None]
        if missing:
            log.warning("%s has no current %s for %s; skipped", PROVIDER, ", ".join(missing), city.id)
            return None
        interval = _number(block.get("interval")) or 3600.0
        main, description = describe_weather_code(block.get("weather_code"))
        return make_record(
            city=city,
            timestamp=_answer_time(block.get("time"), answer),
            source=self.name,
            temperature=required["temperature_2m"],
            humidity=required["relative_humidity_2m"],
            pressure=required["pressure_msl"],
            wind_speed=required["wind_speed_10m"],
            feels_like=get("apparent_temperature"),
            wind_direction=get("wind_direction_10m"),
            cloudiness=get("cloud_cover"),
            rainfall=_liquid_rain(get) * 3600.0 / interval,
            weather_main=main,
            weather_description=description,
        )

    # --- history ------------------------------------------------------------------------

    def history(self, cities: Sequence[City], start: datetime, end: datetime) -> Iterator[dict]:
        """Hourly observations; hours after now are forecasts, not observations, so the
        period is cut at the current time."""
        now = as_utc(self._clock())
        start, end = align_up(start), min(as_utc(end), now)
        if start >= end or not cities:
            return
        recent_from = (now - timedelta(days=RECENT_DAYS - 1)).date()
        day = start.date()
        last_day = (end - timedelta(microseconds=1)).date()
        while day <= last_day:
            use_archive = day < recent_from
            chunk_end = min(last_day, day + timedelta(days=HISTORY_CHUNK_DAYS - 1))
            if use_archive:
                chunk_end = min(chunk_end, recent_from - timedelta(days=1))
            yield from self._history_chunk(cities, day, chunk_end, start, end, use_archive)
            day = chunk_end + timedelta(days=1)

    def _history_chunk(
        self, cities: Sequence[City], first: date, last: date, start: datetime, end: datetime, archive: bool
    ) -> Iterator[dict]:
        """Records for whole days ``first..last`` (UTC), kept within ``[start, end)``,
        ordered by hour then by city."""
        client, path, variables = (
            (self._archive, "/v1/archive", ARCHIVE_HOURLY_VARIABLES)
            if archive
            else (self._forecast, "/v1/forecast", FORECAST_HOURLY_VARIABLES)
        )
        by_hour: dict[datetime, list[dict]] = {}
        for chunk in _chunks(cities, MAX_LOCATIONS_PER_REQUEST):
            answers = self._request(
                client,
                path,
                chunk,
                {
                    "hourly": ",".join(variables),
                    "start_date": first.isoformat(),
                    "end_date": last.isoformat(),
                    "wind_speed_unit": "ms",
                    "timezone": "GMT",
                },
            )
            for city, answer in zip(chunk, answers, strict=True):
                for record_time, record in self._hourly_records(city, answer):
                    if start <= record_time < end:
                        by_hour.setdefault(record_time, []).append(record)
        for record_time in sorted(by_hour):
            yield from by_hour[record_time]

    def _hourly_records(self, city: City, answer: dict) -> Iterator[tuple[datetime, dict]]:
        block = answer.get("hourly")
        if not isinstance(block, dict) or not isinstance(block.get("time"), list):
            raise payload_error(PROVIDER, f"no 'hourly' block for {city.id}")
        convert = _converters(answer.get("hourly_units"))
        times = block["time"]
        columns = {
            name: values for name, values in block.items() if isinstance(values, list) and len(values) == len(times)
        }
        skipped = 0
        for index, text in enumerate(times):

            def get(variable: str, index: int = index) -> float | None:
                column = columns.get(variable)
                value = None if column is None else _number(column[index])
                return None if value is None or variable not in convert else convert[variable](value)

            temperature, humidity = get("temperature_2m"), get("relative_humidity_2m")
            pressure, wind_speed = get("pressure_msl"), get("wind_speed_10m")
            if temperature is None or humidity is None or pressure is None or wind_speed is None:
                skipped += 1  # hours the model has not produced yet come back as null
                continue
            code = columns.get("weather_code")
            main, description = describe_weather_code(code[index] if code else None)
            moment = _answer_time(text, answer)
            yield (
                moment,
                make_record(
                    city=city,
                    timestamp=moment,
                    source=self.name,
                    temperature=temperature,
                    humidity=humidity,
                    pressure=pressure,
                    wind_speed=wind_speed,
                    feels_like=get("apparent_temperature"),
                    wind_direction=get("wind_direction_10m"),
                    cloudiness=get("cloud_cover"),
                    rainfall=_liquid_rain(get),
                    weather_main=main,
                    weather_description=description,
                ),
            )
        if skipped:
            log.info("%s: %d hours without data for %s skipped", PROVIDER, skipped, city.id)

    # --- plumbing -----------------------------------------------------------------------

    def _request(self, client: JsonClient, path: str, cities: Sequence[City], params: dict) -> list[dict]:
        """One request for several cities; the answers in the cities' order."""
        query = {
            "latitude": ",".join(f"{city.latitude:g}" for city in cities),
            "longitude": ",".join(f"{city.longitude:g}" for city in cities),
            **params,
        }
        status, body = client.get(path, query)
        if isinstance(body, dict) and body.get("error"):
            reason = str(body.get("reason") or "no reason given")
            raise SourceError(f"{PROVIDER} rejected the request (HTTP {status}): {reason}")
        if status != 200:
            raise status_error(PROVIDER, status, body, client.retries if status in RETRY_STATUSES else 0)
        answers = body if isinstance(body, list) else [body]
        if len(answers) != len(cities) or not all(isinstance(answer, dict) for answer in answers):
            raise payload_error(PROVIDER, f"{len(answers)} answers for {len(cities)} locations")
        return answers


def _answer_time(text: object, answer: dict) -> datetime:
    """Open-Meteo's local ISO time (``2026-11-23T14:15``) as aware UTC."""
    if not isinstance(text, str):
        raise payload_error(PROVIDER, f"time {text!r} is not an ISO-8601 string")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise payload_error(PROVIDER, f"time {text!r} is not an ISO-8601 string") from None
    offset = _number(answer.get("utc_offset_seconds")) or 0.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC) - timedelta(seconds=offset)
    return moment.astimezone(UTC)


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for index in range(0, len(items), size):
        yield items[index : index + size]
