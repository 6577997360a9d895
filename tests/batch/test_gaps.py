"""The gaps and hourly_filled views on series with known holes."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest

from tests.batch import weather
from weatherlake.batch import gaps

pytestmark = pytest.mark.spark

UTC = weather.UTC
START = datetime(2026, 3, 1, tzinfo=UTC)


def truth(hour: int) -> dict:
    """A day's cycle on a slow warming: what the filled values are judged against."""
    day = 2 * math.pi * (hour % 24) / 24
    return {"temperature": 10 + 0.02 * hour + 4 * math.sin(day), "humidity": 70 - 10 * math.sin(day),
            "pressure": 1010 + 0.05 * hour, "wind_speed": 3 + math.cos(day)}


def series(city_id: str, hours: range, missing: set[int]) -> list[dict]:
    return [{"city_id": city_id, "city": city_id.title(), "ts": START + timedelta(hours=h, minutes=20),
             "rainfall": 0.0, **truth(h)} for h in hours if h not in missing]


def hour_text(h: int) -> str:
    return (START + timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def observations(spark):
    # alpha: 10 days with a 2-hour gap (hours 50-51) and a 12-hour gap (hours 100-111);
    # beta: the same days with no gap but hours 150-153, when nobody has data (an outage).
    outage = set(range(150, 154))
    alpha = series("alpha-gb", range(240), {50, 51, *range(100, 112)} | outage)
    beta = series("beta-fr", range(240), outage)
    return spark.createDataFrame(weather.spark_rows(alpha + beta), weather.OBSERVATION_SCHEMA)


def test_gaps_are_the_runs_of_missing_hours_with_their_scope(observations):
    rows = sorted((r["city_id"], r["start"], r["end"], r["missing_hours"], r["scope"])
                  for r in gaps.gaps(observations).collect())
    assert rows == [
        ("alpha-gb", hour_text(50), hour_text(51), 2, "city"),
        ("alpha-gb", hour_text(100), hour_text(111), 12, "city"),
        ("alpha-gb", hour_text(150), hour_text(153), 4, "all"),
        ("beta-fr", hour_text(150), hour_text(153), 4, "all"),
    ]


def test_every_hour_is_there_measured_ones_as_they_were_and_filled_ones_marked(observations):
    rows = {(r["city_id"], r["hour"]): r for r in gaps.filled(observations).collect()}
    assert len(rows) == 2 * 240
    measured = rows[("alpha-gb", hour_text(49))]
    assert not measured["imputed"] and measured["method"] == "measured" and measured["temperature_sd"] == 0.0
    assert measured["temperature"] == pytest.approx(truth(49)["temperature"], abs=1e-4)
    short = [rows[("alpha-gb", hour_text(h))] for h in (50, 51)]
    assert all(r["imputed"] and r["method"] == "linear" for r in short)
    long = [rows[("alpha-gb", hour_text(h))] for h in range(100, 112)]
    assert all(r["imputed"] and r["method"] == "profile" for r in long)
    assert [r["method"] for r in (rows[("beta-fr", hour_text(h))] for h in range(150, 154))] == ["linear"] * 4


def test_the_profile_fills_a_long_gap_close_to_the_truth_and_a_line_would_not(observations):
    rows = {(r["city_id"], r["hour"]): r for r in gaps.filled(observations).collect()}
    errors = [abs(rows[("alpha-gb", hour_text(h))]["temperature"] - truth(h)["temperature"]) for h in range(100, 112)]
    straight = [abs(truth(99)["temperature"] + (truth(112)["temperature"] - truth(99)["temperature"]) * (h - 99) / 13
                    - truth(h)["temperature"]) for h in range(100, 112)]
    # The day's cycle is kept, where a line cuts through it. (What is left: the outage two
    # days on takes hours out of the profile, which then leans on the earlier, cooler days.)
    assert max(errors) < 0.5 and max(straight) > 3
    # The uncertainty is smallest next to a measured hour and largest in the middle of the gap.
    spreads = [rows[("alpha-gb", hour_text(h))]["temperature_sd"] for h in range(100, 112)]
    assert spreads[0] < spreads[5] and spreads[-1] < spreads[6] and min(spreads) > 0
    assert spreads == pytest.approx(spreads[::-1], abs=1e-4)
