"""UTC texts to the second and to the hour, and parsing them back."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from weatherlake import timefmt

MOMENT = datetime(2026, 11, 23, 14, 5, 9, 987654, tzinfo=UTC)


def test_now_is_whole_seconds_in_utc():
    before = int(time.time())
    text = timefmt.utc_now_seconds()
    after = int(time.time())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text)
    assert before <= timefmt.parse_utc(text).timestamp() <= after


@pytest.mark.parametrize(
    "moment",
    [
        MOMENT,
        MOMENT.replace(tzinfo=None),  # naive: taken to be UTC
        MOMENT.astimezone(timezone(timedelta(hours=5, minutes=30))),
        MOMENT.timestamp(),
        int(MOMENT.timestamp()),
    ],
    ids=["aware", "naive", "offset", "epoch-float", "epoch-int"],
)
def test_seconds_text_truncates_to_the_second(moment):
    assert timefmt.seconds_text(moment) == "2026-11-23T14:05:09Z"


@pytest.mark.parametrize(
    ("moment", "hour"),
    [
        (MOMENT, "2026-11-23T14:00:00Z"),
        (MOMENT.replace(tzinfo=None), "2026-11-23T14:00:00Z"),
        (MOMENT.astimezone(timezone(timedelta(hours=-3))), "2026-11-23T14:00:00Z"),
        (datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "2026-12-31T23:00:00Z"),
    ],
    ids=["aware", "naive", "offset", "last-microsecond"],
)
def test_hour_text_is_the_hour_the_moment_falls_in(moment, hour):
    assert timefmt.hour_text(moment) == hour


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-23T14:05:09Z", datetime(2026, 11, 23, 14, 5, 9, tzinfo=UTC)),
        ("2026-11-23T14:05:09.5Z", datetime(2026, 11, 23, 14, 5, 9, 500000, tzinfo=UTC)),
        ("2026-11-23T14:05:09", datetime(2026, 11, 23, 14, 5, 9, tzinfo=UTC)),
        ("2026-11-23T16:05:09+02:00", datetime(2026, 11, 23, 14, 5, 9, tzinfo=UTC)),
    ],
    ids=["z", "fraction", "naive", "offset"],
)
def test_parse_utc_gives_an_aware_datetime(text, expected):
    parsed = timefmt.parse_utc(text)
    assert parsed.tzinfo is not None
    assert parsed == expected


def test_texts_round_trip_and_order_as_the_moments_do():
    assert timefmt.parse_utc(timefmt.seconds_text(MOMENT)) == MOMENT.replace(microsecond=0)
    assert timefmt.parse_utc("2026-11-23T14:00:00.5Z") > timefmt.parse_utc("2026-11-23T14:00:00Z")
    hours = [timefmt.hour_text(MOMENT + timedelta(hours=h)) for h in (-30, -1, 0, 1, 30)]
    assert hours == sorted(hours)


def test_a_text_that_is_no_time_is_refused():
    with pytest.raises(ValueError):
        timefmt.parse_utc("yesterday")
