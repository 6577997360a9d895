"""OpenWeatherMap current weather against the recorded answers."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from tests.weather_api_double import VALID_KEY, fixture
from weatherlake import records
from weatherlake.cities import resolve
from weatherlake.config import Secret
from weatherlake.errors import ConfigError, SourceAuthError, SourceError
from weatherlake.sources import OpenMeteoSource, OpenWeatherMapSource
from weatherlake.sources.http import RateLimiter


def owm(api, key=VALID_KEY, **kwargs) -> OpenWeatherMapSource:
    kwargs.setdefault("backoff", 0)
    return OpenWeatherMapSource(Secret(key), api.url, timeout=2.0, **kwargs)


def test_a_recorded_answer_becomes_a_record_in_our_units(weather_api, london):
    recorded = fixture("owm_current_london.json")
    with owm(weather_api) as source:
        record = source.observe(london)
    assert records.validate(record) is record
    assert (
        record["timestamp"]
        == "2026-11-23T14:00:00Z"
        == records.format_timestamp(datetime.fromtimestamp(recorded["dt"], UTC))
    )
    assert record["source"] == "openweathermap"
    assert (record["city_id"], record["city"], record["country"]) == ("london-gb", "London", "GB")
    assert record["temperature"] == recorded["main"]["temp"] == 7.42
    assert record["feels_like"] == recorded["main"]["feels_like"] == 4.18
    assert record["humidity"] == 89.0
    assert record["pressure"] == recorded["main"]["sea_level"] == 998
    assert record["wind_speed"] == recorded["wind"]["speed"] == 5.66
    assert record["wind_direction"] == 240.0
    assert record["cloudiness"] == 100.0
    assert record["rainfall"] == recorded["rain"]["1h"] == 0.64
    assert (record["weather_main"], record["weather_description"]) == ("Rain", "light rain")
    assert record["dew_point"] == pytest.approx(records.dew_point(7.42, 89), abs=0.01)
    path, params = weather_api.requests[-1]
    assert path == "/data/2.5/weather"
    assert params == {"lat": "51.5074", "lon": "-0.1278", "units": "metric", "appid": VALID_KEY}


def test_several_cities_are_one_request_each_in_order(weather_api):
    cities = resolve(["tokyo-jp", "dubai-ae", "london-gb"])
    with owm(weather_api) as source:
        got = source.current(cities)
    assert [r["city_id"] for r in got] == ["tokyo-jp", "dubai-ae", "london-gb"]
    assert weather_api.paths() == ["/data/2.5/weather"] * 3
    tokyo, dubai, _ = got
    assert tokyo["rainfall"] == 0.0  # no "rain" object: it did not rain
    assert tokyo["timestamp"] == "2026-11-23T14:02:00Z"
    assert (tokyo["weather_main"], tokyo["cloudiness"]) == ("Clear", 0.0)
    assert dubai["temperature"] == 31.96 and dubai["feels_like"] == 34.2  # the provider's own feels-like
    assert dubai["heat_index"] == pytest.approx(records.heat_index(31.96, 48), abs=0.01)
    assert all(records.validate(r) for r in got)


def test_pressure_falls_back_to_main_pressure_without_sea_level(weather_api, london):
    body = fixture("owm_current_london.json")
    del body["main"]["sea_level"]
    body["main"]["pressure"] = 1003
    weather_api.override("/data/2.5/weather", "london", body)
    with owm(weather_api) as source:
        assert source.observe(london)["pressure"] == 1003.0


def test_a_rejected_key_is_one_clear_error_without_retries(weather_api, three_cities):
    with owm(weather_api, key="wrong-key-123") as source, pytest.raises(SourceAuthError) as caught:
        source.current(three_cities)
    assert str(caught.value) == "OpenWeatherMap rejected the API key (HTTP 401)"
    assert len(weather_api.requests) == 1  # not retried, and no other city tried


def test_an_unknown_city_is_a_clear_error(weather_api):
    paris = resolve(["paris-fr"])[0]  # no recording: the double answers 404 "city not found"
    with owm(weather_api) as source, pytest.raises(SourceError) as caught:
        source.observe(paris)
    assert str(caught.value) == "OpenWeatherMap has no weather for paris-fr (HTTP 404: city not found)"
    assert type(caught.value) is SourceError


def test_one_unknown_city_does_not_stop_the_others(weather_api, caplog):
    cities = resolve(["london-gb", "paris-fr", "tokyo-jp"])
    with owm(weather_api) as source:
        got = source.current(cities)
    assert [r["city_id"] for r in got] == ["london-gb", "tokyo-jp"]
    assert "no weather for paris-fr" in caplog.text
    with owm(weather_api) as source, pytest.raises(SourceError, match="paris-fr"):
        source.current(resolve(["paris-fr"]))


def test_429_is_retried_after_the_time_retry_after_asks(weather_api, london):
    weather_api.fail_next(1, 429, fixture("owm_429.json"), {"Retry-After": "1"})
    started = time.monotonic()
    with owm(weather_api) as source:
        record = source.observe(london)
    assert time.monotonic() - started >= 0.9
    assert record["temperature"] == 7.42
    assert len(weather_api.requests) == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried_then_succeed(weather_api, london, status):
    weather_api.fail_next(2, status)
    with owm(weather_api) as source:
        assert source.observe(london)["temperature"] == 7.42
    assert len(weather_api.requests) == 3


def test_server_errors_that_persist_become_a_source_error(weather_api, london):
    weather_api.fail_next(10, 503, {"cod": 503, "message": "Service Unavailable"})
    with owm(weather_api, retries=2) as source, pytest.raises(SourceError) as caught:
        source.observe(london)
    assert str(caught.value) == "OpenWeatherMap failed with HTTP 503 after 2 retries: Service Unavailable"
    assert len(weather_api.requests) == 3


def test_persistent_rate_limiting_says_so(weather_api, london):
    weather_api.fail_next(10, 429, fixture("owm_429.json"), {"Retry-After": "0"})
    with owm(weather_api, retries=1) as source, pytest.raises(SourceError, match=r"rate limit exceeded \(HTTP 429\)"):
        source.observe(london)


def test_a_slow_answer_past_the_timeout_is_retried(weather_api, london):
    weather_api.slow_next(1, 1.5)
    with OpenWeatherMapSource(Secret(VALID_KEY), weather_api.url, timeout=0.5, backoff=0) as source:
        assert source.observe(london)["temperature"] == 7.42
    assert len(weather_api.requests) == 2


def test_requests_respect_the_rate_limiter(weather_api):
    now = [0.0]
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(2, 60.0, clock=lambda: now[0], sleep=sleep)
    with owm(weather_api, limiter=limiter) as source:
        assert len(source.current(resolve(["london-gb", "tokyo-jp", "dubai-ae"]))) == 3
    assert sleeps == [60.0]  # the third call of the minute waited for the window


def test_history_comes_from_open_meteo(weather_api, london):
    history = OpenMeteoSource(weather_api.url, weather_api.url, clock=lambda: datetime(2026, 11, 23, 15, tzinfo=UTC))
    with owm(weather_api, history_source=history) as source:
        got = list(source.history([london], datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 20, 3, tzinfo=UTC)))
    assert [r["timestamp"] for r in got] == ["2026-11-20T00:00:00Z", "2026-11-20T01:00:00Z", "2026-11-20T02:00:00Z"]
    assert {r["source"] for r in got} == {"open-meteo"}
    assert weather_api.paths() == ["/v1/forecast"]


def test_history_without_a_history_source_says_it_is_paid(weather_api, london):
    with owm(weather_api) as source, pytest.raises(SourceError, match="paid"):
        source.history([london], datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))


def test_a_missing_key_is_a_configuration_error():
    with pytest.raises(ConfigError, match="OPENWEATHER_API_KEY"):
        OpenWeatherMapSource(Secret(""))


def test_an_answer_without_the_temperature_is_a_source_error(weather_api, london):
    body = fixture("owm_current_london.json")
    del body["main"]["temp"]
    weather_api.override("/data/2.5/weather", "london", body)
    with owm(weather_api) as source, pytest.raises(SourceError, match="no number main.temp for london-gb"):
        source.observe(london)
