"""Fixtures for the source tests: the weather API double, cities, a closed port."""

from __future__ import annotations

import socket

import pytest

from tests.weather_api_double import WeatherApiDouble
from weatherlake.cities import resolve


@pytest.fixture
def weather_api():
    with WeatherApiDouble() as api:
        yield api


@pytest.fixture
def closed_url():
    """A URL where nothing listens: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def london():
    return resolve(["london-gb"])[0]


@pytest.fixture
def three_cities():
    return resolve(["london-gb", "tokyo-jp", "sydney-au"])
