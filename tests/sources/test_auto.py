"""Choosing a source from settings; standing in with synthetic data, loudly."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from tests.weather_api_double import VALID_KEY
from weatherlake.cities import City
from weatherlake.config import Secret, Settings
from weatherlake.errors import ConfigError, SourceAuthError, SourceUnreachable
from weatherlake.sources import (
    FallbackSource,
    OpenMeteoSource,
    OpenWeatherMapSource,
    ReplaySource,
    Source,
    SyntheticSource,
    history_with_fallback,
    open_source,
)

NOW = datetime(2026, 11, 23, 15, 20, tzinfo=UTC)


def settings(**overrides) -> Settings:
    return Settings.from_env({}, **overrides)


class Switchable(Source):
    """A provider whose backend the test swaps (down, then up again); counts calls."""

    def __init__(self, target: Source) -> None:
        self.target = target
        self.name = target.name
        self.calls = 0

    def current(self, cities: Sequence[City]) -> list[dict]:
        self.calls += 1
        return self.target.current(cities)

    def history(self, cities, start, end) -> Iterator[dict]:
        self.calls += 1
        return self.target.history(cities, start, end)


@pytest.mark.parametrize(
    ("overrides", "kind"),
    [
        ({"weather_source": "synthetic"}, SyntheticSource),
        ({"weather_source": "open-meteo"}, OpenMeteoSource),
        ({"weather_source": "openweathermap", "openweather_api_key": VALID_KEY}, OpenWeatherMapSource),
    ],
)
def test_explicit_sources(overrides, kind):
    if "openweather_api_key" in overrides:
        overrides = {**overrides, "openweather_api_key": Secret(overrides["openweather_api_key"])}
    source = open_source(settings(**overrides))
    assert type(source) is kind


def test_auto_prefers_openweathermap_when_a_key_is_set():
    with_key = open_source(settings(openweather_api_key=Secret(VALID_KEY)))
    without = open_source(settings())
    assert isinstance(with_key, FallbackSource) and isinstance(with_key.primary, OpenWeatherMapSource)
    assert isinstance(without, FallbackSource) and isinstance(without.primary, OpenMeteoSource)
    assert isinstance(without.fallback, SyntheticSource) and without.fallback.seed == 42
    assert VALID_KEY not in repr(with_key)


def test_replay_needs_a_readable_file(tmp_path):
    with pytest.raises(ConfigError, match="REPLAY_FILE must name a JSON Lines file"):
        open_source(settings(weather_source="replay"))
    with pytest.raises(ConfigError, match="is not a readable file"):
        open_source(settings(weather_source="replay", replay_file=str(tmp_path / "missing.jsonl")))
    path = tmp_path / "r.jsonl"
    path.write_text("")
    assert isinstance(open_source(settings(weather_source="replay", replay_file=str(path))), ReplaySource)


def test_openweathermap_without_a_key_is_a_configuration_error():
    with pytest.raises(ConfigError, match="OPENWEATHER_API_KEY must be set"):
        open_source(settings(weather_source="openweathermap"))


def test_auto_falls_back_to_synthetic_loudly_and_reprobes_every_ten_minutes(
    weather_api, closed_url, three_cities, caplog
):
    caplog.set_level(logging.WARNING)
    clock = [1000.0]
    down = OpenMeteoSource(closed_url, closed_url, retries=0, backoff=0)
    primary = Switchable(down)
    source = FallbackSource(primary, SyntheticSource(seed=3), clock=lambda: clock[0])

    got = source.current(three_cities)
    assert [r["source"] for r in got] == ["synthetic"] * 3
    assert source.falling_back
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "weatherlake.sources.auto"]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "Open-Meteo unreachable" in message and "connection refused" in message
    assert "records will say source: synthetic" in message

    clock[0] += 599  # within ten minutes: the provider is not asked again
    assert source.current(three_cities)[0]["source"] == "synthetic"
    assert primary.calls == 1

    clock[0] += 1  # ten minutes: probe again; still down, still loud
    assert source.current(three_cities)[0]["source"] == "synthetic"
    assert primary.calls == 2
    assert "still falling back to synthetic" in caplog.text

    primary.target = OpenMeteoSource(weather_api.url, weather_api.url, backoff=0)
    clock[0] += 600
    back = source.current(three_cities)
    assert [r["source"] for r in back] == ["open-meteo"] * 3
    assert back[0]["temperature"] == 7.6
    assert not source.falling_back
    assert "open-meteo answers again; records say source: open-meteo again" in caplog.text


def test_auto_falls_back_when_the_provider_times_out(weather_api, london, caplog):
    weather_api.slow_next(2, 1.0)
    slow = OpenMeteoSource(weather_api.url, weather_api.url, timeout=0.3, retries=1, backoff=0)
    source = FallbackSource(slow, SyntheticSource())
    assert source.current([london])[0]["source"] == "synthetic"
    assert "timed out" in caplog.text


def test_explicit_providers_never_fall_back(closed_url):
    source = open_source(settings(weather_source="open-meteo", open_meteo_base_url=closed_url))
    assert type(source) is OpenMeteoSource  # no FallbackSource around it: SourceUnreachable reaches the caller
    source = open_source(settings(weather_source="openweathermap", openweather_api_key=Secret(VALID_KEY)))
    assert type(source) is OpenWeatherMapSource


def test_a_rejected_key_is_raised_even_under_auto(weather_api, london):
    source = open_source(settings(openweather_api_key=Secret("bad-key"), openweather_base_url=weather_api.url))
    with pytest.raises(SourceAuthError, match="rejected the API key"):
        source.current([london])
    assert not source.falling_back


def test_auto_history_falls_back_for_the_whole_period_when_down(closed_url, three_cities, caplog):
    source = FallbackSource(OpenMeteoSource(closed_url, closed_url, retries=0, clock=lambda: NOW), SyntheticSource(4))
    start = NOW - timedelta(days=1)
    got = list(source.history(three_cities, start, NOW))
    assert len(got) == 3 * 24 and {r["source"] for r in got} == {"synthetic"}
    assert "records will say source: synthetic" in caplog.text


class DiesAfter(Source):
    """Yields the synthetic history for a few hours, then the network goes away."""

    name = "open-meteo"

    def __init__(self, hours: int) -> None:
        self.hours = hours

    def current(self, cities):
        raise SourceUnreachable("Open-Meteo unreachable at http://x: connection refused")

    def history(self, cities, start, end):
        for index, record in enumerate(SyntheticSource(seed=1).history(cities, start, end)):
            if index == self.hours * len(cities):
                raise SourceUnreachable("Open-Meteo unreachable at http://x: connection refused")
            yield {**record, "source": "open-meteo"}


def test_history_continues_with_the_fallback_from_where_the_provider_stopped(three_cities, caplog):
    start = datetime(2026, 11, 1, tzinfo=UTC)
    got = list(
        history_with_fallback(DiesAfter(5), SyntheticSource(seed=2), three_cities, start, start + timedelta(hours=12))
    )
    assert len(got) == 36
    assert [r["source"] for r in got] == ["open-meteo"] * 15 + ["synthetic"] * 21
    stamps = [r["timestamp"] for r in got[::3]]
    assert stamps == [f"2026-11-01T{hour:02d}:00:00Z" for hour in range(12)]
    assert "falling back to synthetic" in caplog.text
