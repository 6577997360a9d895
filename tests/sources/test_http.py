"""HTTP plumbing: the API key never leaks; rate limiting; redaction."""

from __future__ import annotations

import logging
import traceback

import pytest

from tests.weather_api_double import VALID_KEY
from weatherlake.config import Secret, Settings
from weatherlake.errors import SourceAuthError, SourceError, SourceUnreachable
from weatherlake.sources import OpenWeatherMapSource, open_source
from weatherlake.sources.http import RateLimiter, redact

SECRET = "s3cr3t-key-0123456789abcdef"


def leaks(text: str) -> bool:
    return SECRET in text


def all_text(caplog, exc: BaseException | None = None, *objects) -> str:
    parts = [caplog.text] + [record.getMessage() for record in caplog.records]
    parts += [str(record.args) for record in caplog.records]
    if exc is not None:
        parts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    parts += [repr(obj) for obj in objects] + [str(obj) for obj in objects]
    return "\n".join(parts)


@pytest.fixture
def debug_logs(caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "urllib3.connectionpool", "urllib3.util.retry", "requests"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def test_the_key_never_leaks_when_the_server_keeps_failing(weather_api, london, debug_logs):
    weather_api.api_key = SECRET
    weather_api.fail_next(10, 503, {"cod": 503, "message": "Service Unavailable"})
    source = OpenWeatherMapSource(Secret(SECRET), weather_api.url, retries=2, backoff=0)
    with pytest.raises(SourceError) as caught:
        source.observe(london)
    assert weather_api.requests[0][1]["appid"] == SECRET  # it was really sent
    text = all_text(debug_logs, caught.value, source)
    assert "appid=***" in text  # urllib3 did log the URL, redacted
    assert not leaks(text)


def test_the_key_never_leaks_when_nothing_answers(closed_url, london, debug_logs):
    source = OpenWeatherMapSource(Secret(SECRET), closed_url, retries=2, backoff=0)
    with pytest.raises(SourceUnreachable) as caught:
        source.observe(london)
    assert str(caught.value).startswith(
        f"OpenWeatherMap unreachable at {closed_url} after 2 retries: connection refused"
    )
    text = all_text(debug_logs, caught.value, source)
    assert "Retrying" in text  # urllib3's WARNING with the URL was emitted ...
    assert not leaks(text)  # ... without the key


def test_the_key_never_leaks_through_auto_fallback(closed_url, three_cities, debug_logs):
    settings = Settings.from_env({}, openweather_api_key=Secret(SECRET), openweather_base_url=closed_url)
    source = open_source(settings)
    assert [r["source"] for r in source.current(three_cities)] == ["synthetic"] * 3
    text = all_text(debug_logs, None, source, settings)
    assert "records will say source: synthetic" in text
    assert not leaks(text)


def test_the_key_never_leaks_when_it_is_rejected(weather_api, london, debug_logs):
    source = OpenWeatherMapSource(Secret(SECRET), weather_api.url, backoff=0)
    with pytest.raises(SourceAuthError) as caught:
        source.observe(london)
    assert str(caught.value) == "OpenWeatherMap rejected the API key (HTTP 401)"
    assert not leaks(all_text(debug_logs, caught.value, source))


def test_redact_masks_known_secrets_and_key_like_parameters():
    assert redact(f"GET /x?lat=1&appid={SECRET}&units=metric") == "GET /x?lat=1&appid=***&units=metric"
    assert redact(f"token={SECRET}'") == "token=***'"
    assert redact(f"the key is {SECRET}.", [SECRET]) == "the key is ***."
    assert redact("nothing to hide") == "nothing to hide"


def test_rate_limiter_allows_a_window_then_waits():
    now = [100.0]
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(3, 10.0, clock=lambda: now[0], sleep=sleep)
    assert [limiter.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    now[0] += 4.0
    assert limiter.acquire() == pytest.approx(6.0)  # the first call leaves the window at t=110
    assert sleeps == [pytest.approx(6.0)]
    now[0] += 20.0
    assert limiter.acquire() == 0.0


def test_the_default_limit_is_the_free_tier():
    source = OpenWeatherMapSource(Secret(VALID_KEY))
    assert (source._limiter.calls, source._limiter.period) == (60, 60.0)
