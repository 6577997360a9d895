"""Building a record from a provider's values, and the derived metrics it carries."""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING

from weatherlake.records.schema import SCHEMA_VERSION
from weatherlake.records.timestamps import format_timestamp, utc_now_text

if TYPE_CHECKING:
    from weatherlake.cities import City


def make_record(
    *,
    city: City,
    timestamp: datetime | str,
    source: str,
    temperature: float,
    humidity: float,
    pressure: float,
    wind_speed: float,
    feels_like: float | None = None,
    wind_direction: float | None = None,
    cloudiness: float | None = None,
    rainfall: float | None = 0.0,
    weather_main: str | None = None,
    weather_description: str | None = None,
    ingested_at: datetime | str | None = None,
) -> dict:
    """Build a schema-v1 record for ``city``; every parameter is a keyword, most named
    after the field they fill.

    ``timestamp`` and ``ingested_at`` (default: now) are datetimes, or text already in
    the schema's form (:func:`~weatherlake.records.format_timestamp`), which a bulk
    producer formats once for many cities. Values are rounded (0.01 for temperatures,
    wind and rain, 0.1 for humidity, pressure and angles) but never judged: call
    :func:`~weatherlake.records.validate` before publishing. ``feels_like`` defaults to
    the heat index, else the wind chill, else the temperature.
    """
    if type(timestamp) is not str:
        timestamp = format_timestamp(timestamp)
    if ingested_at is None:
        ingested_at = utc_now_text()
    elif type(ingested_at) is not str:
        ingested_at = format_timestamp(ingested_at)
    dp = dew_point(temperature, humidity)
    hi = heat_index(temperature, humidity)
    wc = wind_chill(temperature, wind_speed)
    if feels_like is None:
        feels_like = hi if hi is not None else wc if wc is not None else temperature

    # round() refuses NaN and infinity; a provider's garbage must still become a record
    # (validate refuses it with a reason), so then those values are kept as they are.
    r = round
    while True:
        try:
            return {
                "schema_version": SCHEMA_VERSION,
                "city_id": city.id,
                "city": city.name,
                "country": city.country,
                "latitude": city.latitude,
                "longitude": city.longitude,
                "timestamp": timestamp,
                "ingested_at": ingested_at,
                "source": source,
                "temperature": r(temperature * 100) / 100,
                "feels_like": r(feels_like * 100) / 100,
                "humidity": r(humidity * 10) / 10,
                "pressure": r(pressure * 10) / 10,
                "wind_speed": r(wind_speed * 100) / 100,
                "wind_direction": None if wind_direction is None else r(wind_direction * 10) / 10,
                "cloudiness": None if cloudiness is None else r(cloudiness * 10) / 10,
                "rainfall": 0.0 if rainfall is None else r(rainfall * 100) / 100,
                "weather_main": weather_main or None,
                "weather_description": weather_description or None,
                "dew_point": None if dp is None else r(dp * 100) / 100,
                "heat_index": None if hi is None else r(hi * 100) / 100,
                "wind_chill": None if wc is None else r(wc * 100) / 100,
            }
        except (ValueError, OverflowError):
            r = _round_finite


def _round_finite(value: float) -> float:
    return round(value) if math.isfinite(value) else value


_MAGNUS_B = 17.625
_MAGNUS_C = 243.04


def dew_point(t_c: float, rh: float) -> float | None:
    """Dew point in °C by the Magnus formula (Alduchov & Eskridge 1996 constants).

    None when the humidity is not positive (the logarithm has no value there).
    """
    if rh <= 0 or t_c <= -_MAGNUS_C:
        return None
    gamma = math.log(rh / 100.0) + _MAGNUS_B * t_c / (_MAGNUS_C + t_c)
    if gamma == _MAGNUS_B:
        return None
    return _MAGNUS_C * gamma / (_MAGNUS_B - gamma)


def heat_index(t_c: float, rh: float) -> float | None:
    """Heat index in °C by the US National Weather Service algorithm; None below 26.7 °C.

    Computed in °F as the NWS does: Steadman's simple formula when its average with the
    temperature is under 80 °F, else the Rothfusz regression with the NWS adjustments for
    very dry (RH < 13 %, 80..112 °F) and very humid (RH > 85 %, 80..87 °F) air.
    """
    t = t_c * 1.8 + 32.0
    if t < 80.0:
        return None
    hi = 0.5 * (t + 61.0 + (t - 68.0) * 1.2 + rh * 0.094)
    if (hi + t) * 0.5 >= 80.0:
        hi = (
            -42.379
            + 2.04901523 * t
            + 10.14333127 * rh
            - 0.22475541 * t * rh
            - 0.00683783 * t * t
            - 0.05481717 * rh * rh
            + 0.00122874 * t * t * rh
            + 0.00085282 * t * rh * rh
            - 0.00000199 * t * t * rh * rh
        )
        if rh < 13.0 and t <= 112.0:
            hi -= (13.0 - rh) * 0.25 * math.sqrt((17.0 - abs(t - 95.0)) / 17.0)
        elif rh > 85.0 and t <= 87.0:
            hi += (rh - 85.0) * 0.1 * (87.0 - t) * 0.2
    return (hi - 32.0) / 1.8


def wind_chill(t_c: float, wind_ms: float) -> float | None:
    """Wind chill in °C (NWS / Environment Canada 2001, wind in km/h at 10 m).

    None where the formula does not apply: above 10 °C or with wind at or below 4.8 km/h.
    """
    v = wind_ms * 3.6
    if t_c > 10.0 or v <= 4.8:
        return None
    p = v**0.16
    return 13.12 + 0.6215 * t_c - 11.37 * p + 0.3965 * t_c * p
