"""Open-Meteo current weather and history against the recorded answers."""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from tests.weather_api_double import fixture
from weatherlake import records
from weatherlake.cities import resolve
from weatherlake.errors import SourceError, SourceUnreachable
from weatherlake.sources import OpenMeteoSource, describe_weather_code
from weatherlake.sources.open_meteo import ARCHIVE_HOURLY_VARIABLES, CURRENT_VARIABLES

NOW = datetime(2026, 11, 23, 15, 20, tzinfo=UTC)


def open_meteo(api, now=NOW, **kwargs) -> OpenMeteoSource:
    kwargs.setdefault("backoff", 0)
    return OpenMeteoSource(api.url, api.url, timeout=2.0, clock=lambda: now, **kwargs)


def test_one_city_answer_becomes_a_record(weather_api, london):
    recorded = fixture("open_meteo_current_london.json")["current"]
    with open_meteo(weather_api) as source:
        [record] = source.current([london])
    assert records.validate(record) is record
    assert record["timestamp"] == "2026-11-23T14:00:00Z"
    assert record["source"] == "open-meteo"
    assert record["temperature"] == recorded["temperature_2m"] == 7.6
    assert record["feels_like"] == recorded["apparent_temperature"] == 3.9
    assert record["humidity"] == 88.0
    assert record["pressure"] == recorded["pressure_msl"] == 998.4
    assert record["wind_speed"] == 5.8  # asked for and answered in m/s
    assert record["wind_direction"] == 238.0
    assert record["cloudiness"] == 100.0
    # 0.1 mm of rain in the 15-minute interval, as an hourly amount
    assert record["rainfall"] == pytest.approx(0.1 * 3600 / recorded["interval"])
    assert (record["weather_main"], record["weather_description"]) == ("Rain", "slight rain")
    path, params = weather_api.requests[-1]
    assert path == "/v1/forecast"
    assert params == {
        "latitude": "51.5074",
        "longitude": "-0.1278",
        "current": ",".join(CURRENT_VARIABLES),
        "wind_speed_unit": "ms",
        "timezone": "GMT",
    }


def test_several_cities_share_one_request_and_units_are_converted(weather_api, three_cities):
    with open_meteo(weather_api) as source:
        london, tokyo, sydney = source.current(three_cities)
    assert len(weather_api.requests) == 1
    _, params = weather_api.requests[0]
    assert params["latitude"] == "51.5074,35.6762,-33.8688"
    assert params["longitude"] == "-0.1278,139.65,151.209"  # %g: six significant digits
    assert [r["city_id"] for r in (london, tokyo, sydney)] == ["london-gb", "tokyo-jp", "sydney-au"]
    # Tokyo's recording says km/h: 7.6 km/h is 2.11 m/s
    assert fixture("open_meteo_current_tokyo.json")["current_units"]["wind_speed_10m"] == "km/h"
    assert tokyo["wind_speed"] == pytest.approx(7.6 / 3.6, abs=0.005)
    assert (tokyo["weather_main"], tokyo["weather_description"]) == ("Clear", "clear sky")
    assert tokyo["rainfall"] == 0.0
    # Sydney: showers count as rain; WMO 80 is a rain shower
    assert sydney["rainfall"] == pytest.approx(0.3 * 4)
    assert (sydney["weather_main"], sydney["weather_description"]) == ("Rain", "slight rain showers")
    assert sydney["temperature"] == 19.3 and sydney["latitude"] == -33.8688
    assert all(records.validate(r) for r in (london, tokyo, sydney))


def test_fahrenheit_and_inches_are_converted_too(weather_api, london):
    body = fixture("open_meteo_current_london.json")
    body["current_units"].update(temperature_2m="°F", apparent_temperature="°F", rain="inch", wind_speed_10m="kn")
    body["current"].update(temperature_2m=50.0, apparent_temperature=41.0, rain=0.01, showers=0.0, wind_speed_10m=10)
    body["current_units"]["showers"] = "inch"
    weather_api.override("/v1/forecast", "london", body)
    with open_meteo(weather_api) as source:
        [record] = source.current([london])
    assert record["temperature"] == 10.0
    assert record["feels_like"] == 5.0
    assert record["wind_speed"] == pytest.approx(5.14, abs=0.01)
    assert record["rainfall"] == pytest.approx(0.254 * 4, abs=0.01)


def test_an_unknown_unit_is_refused_not_guessed(weather_api, london):
    body = fixture("open_meteo_current_london.json")
    body["current_units"]["temperature_2m"] = "K"
    weather_api.override("/v1/forecast", "london", body)
    with open_meteo(weather_api) as source, pytest.raises(SourceError, match="unknown unit 'K' for temperature_2m"):
        source.current([london])


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (0, ("Clear", "clear sky")),
        (1, ("Clouds", "mainly clear")),
        (2, ("Clouds", "partly cloudy")),
        (3, ("Clouds", "overcast")),
        (3.0, ("Clouds", "overcast")),
        (45, ("Fog", "fog")),
        (48, ("Fog", "depositing rime fog")),
        (53, ("Drizzle", "moderate drizzle")),
        (57, ("Drizzle", "dense freezing drizzle")),
        (61, ("Rain", "slight rain")),
        (65, ("Rain", "heavy rain")),
        (66, ("Rain", "light freezing rain")),
        (71, ("Snow", "slight snow fall")),
        (77, ("Snow", "snow grains")),
        (82, ("Rain", "violent rain showers")),
        (86, ("Snow", "heavy snow showers")),
        (95, ("Thunderstorm", "thunderstorm")),
        (99, ("Thunderstorm", "thunderstorm with heavy hail")),
        (42, (None, None)),
        (None, (None, None)),
        (True, (None, None)),
        ("61", (None, None)),
    ],
)
def test_wmo_weather_codes(code, expected):
    assert describe_weather_code(code) == expected


def test_an_error_answer_becomes_a_source_error_with_the_reason(weather_api, london):
    nowhere = dataclasses.replace(london, latitude=91.0)
    with open_meteo(weather_api) as source, pytest.raises(SourceError) as caught:
        source.current([nowhere])
    assert str(caught.value) == (
        "Open-Meteo rejected the request (HTTP 400): Latitude must be in range of -90 to 90°. Given: 91.0."
    )
    assert len(weather_api.requests) == 1  # a 400 is not retried


def test_a_recorded_400_body_is_read_the_same_way(weather_api, london):
    weather_api.fail_next(1, 400, fixture("open_meteo_400_latitude.json"))
    with open_meteo(weather_api) as source, pytest.raises(SourceError, match="Latitude must be in range"):
        source.current([london])


def test_server_errors_are_retried(weather_api, london):
    weather_api.fail_next(2, 502)
    with open_meteo(weather_api) as source:
        assert source.current([london])[0]["temperature"] == 7.6
    assert len(weather_api.requests) == 3


def test_timeouts_that_persist_make_the_provider_unreachable(weather_api, london):
    weather_api.slow_next(3, 1.0)
    source = OpenMeteoSource(weather_api.url, weather_api.url, timeout=0.3, retries=1, backoff=0)
    with (
        source,
        pytest.raises(SourceUnreachable, match=r"Open-Meteo unreachable at http://127\.0\.0\.1:\d+ .*timed out"),
    ):
        source.current([london])


def test_a_closed_port_is_unreachable(closed_url, london):
    source = OpenMeteoSource(closed_url, closed_url, retries=1, backoff=0)
    with source, pytest.raises(SourceUnreachable, match="connection refused"):
        source.current([london])


# --- history ------------------------------------------------------------------------------


def hourly_values(name: str, index: int) -> dict:
    hourly = fixture(name)["hourly"]
    return {key: values[index] for key, values in hourly.items()}


def test_recent_history_comes_from_the_forecast_api_hour_by_hour(weather_api):
    london, tokyo = resolve(["london-gb", "tokyo-jp"])
    start, end = datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC)
    with open_meteo(weather_api) as source:
        got = list(source.history([london, tokyo], start, end))
    assert len(got) == 96
    assert [r["city_id"] for r in got[:4]] == ["london-gb", "tokyo-jp", "london-gb", "tokyo-jp"]
    stamps = [r["timestamp"] for r in got[::2]]
    assert stamps[0] == "2026-11-20T00:00:00Z" and stamps[-1] == "2026-11-21T23:00:00Z"
    assert stamps == sorted(stamps) and len(set(stamps)) == 48
    assert weather_api.paths() == ["/v1/forecast"]
    _, params = weather_api.requests[0]
    assert (params["start_date"], params["end_date"]) == ("2026-11-20", "2026-11-21")
    assert params["latitude"] == "51.5074,35.6762" and params["wind_speed_unit"] == "ms"
    # hour 6 in London (index 6 of the recording): compare every field
    expected = hourly_values("open_meteo_hourly_london.json", 6)
    record = got[12]
    assert record["timestamp"] == "2026-11-20T06:00:00Z" and record["city_id"] == "london-gb"
    assert record["temperature"] == expected["temperature_2m"]
    assert record["humidity"] == expected["relative_humidity_2m"]
    assert record["pressure"] == expected["pressure_msl"]
    assert record["wind_speed"] == expected["wind_speed_10m"]
    assert record["wind_direction"] == expected["wind_direction_10m"]
    assert record["cloudiness"] == expected["cloud_cover"]
    assert record["rainfall"] == expected["rain"] + expected["showers"] > 0
    assert record["feels_like"] == expected["apparent_temperature"]
    assert record["weather_main"] == "Rain"
    assert all(records.validate(r) for r in got)


def test_a_period_inside_the_recording_is_cut_to_whole_hours(weather_api, london):
    start = datetime(2026, 11, 20, 22, 30, tzinfo=UTC)  # the first whole hour is 23:00
    end = datetime(2026, 11, 21, 2, tzinfo=UTC)
    with open_meteo(weather_api) as source:
        got = list(source.history([london], start, end))
    assert [r["timestamp"][11:16] for r in got] == ["23:00", "00:00", "01:00"]


def test_old_history_comes_from_the_archive(weather_api, london):
    start, end = datetime(2024, 1, 10, tzinfo=UTC), datetime(2024, 1, 12, tzinfo=UTC)
    with open_meteo(weather_api) as source:
        got = list(source.history([london], start, end))
    assert weather_api.paths() == ["/v1/archive"]
    _, params = weather_api.requests[0]
    assert params["hourly"] == ",".join(ARCHIVE_HOURLY_VARIABLES)
    assert "showers" not in params["hourly"]
    assert len(got) == 48
    expected = hourly_values("open_meteo_archive_london.json", 11)
    assert got[11]["timestamp"] == "2024-01-10T11:00:00Z"
    assert got[11]["temperature"] == expected["temperature_2m"]
    assert got[11]["rainfall"] == expected["rain"] > 0  # the archive has no showers: rain alone


def test_a_period_across_the_92_day_line_uses_both_apis(weather_api, london):
    # "now" is 2027-02-20, so the forecast API keeps 2026-11-21 onwards; 2026-11-20 is archive.
    now = datetime(2026, 11, 21, tzinfo=UTC) + timedelta(days=91, hours=12)
    archive_body = fixture("open_meteo_hourly_london.json")  # recorded format; the archive omits showers
    del archive_body["hourly"]["showers"], archive_body["hourly_units"]["showers"]
    weather_api.override("/v1/archive", "london", archive_body)
    with open_meteo(weather_api, now=now) as source:
        got = list(source.history([london], datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC)))
    assert [(path, params["start_date"], params["end_date"]) for path, params in weather_api.requests] == [
        ("/v1/archive", "2026-11-20", "2026-11-20"),
        ("/v1/forecast", "2026-11-21", "2026-11-21"),
    ]
    assert len(got) == 48
    assert [r["timestamp"] for r in got] == sorted(r["timestamp"] for r in got)


def test_hours_without_data_are_skipped_and_the_future_is_not_history(weather_api, london):
    body = fixture("open_meteo_hourly_london.json")
    for values in body["hourly"].values():
        if values and values[0] != "2026-11-20T00:00":
            for index in range(43, 48):
                values[index] = None  # the model has not produced these hours
    weather_api.override("/v1/forecast", "london", copy.deepcopy(body))
    with open_meteo(weather_api) as source:
        got = list(source.history([london], datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC)))
    assert len(got) == 43 and got[-1]["timestamp"] == "2026-11-21T18:00:00Z"

    now = datetime(2026, 11, 21, 5, 30, tzinfo=UTC)
    with open_meteo(weather_api, now=now) as source:
        got = list(source.history([london], datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC)))
    assert got[-1]["timestamp"] == "2026-11-21T05:00:00Z" and len(got) == 30


def test_an_empty_period_asks_nothing(weather_api, london):
    with open_meteo(weather_api) as source:
        assert list(source.history([london], NOW, NOW)) == []
        assert list(source.history([], NOW - timedelta(days=1), NOW)) == []
    assert weather_api.requests == []


def test_a_list_with_the_wrong_number_of_answers_is_refused(weather_api, three_cities):
    weather_api.fail_next(1, 200, [fixture("open_meteo_current_london.json")])
    with open_meteo(weather_api) as source, pytest.raises(SourceError, match="1 answers for 3 locations"):
        source.current(three_cities)
