"""The bundled city catalogue (``weatherlake/data/cities.json``, shipped as package data).

Each city has a stable slug id (``london-gb``: name, then ISO country code), where it is,
its OpenWeatherMap city id and IANA time zone, and a few climate normals that drive the
synthetic source. ``CITIES`` in the environment picks cities from here by id.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

import orjson

from weatherlake.errors import UnknownCityError


@dataclass(frozen=True, slots=True)
class Climate:
    """Approximate climate normals, enough for plausible synthetic weather."""

    annual_mean_c: float  # mean air temperature over the year
    seasonal_amplitude_c: float  # half of (warmest minus coldest monthly mean)
    diurnal_amplitude_c: float  # half of the typical day-night range
    variability_c: float  # standard deviation of multi-day swings (fronts, spells)
    mean_humidity: float  # % relative humidity
    mean_pressure_hpa: float  # mean sea-level pressure
    mean_wind_ms: float  # mean wind speed at 10 m
    prevailing_wind_deg: float  # direction the wind usually comes from
    rain_hours_fraction: float  # share of hours with measurable rain


@dataclass(frozen=True, slots=True)
class City:
    id: str
    name: str
    country: str  # ISO 3166 alpha-2
    latitude: float
    longitude: float
    owm_id: int  # OpenWeatherMap city id
    timezone: str  # IANA name
    climate: Climate


@functools.cache
def catalogue() -> dict[str, City]:
    """Every bundled city by id, in catalogue order (loaded once)."""
    raw = resources.files("weatherlake").joinpath("data/cities.json").read_bytes()
    cities = {}
    for entry in orjson.loads(raw)["cities"]:
        city = City(**{**entry, "climate": Climate(**entry["climate"])})
        cities[city.id] = city
    return cities


def resolve(ids: Iterable[str]) -> list[City]:
    """The cities named by ``ids`` in the given order (duplicates dropped).

    Raise :class:`UnknownCityError` naming the first id that is not in the catalogue.
    """
    known = catalogue()
    chosen: dict[str, City] = {}
    for city_id in ids:
        city = known.get(city_id)
        if city is None:
            raise UnknownCityError(f"unknown city id {city_id!r} (known: {', '.join(known)})")
        chosen.setdefault(city_id, city)
    return list(chosen.values())
