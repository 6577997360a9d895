"""The speed layer's state: what it keeps after the cutoff, its bounds, its snapshot round trip."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest

from tests.web import data, reference
from weatherlake.speed.state import SpeedState


def hours_of(state: SpeedState, city_id: str) -> dict[str, dict]:
    return {h["hour"]: h for h in state.to_snapshot()[city_id]["hours"]}


def test_only_observations_strictly_after_the_cutoff_count():
    records = data.observations(hours=3, per_hour=3, cities=("london-gb",))
    cutoff = records[4]["timestamp"]  # 01:21:00 exactly
    state = SpeedState(cutoff)
    applied = [state.apply(r) for r in records]
    assert applied == [reference.ts(r["timestamp"]) > reference.ts(cutoff) for r in records]
    assert state.stats["before_cutoff"] == applied.count(False) == 5
    assert state.stats["applied"] == 4


def test_a_fractional_second_is_compared_as_time_not_text():
    cutoff = "2026-11-20T10:00:00Z"
    state = SpeedState(cutoff)
    # As text, "10:00:00.5Z" < "10:00:00Z"; as time it is half a second later.
    assert state.apply(data.observation("london-gb", data.START, 1, timestamp="2026-11-20T10:00:00.500000Z"))
    assert not state.apply(data.observation("london-gb", data.START, 2, timestamp="2026-11-20T09:59:59.900000Z"))


def test_hour_aggregates_match_a_direct_computation():
    records = data.observations(hours=4, per_hour=3, cities=("tokyo-jp", "dubai-ae"))
    state = SpeedState(None)
    for r in reversed(records):  # order does not matter
        state.apply(r)
    for row in reference.hourly_trends(records):
        agg = hours_of(state, row["city_id"])[row["hour"]]
        assert agg["record_count"] == row["record_count"]
        assert agg["sum_temperature"] / agg["record_count"] == pytest.approx(row["avg_temperature"], abs=1e-4)
        assert (agg["min_temperature"], agg["max_temperature"]) == (row["min_temperature"], row["max_temperature"])
        assert agg["total_rainfall"] == pytest.approx(row["total_rainfall"])
        in_hour = [r for r in records if r["city_id"] == row["city_id"] and reference.hour(r["timestamp"]) == row["hour"]]
        assert agg["sum_sq_temperature"] == pytest.approx(sum(r["temperature"] ** 2 for r in in_hour))
        assert agg["first_timestamp"] == min(in_hour, key=lambda r: reference.ts(r["timestamp"]))["timestamp"]
        assert agg["last_timestamp"] == max(in_hour, key=lambda r: reference.ts(r["timestamp"]))["timestamp"]


def test_the_latest_observation_is_the_newest_not_the_last_applied():
    records = data.observations(hours=2, per_hour=2, cities=("london-gb",))
    state = SpeedState(None)
    for r in [records[3], records[0], records[1]]:
        state.apply(r)
    assert state.to_snapshot()["london-gb"]["latest"]["timestamp"] == records[3]["timestamp"]
    assert state.newest == records[3]["timestamp"]


def test_memory_is_bounded_in_hours_cities_and_anomalies():
    state = SpeedState(None, max_hours=5, max_cities=3)
    for i, r in enumerate(data.observations(hours=12, per_hour=1, cities=("london-gb",))):
        state.apply(r)
        assert len(state.cities["london-gb"].hours) == min(i + 1, 5)
    assert min(state.cities["london-gb"].hours) == "2026-11-20T07:00:00Z"
    late = data.observation("london-gb", data.START, 99)  # 00:00, older than every hour kept
    assert state.apply(late) and state.stats["too_old"] == 1
    assert min(state.cities["london-gb"].hours) == "2026-11-20T07:00:00Z"

    for k, city in enumerate(("a-xx", "b-xx", "c-xx", "d-xx")):
        state.apply(data.observation(city, data.START + timedelta(hours=20 + k), k))
    assert set(state.cities) == {"b-xx", "c-xx", "d-xx"}  # london-gb, the least recently observed, went first
    assert state.stats["evicted_cities"] == 2


def test_the_snapshot_round_trips_exactly():
    records = data.observations(hours=5, per_hour=3)
    cutoff = records[10]["timestamp"]
    state = SpeedState(cutoff)
    for r in records[:30]:
        state.apply(r)
    restored = SpeedState(cutoff)
    restored.restore(orjson.loads(orjson.dumps(state.to_snapshot())))
    for r in records[30:]:
        state.apply(r)
        restored.apply(r)
    assert restored.to_snapshot() == state.to_snapshot()
