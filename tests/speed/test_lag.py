"""The hourly lag the speed layer keeps for the daily report (weatherlake.speed.lag)."""

from __future__ import annotations

from weatherlake.speed import lag


def test_each_hour_keeps_the_most_each_layer_lagged_and_only_the_newest_hours_are_kept():
    hours: dict = {}
    lag.note(hours, "2026-11-20T03:00:00Z", 500, 2)
    lag.note(hours, "2026-11-20T03:00:00Z", 41_250, 0)
    lag.note(hours, "2026-11-20T03:00:00Z", None, 7)  # the sink's state could not be read
    assert hours == {"2026-11-20T03:00:00Z": {"sink": 41_250, "speed": 7, "samples": 3}}
    for hour in range(4, 8):
        lag.note(hours, f"2026-11-20T{hour:02d}:00:00Z", None, 1, keep=3)
    assert sorted(hours) == ["2026-11-20T05:00:00Z", "2026-11-20T06:00:00Z", "2026-11-20T07:00:00Z"]
    assert hours["2026-11-20T07:00:00Z"]["sink"] is None


def test_a_day_sums_up_its_own_hours_only():
    hours = {"2026-11-19T23:00:00Z": {"sink": 90_000, "speed": 90_000, "samples": 60},
             "2026-11-20T01:00:00Z": {"sink": None, "speed": 4, "samples": 60},
             "2026-11-20T02:00:00Z": {"sink": 300, "speed": 9, "samples": 60},
             "2026-11-20T03:00:00Z": {"sink": 200, "speed": 9, "samples": 60}}
    day = lag.of_day(hours, "2026-11-20")
    assert day["hours_sampled"] == 3 and list(day["by_hour"]) == sorted(hours)[1:]
    assert day["sink"] == {"max": 300, "at": "2026-11-20T02:00:00Z"}
    assert day["speed"] == {"max": 9, "at": "2026-11-20T02:00:00Z"}  # the first hour it was reached
    assert lag.of_day(hours, "2026-11-21") == {"hours_sampled": 0, "by_hour": {}, "sink": {"max": None, "at": None},
                                              "speed": {"max": None, "at": None}}


def test_lags_are_summed_over_partitions_and_never_negative():
    assert lag.records_behind({0: 100, 1: 50, 2: 10}, {0: 40, 1: 60}) == 60 + 0 + 10


def test_a_previous_snapshots_hours_are_restored_when_they_read():
    entry = {"sink": 1, "speed": 2, "samples": 3}
    assert lag.restored({"2026-11-20T03:00:00Z": entry, "2026-11-20T04:00:00Z": {"speed": 1}}) == {
        "2026-11-20T03:00:00Z": entry}
    assert lag.restored(None) == {} and lag.restored(["not", "a", "dict"]) == {}
