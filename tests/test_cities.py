"""The bundled city catalogue."""

from __future__ import annotations

import dataclasses
import re
import zoneinfo
from importlib import resources

import orjson
import pytest

from weatherlake.cities import City, catalogue, resolve
from weatherlake.config import DEFAULT_CITIES
from weatherlake.errors import UnknownCityError


def test_the_catalogue_ships_as_package_data_and_loads_once():
    raw = resources.files("weatherlake").joinpath("data/cities.json").read_bytes()
    ids = [entry["id"] for entry in orjson.loads(raw)["cities"]]
    assert list(catalogue()) == ids
    assert catalogue() is catalogue()


def test_the_default_cities_and_two_dozen_more_are_there():
    cities = catalogue()
    assert set(DEFAULT_CITIES) <= set(cities)
    assert len(cities) >= 25
    southern = [city for city in cities.values() if city.latitude < 0]
    tropical = [city for city in cities.values() if abs(city.latitude) < 23.5]
    assert len(southern) >= 6 and len(tropical) >= 4


@pytest.mark.parametrize("city", list(catalogue().values()), ids=list(catalogue()))
def test_every_city_is_complete_and_plausible(city: City):
    assert re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", city.id)
    assert city.id.endswith("-" + city.country.lower())
    assert re.fullmatch(r"[A-Z]{2}", city.country)
    assert city.name.strip()
    assert -90 <= city.latitude <= 90 and -180 <= city.longitude <= 180
    assert isinstance(city.owm_id, int) and city.owm_id > 0
    zoneinfo.ZoneInfo(city.timezone)  # a real IANA name
    climate = city.climate
    assert -10 <= climate.annual_mean_c <= 35
    assert 0 <= climate.seasonal_amplitude_c <= 25
    assert 0 < climate.diurnal_amplitude_c <= 10
    assert 0 < climate.variability_c <= 8
    assert 10 <= climate.mean_humidity <= 95
    assert 995 <= climate.mean_pressure_hpa <= 1030
    assert 0 < climate.mean_wind_ms <= 12
    assert 0 <= climate.prevailing_wind_deg < 360
    assert 0 < climate.rain_hours_fraction < 0.5
    with pytest.raises(dataclasses.FrozenInstanceError):
        city.name = "x"  # type: ignore[misc]


def test_openweathermap_ids_are_unique():
    ids = [city.owm_id for city in catalogue().values()]
    assert len(ids) == len(set(ids))


def test_resolve_keeps_the_order_and_drops_duplicates():
    cities = resolve(["tokyo-jp", "london-gb", "tokyo-jp"])
    assert [city.id for city in cities] == ["tokyo-jp", "london-gb"]
    assert cities[1].name == "London" and cities[1].owm_id == 2643743
    assert resolve([]) == []


def test_resolve_names_the_unknown_id_and_the_known_ones():
    with pytest.raises(UnknownCityError) as caught:
        resolve(["london-gb", "xyz"])
    message = str(caught.value)
    assert message.startswith("unknown city id 'xyz' (known: london-gb, new-york-us, tokyo-jp")
    assert "sydney-au" in message and message.endswith(")")
