"""Realistic hourly weather for the batch tests, in plain Python (seeded, no Spark).

What ordinary weather does, so that an anomaly detector can be judged on it:

* a diurnal cycle peaking mid-afternoon local solar time (from the longitude);
* synoptic swings: a slow random walk (days) plus **fronts** every few days -- a step of
  several degrees within two hours that persists and fades over days, a pressure trough
  before it, wind and humidity up while it passes;
* **heat and cold spells**: offsets of 5-9 degrees lasting 3-10 days, ramping in over half
  a day;
* **nights that vary**: clear nights cool much more than cloudy ones, so each night gets
  its own offset that builds up after dusk and fades after dawn (large for a city with
  ``night_variability`` of 4 or more);
* measurement noise, a little larger by day than by night.

Anomalies are added as a delta on one metric during one clock hour, nothing else changes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

UTC = UTC
METRICS = ("temperature", "humidity", "pressure", "wind_speed")


@dataclass(frozen=True)
class Climate:
    id: str
    name: str
    country: str = "GB"
    latitude: float = 50.0
    longitude: float = 0.0
    mean_temperature: float = 12.0
    diurnal_amplitude: float = 4.0
    night_variability: float = 1.5
    noise: float = 0.35
    humidity: float = 72.0
    pressure: float = 1013.0
    wind: float = 4.0


@dataclass(frozen=True)
class Injected:
    city_id: str
    hour: datetime  # start of the clock hour, UTC
    metric: str
    delta: float


def cities(n: int, seed: int = 7) -> list[Climate]:
    """``n`` cities with varied climates; the first one has nights that vary a lot."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        out.append(
            Climate(
                id=f"city-{i:02d}-xx",
                name=f"City {i:02d}",
                longitude=rng.uniform(-150, 150),
                latitude=rng.uniform(-50, 60),
                mean_temperature=rng.uniform(-5, 28),
                diurnal_amplitude=rng.uniform(2.5, 7.0),
                night_variability=5.0 if i == 0 else rng.uniform(0.8, 3.0),
                noise=rng.uniform(0.25, 0.5),
                humidity=rng.uniform(45, 85),
                pressure=rng.uniform(1005, 1020),
                wind=rng.uniform(2.0, 7.0),
            )
        )
    return out


def _events(rng: random.Random, hours: int, every: float, length: tuple[float, float]) -> list[tuple[int, int, float]]:
    """Random (start, duration, sign-magnitude) events, about one per ``every`` hours."""
    events, t = [], rng.expovariate(1 / every)
    while t < hours:
        duration = rng.uniform(*length)
        events.append((int(t), int(duration), rng.choice((-1, 1)) * rng.uniform(0.6, 1.0)))
        t += duration + rng.expovariate(1 / every)
    return events


def _smoothstep(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3 - 2 * x)


def series(climate: Climate, start: datetime, hours: int, seed: int) -> dict[str, list[float]]:
    """Hourly values of every metric for one city, ordinary weather only."""
    rng = random.Random(f"{seed}:{climate.id}")
    temperature, humidity, pressure, wind = [0.0] * hours, [0.0] * hours, [0.0] * hours, [0.0] * hours
    walk_t = walk_p = walk_h = walk_w = 0.0
    fronts = _events(rng, hours, every=96, length=(60, 140))  # a front every ~4 days
    fronts = [(t0, rng.uniform(3, 8) * sign) for t0, _, sign in fronts]
    spells = _events(rng, hours, every=24 * 18, length=(72, 240))  # a spell every ~2.5 weeks
    night_offsets = [rng.gauss(0, climate.night_variability) for _ in range(hours // 24 + 3)]
    solar_shift = climate.longitude / 15  # hours the sun is ahead of UTC
    for i in range(hours):
        moment = start + timedelta(hours=i)
        solar = (moment.hour + moment.minute / 60 + solar_shift) % 24
        diurnal = climate.diurnal_amplitude * math.cos(2 * math.pi * (solar - 15) / 24)
        walk_t = 0.99 * walk_t + rng.gauss(0, 0.15)
        walk_p = 0.995 * walk_p + rng.gauss(0, 0.1)
        walk_h = 0.98 * walk_h + rng.gauss(0, 0.5)
        walk_w = 0.97 * walk_w + rng.gauss(0, 0.25)
        # Fronts: a step of 3-8 degrees within two hours that fades over ~3 days; around it a
        # pressure trough, and wind and humidity up for a few hours.
        front_level = trough = passing = 0.0
        for t0, step in fronts:
            if i >= t0:
                front_level += step * min(1.0, (i - t0 + 1) / 2) * 0.986 ** (i - t0)
            passing += math.exp(-(((i - t0) / 4) ** 2))
            trough += math.exp(-(((i - t0 + 3) / 10) ** 2))
        # Spells: offsets of 5-8 degrees ramping in and out over 12 hours.
        spell = 0.0
        for s_start, s_len, magnitude in spells:
            if s_start - 12 <= i <= s_start + s_len + 12:
                ramp = min(_smoothstep((i - s_start + 12) / 12), _smoothstep((s_start + s_len + 12 - i) / 12))
                spell += magnitude * 8 * ramp
        # Nights: each night (solar noon to solar noon) has its own offset, building after
        # dusk (18 h) and fading after dawn (8 h).
        night_index = int((i + solar_shift + 12) // 24) + 1
        night_weight = _smoothstep((solar - 18) / 5) if solar >= 12 else _smoothstep((8 - solar) / 5)
        night = night_offsets[night_index] * night_weight
        day_noise = climate.noise * (1.3 if 9 <= solar <= 17 else 1.0)
        temperature[i] = (
            climate.mean_temperature + diurnal + 3 * walk_t + front_level + spell + night + rng.gauss(0, day_noise)
        )
        humidity[i] = min(
            100.0, max(5.0, climate.humidity - 2.5 * diurnal + 3 * walk_h + 12 * passing + rng.gauss(0, 1.5))
        )
        pressure[i] = climate.pressure + 6 * walk_p - 6 * trough + rng.gauss(0, 0.2)
        wind[i] = max(0.0, climate.wind * (1 + 0.3 * walk_w) + 3 * passing + rng.gauss(0, 0.5))
    return {"temperature": temperature, "humidity": humidity, "pressure": pressure, "wind_speed": wind}


def observations(
    climates: Iterable[Climate],
    start: datetime,
    hours: int,
    seed: int = 42,
    anomalies: Iterable[Injected] = (),
) -> Iterator[dict]:
    """Plain rows (city_id, city, ts, metrics, rainfall) with the anomalies applied."""
    deltas: dict[tuple[str, datetime, str], float] = {}
    for a in anomalies:
        deltas[(a.city_id, a.hour, a.metric)] = deltas.get((a.city_id, a.hour, a.metric), 0.0) + a.delta
    for climate in climates:
        values = series(climate, start, hours, seed)
        for i in range(hours):
            moment = start + timedelta(hours=i)
            row = {"city_id": climate.id, "city": climate.name, "ts": moment}
            for metric in METRICS:
                value = values[metric][i] + deltas.get((climate.id, moment, metric), 0.0)
                row[metric] = round(value, 2 if metric in ("temperature", "wind_speed") else 1)
            row["rainfall"] = 0.0 if row["humidity"] < 92 else 0.4
            yield row


def spark_rows(rows: Iterable[dict]) -> list[tuple]:
    """Rows for ``spark.createDataFrame(..., OBSERVATION_SCHEMA)``."""
    return [
        (r["city_id"], r["city"], r["ts"], r["temperature"], r["humidity"], r["pressure"], r["wind_speed"], r["rainfall"])
        for r in rows
    ]


OBSERVATION_SCHEMA = (
    "city_id string, city string, ts timestamp, temperature double, humidity double, "
    "pressure double, wind_speed double, rainfall double"
)
START = datetime(2026, 1, 1, tzinfo=UTC)
