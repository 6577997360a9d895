"""Live anomaly scoring against the batch baseline (diurnal profile + hourly history)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from tests.web import data, reference
from weatherlake.speed.baseline import build_baselines, score_observation, shift_hour
from weatherlake.speed.state import SpeedState

START = datetime(2026, 11, 10, tzinfo=UTC)
CITY = "london-gb"


def typical(moment: datetime) -> float:
    """A plain daily cycle: 6 °C at 03:00 to 14 °C at 15:00, with a small wobble."""
    return round(10 - 4 * math.cos((moment.hour - 3) / 24 * 2 * math.pi) + 0.3 * math.sin(moment.day * 7 + moment.hour), 2)


def history(days: int = 10) -> list[dict]:
    return [
        data.observation(CITY, START + timedelta(hours=h), h, temperature=typical(START + timedelta(hours=h)),
                         timestamp=(START + timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ"))
        for h in range(days * 24)
    ]


@pytest.fixture
def batch():
    records = history()
    cutoff = records[-1]["timestamp"]
    baselines = build_baselines(reference.diurnal_profile(records), reference.hourly_trends(records), cutoff)
    return records, cutoff, baselines


def live(hour: int, temperature: float, minute: int = 10) -> dict:
    moment = START + timedelta(days=10, hours=hour, minutes=minute)
    return data.observation(CITY, moment, hour, temperature=temperature,
                            timestamp=moment.strftime("%Y-%m-%dT%H:%M:%SZ"))


def test_baselines_hold_the_diurnal_values_a_scale_and_a_seed(batch):
    records, cutoff, baselines = batch
    city = baselines[CITY]
    three_am = [r["temperature"] for r in records if r["timestamp"][11:13] == "03"]
    assert city.seasonal[3]["temperature"] == pytest.approx(sum(three_am) / len(three_am), abs=1e-4)
    assert 0.5 <= city.scale["temperature"] < 1.0  # the wobble is small; never below the floor
    assert sorted(city.seed) == [shift_hour("2026-11-19T23:00:00Z", -k) for k in (3, 2, 1, 0)]


def test_an_ordinary_night_is_not_flagged_and_a_warm_night_hour_is(batch):
    _, cutoff, baselines = batch
    state = SpeedState(cutoff, baselines)
    for hour in range(0, 3):
        state.apply(live(hour, typical(START + timedelta(days=10, hours=hour))))
    assert state.stats["anomalies"] == 0
    state.apply(live(3, 16.0))  # a 16 °C hour at 03:00, where 6 °C is normal
    [flag] = state.cities[CITY].anomalies
    assert flag["metric"] == "temperature" and flag["value"] == 16.0
    assert flag["severity"] in ("severe", "extreme") and flag["score"] > 6 and flag["provisional"] is True
    assert flag["baseline"] == pytest.approx(16.0 - flag["deviation"])


def test_a_warm_afternoon_is_not_an_anomaly(batch):
    _, cutoff, baselines = batch
    state = SpeedState(cutoff, baselines)
    for hour in range(0, 16):
        state.apply(live(hour, typical(START + timedelta(days=10, hours=hour))))
    assert state.stats["anomalies"] == 0


def test_a_cold_spell_is_flagged_when_it_starts_not_for_every_hour(batch):
    _, cutoff, baselines = batch
    state = SpeedState(cutoff, baselines)
    for hour in range(0, 24):
        state.apply(live(hour, typical(START + timedelta(days=10, hours=hour)) - 8))
    flagged_hours = {a["timestamp"][11:13] for a in state.cities[CITY].anomalies}
    assert flagged_hours and flagged_hours <= {"00", "01"}  # once its own hours are the context, it is weather


def test_the_first_hours_after_the_cutoff_take_their_context_from_the_batch(batch):
    _, cutoff, baselines = batch
    state = SpeedState(cutoff, baselines)
    state.apply(live(0, 18.0))  # the first live record: context = the batch's last three hours
    assert [a["timestamp"] for a in state.cities[CITY].anomalies] == ["2026-11-20T00:10:00Z"]


def test_a_city_without_a_baseline_is_not_scored(batch):
    _, cutoff, baselines = batch
    record = {**live(3, 40.0), "city_id": "nowhere-xx"}
    state = SpeedState(cutoff, baselines)
    state.apply(record)
    assert state.stats["anomalies"] == 0
    assert score_observation(record, baselines[CITY], lambda h, m: None) == []  # no context, no judgement


def test_the_batch_cycle_is_the_seasonal_baseline_when_published():
    """A week that warms: the 07:00 median sits 2.5 °C below its neighbours (one cold
    extra day), the cycle built from hour-to-hour changes does not. Live scoring uses
    the cycle, so an ordinary 07:00 is not flagged; with the medians alone it would be."""
    rows = []
    for hour in range(24):
        smooth = 10 - 4 * math.cos((hour - 3) / 24 * 2 * math.pi)
        rows.append({"city_id": CITY, "hour_of_day": hour, "avg_temperature": smooth,
                     "median_temperature": smooth - (2.5 if hour == 7 else 0.0), "cycle_temperature": smooth})
    hourly = [
        {"city_id": CITY, "hour": (START + timedelta(hours=h)).strftime("%Y-%m-%dT%H:00:00Z"), "record_count": 1,
         "avg_temperature": 10 - 4 * math.cos((h % 24 - 3) / 24 * 2 * math.pi) + 0.1 * math.sin(h)}
        for h in range(24 * 7)
    ]
    cutoff = hourly[-1]["hour"]
    for published, flagged in ((rows, 0), ([{k: v for k, v in r.items() if k != "cycle_temperature"} for r in rows], 1)):
        baselines = build_baselines(published, hourly, cutoff)
        state = SpeedState(cutoff, baselines)
        for hour in range(0, 8):
            state.apply(live(hour, round(10 - 4 * math.cos((hour - 3) / 24 * 2 * math.pi), 2)))
        assert state.stats["anomalies"] == flagged
