"""Synthetic weather: plausible, seeded and deterministic, offline.

Every value is a pure function of ``(seed, city, time)``: there is no hidden state, so
``history()`` and ``current()`` agree about any moment and a re-run gives identical
records (only ``ingested_at`` differs). The model per city, from its climate normals in
the catalogue:

* temperature = annual mean + seasonal cycle (peaks late July in the northern
  hemisphere, late January in the southern) + diurnal cycle (peaks about 15:00 local
  solar time, from the longitude; damped under cloud) + multi-day swings (a sum of slow
  sinusoids with seeded periods of 2.5 to 30 days: heat and cold spells) + noise;
* a "front" signal with periods of 1.5 to 8 days drives pressure (low pressure with
  fronts, wider swings away from the tropics), wind and wetness;
* rain falls when wetness passes the threshold that gives the city's share of rainy
  hours; clouds follow wetness; humidity falls as the day warms and rises when wet.

Noise comes from a 64-bit integer hash of (seed, city, second), not from a generator's
state. :class:`Anomaly` adds a known delta to one city's metric during one clock hour,
so tests and demos can check that the batch layer finds exactly what was injected.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import NormalDist

from weatherlake.cities import City
from weatherlake.errors import ConfigError
from weatherlake.records import format_timestamp, make_record, utc_now_text
from weatherlake.sources.base import HOUR, UTC, Source, as_utc, time_steps

ANOMALY_METRICS = ("temperature", "humidity", "pressure", "wind_speed", "wind_direction", "cloudiness", "rainfall")

_METRIC_INDEX = {metric: index for index, metric in enumerate(ANOMALY_METRICS)}
_TAU = 2.0 * math.pi
_MASK = (1 << 64) - 1
_YEAR_DAYS = 365.2422
_SUMMER_PEAK_DAY = 200.0  # ~19 July: where the seasonal cosine peaks in the north
_AFTERNOON_PEAK_HOUR = 15.0


@dataclass(frozen=True)
class Anomaly:
    """Add ``delta`` to ``metric`` of ``city_id`` for observations within the clock hour of
    ``hour`` (UTC). Values are not clamped afterwards: an anomaly can make a record
    invalid on purpose."""

    city_id: str
    hour: datetime
    metric: str
    delta: float

    def __post_init__(self) -> None:
        if self.metric not in ANOMALY_METRICS:
            raise ConfigError(f"anomaly metric must be one of {', '.join(ANOMALY_METRICS)}, got {self.metric!r}")


class SyntheticSource(Source):
    """Deterministic synthetic weather for any catalogue city."""

    name = "synthetic"

    def __init__(
        self,
        seed: int = 42,
        anomalies: Iterable[Anomaly] = (),
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.seed = seed
        self._clock = clock or (lambda: datetime.now(UTC))
        self._models: dict[str, _CityModel] = {}
        self._anomalies: dict[tuple[str, int], list[tuple[str, float]]] = {}
        for anomaly in anomalies:
            hour = int(as_utc(anomaly.hour).timestamp()) // 3600
            self._anomalies.setdefault((anomaly.city_id, hour), []).append((anomaly.metric, anomaly.delta))

    def __repr__(self) -> str:
        return f"SyntheticSource(seed={self.seed}, anomalies={sum(map(len, self._anomalies.values()))})"

    def _model(self, city: City) -> _CityModel:
        model = self._models.get(city.id)
        if model is None:
            model = self._models[city.id] = _CityModel(city, self.seed)
        return model

    def observe(self, city: City, moment: datetime) -> dict:
        """The record for ``city`` at ``moment`` (a pure function of seed, city and time)."""
        return self._records([city], as_utc(moment), utc_now_text())[0]

    def current(self, cities: Sequence[City]) -> list[dict]:
        """Every city at the current minute (so it matches ``history`` at whole hours)."""
        now = as_utc(self._clock()).replace(second=0, microsecond=0)
        return self._records(cities, now, utc_now_text())

    def history(self, cities: Sequence[City], start: datetime, end: datetime, step: timedelta = HOUR) -> Iterator[dict]:
        for moment in time_steps(start, end, step):
            yield from self._records(cities, moment, utc_now_text())

    def _records(self, cities: Sequence[City], moment: datetime, ingested_at: str) -> list[dict]:
        """All cities at one moment: the time terms every city shares are computed once."""
        seconds = int(moment.timestamp())
        timestamp = format_timestamp(moment)
        season = math.cos(_TAU * (seconds / 86400.0 - _SUMMER_PEAK_DAY) / _YEAR_DAYS)
        hours = seconds / 3600.0
        models = self._models
        anomalies = self._anomalies
        records = []
        for city in cities:
            model = models.get(city.id) or self._model(city)
            values = model.values(seconds, season, hours)
            if anomalies:
                injected = anomalies.get((city.id, seconds // 3600))
                if injected:
                    values = list(values)
                    for metric, delta in injected:
                        values[_METRIC_INDEX[metric]] += delta
            temperature, humidity, pressure, wind_speed, wind_direction, cloudiness, rainfall, wet = values
            main, description = _describe(temperature, cloudiness, rainfall, wet)
            records.append(
                make_record(
                    city=city,
                    timestamp=timestamp,
                    ingested_at=ingested_at,
                    source="synthetic",
                    temperature=temperature,
                    humidity=humidity,
                    pressure=pressure,
                    wind_speed=wind_speed,
                    wind_direction=wind_direction,
                    cloudiness=cloudiness,
                    rainfall=rainfall,
                    weather_main=main,
                    weather_description=description,
                )
            )
        return records


def _describe(temperature: float, cloudiness: float, rainfall: float, wet: bool) -> tuple[str, str]:
    """OpenWeatherMap-style condition names for the synthetic values."""
    if wet:
        if temperature <= 0.5:
            return "Snow", "light snow" if rainfall < 1.0 else "snow"
        if rainfall < 2.5:
            return "Rain", "light rain"
        if rainfall < 7.6:
            return "Rain", "moderate rain"
        return "Rain", "heavy intensity rain"
    if cloudiness < 11:
        return "Clear", "clear sky"
    if cloudiness < 25:
        return "Clouds", "few clouds"
    if cloudiness < 51:
        return "Clouds", "scattered clouds"
    if cloudiness < 85:
        return "Clouds", "broken clouds"
    return "Clouds", "overcast clouds"


class _CityModel:
    """Per-city constants, computed once, and the model as plain arithmetic."""

    __slots__ = (
        "city", "key", "mean_t", "season_amp", "diurnal_amp", "lon_hours", "swing", "front",
        "wet_fast", "variability", "pressure_mean", "pressure_swing", "humidity_mean",
        "wind_mean", "wind_dir", "rain_threshold", "rain_scale",
    )  # fmt: skip

    def __init__(self, city: City, seed: int) -> None:
        climate = city.climate
        rng = random.Random(f"weatherlake-synthetic:{seed}:{city.id}")
        self.city = city
        self.key = int.from_bytes(hashlib.blake2b(f"{seed}:{city.id}".encode(), digest_size=8).digest(), "big")
        self.mean_t = climate.annual_mean_c
        # Cosine of (day - peak): negative amplitude flips the seasons south of the equator.
        self.season_amp = climate.seasonal_amplitude_c * (1.0 if city.latitude >= 0 else -1.0)
        self.diurnal_amp = climate.diurnal_amplitude_c
        self.lon_hours = city.longitude / 15.0
        # Slow temperature swings (spells) and the faster front signal: (omega per second, phase, weight).
        self.swing = _waves(rng, (3.0, 6.0, 11.0, 25.0), (0.7, 1.0, 0.9, 0.7))
        self.front = _waves(rng, (1.7, 3.3, 6.5), (0.8, 1.0, 0.8))
        self.wet_fast = _waves(rng, (0.45, 1.1), (0.8, 0.7))
        self.variability = climate.variability_c
        self.pressure_mean = climate.mean_pressure_hpa
        # Mid-latitude lows swing pressure far more than the steady tropics.
        self.pressure_swing = 2.0 + 8.0 * math.sin(math.radians(min(abs(city.latitude), 65.0))) ** 1.5
        self.humidity_mean = climate.mean_humidity
        self.wind_mean = climate.mean_wind_ms
        self.wind_dir = climate.prevailing_wind_deg
        fraction = min(max(climate.rain_hours_fraction, 1e-4), 0.5)
        # Wetness is ~N(0, 1); this threshold is passed in `fraction` of the hours.
        self.rain_threshold = NormalDist().inv_cdf(1.0 - fraction)
        self.rain_scale = 1.2 + 3.0 * min(climate.mean_humidity, 90.0) / 90.0

    def values(self, seconds: int, season: float | None = None, hours: float | None = None) -> tuple:
        """Model values at Unix time ``seconds``, in ``ANOMALY_METRICS`` order, then ``wet``
        (whether it rains or snows). ``season`` (the seasonal cosine) and ``hours`` (Unix
        time in hours) are the same for every city at one moment; callers pass them in."""
        # SplitMix64 of (city key, second), inlined: one well-mixed 64-bit value, no state.
        h = self.key ^ (seconds * 0x9E3779B97F4A7C15 & _MASK)
        h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & _MASK
        h ^= h >> 31
        n1 = ((h & 0xFFFF) + ((h >> 16) & 0xFFFF)) / 65536.0 - 1.0  # triangular, -1..1
        n2 = (((h >> 32) & 0xFFFF) + ((h >> 48) & 0xFFFF)) / 65536.0 - 1.0
        n3 = ((h >> 8) & 0xFFFF) / 32768.0 - 1.0  # uniform, -1..1
        cos = math.cos
        t = float(seconds)
        if season is None:
            season = cos(_TAU * (t / 86400.0 - _SUMMER_PEAK_DAY) / _YEAR_DAYS)
        if hours is None:
            hours = t / 3600.0
        (o1, p1, w1), (o2, p2, w2), (o3, p3, w3), (o4, p4, w4) = self.swing
        swing = w1 * cos(o1 * t + p1) + w2 * cos(o2 * t + p2) + w3 * cos(o3 * t + p3) + w4 * cos(o4 * t + p4)
        (o1, p1, w1), (o2, p2, w2), (o3, p3, w3) = self.front
        front = w1 * cos(o1 * t + p1) + w2 * cos(o2 * t + p2) + w3 * cos(o3 * t + p3)
        (o1, p1, w1), (o2, p2, w2) = self.wet_fast
        fast = w1 * cos(o1 * t + p1) + w2 * cos(o2 * t + p2)
        wetness = 0.6 * front + 0.8 * fast  # unit variance again: 0.6**2 + 0.8**2 == 1
        season *= self.season_amp
        daily = cos(_TAU / 24.0 * ((hours + self.lon_hours) % 24.0 - _AFTERNOON_PEAK_HOUR))

        excess = wetness - self.rain_threshold
        cloud_cover = 100.0 / (1.0 + math.exp(-2.2 * (excess + 1.1)))
        cloudiness = cloud_cover + 6.0 * n3
        cloudiness = 0.0 if cloudiness < 0.0 else 100.0 if cloudiness > 100.0 else cloudiness
        diurnal = self.diurnal_amp * (1.0 - 0.45 * cloudiness / 100.0) * daily
        temperature = self.mean_t + season + diurnal + self.variability * (swing - 0.25 * front) + 0.35 * n1

        wet = excess > 0.0
        rainfall = self.rain_scale * excess * (1.0 + 0.5 * n2) if wet else 0.0
        if rainfall < 0.05:
            rainfall = 0.0
            wet = False
        if wet and temperature <= 0.5:
            rainfall = 0.0  # snow: the schema's rainfall counts rain only

        humidity = self.humidity_mean - 2.2 * diurnal + 7.0 * wetness + (10.0 if wet else 0.0) + 2.5 * n2
        humidity = 4.0 if humidity < 4.0 else 100.0 if humidity > 100.0 else humidity
        pressure = self.pressure_mean - self.pressure_swing * front + 0.4 * n1
        wind_speed = self.wind_mean * (0.76 + 0.3 * abs(front) + 0.2 * daily + 0.25 * n3)
        if wind_speed < 0.0:
            wind_speed = 0.0
        wind_direction = (self.wind_dir + 55.0 * front + 20.0 * n2) % 360.0
        return temperature, humidity, pressure, wind_speed, wind_direction, cloudiness, rainfall, wet


def _waves(rng: random.Random, periods_days: Sequence[float], weights: Sequence[float]) -> tuple:
    """Seeded sinusoids (omega in rad/s, phase, weight) whose sum has unit variance."""
    norm = math.sqrt(sum(w * w for w in weights) / 2.0)
    waves = []
    for period, weight in zip(periods_days, weights, strict=True):
        period *= rng.uniform(0.8, 1.25)  # incommensurate periods: the pattern never repeats
        waves.append((_TAU / (period * 86400.0), rng.uniform(0.0, _TAU), weight / norm))
    return tuple(waves)
