"""The speed layer's in-memory view: everything observed after the batch cutoff, bounded.

Per city it keeps the latest observation, running aggregates per clock hour (sums, so
the serving layer can merge them exactly with the batch's rows for the same hour) and the
most recent live anomaly flags. Memory is bounded whatever the input rate: at most
``max_hours`` clock hours and :data:`MAX_ANOMALIES_PER_CITY` flags per city, at most
:data:`MAX_CITIES` cities (the least recently observed one is evicted first).

A state is a plain function of the records applied to it (in any order), so it can be
rebuilt from Kafka at any time and round-trips through its snapshot exactly
(:meth:`SpeedState.to_snapshot` / :meth:`SpeedState.from_snapshot`).
"""

from __future__ import annotations

from collections import deque
from datetime import datetime

from weatherlake.scoring import AnomalyParams
from weatherlake.speed.baseline import DEFAULT_PARAMS, CityBaseline, hour_of, score_observation
from weatherlake.timefmt import parse_utc

MAX_CITIES = 20_000
MAX_ANOMALIES_PER_CITY = 50

#: Running sums per clock hour; the serving layer derives the view's averages from them.
HOUR_FIELDS: tuple[str, ...] = (
    "record_count",
    "sum_temperature",
    "sum_sq_temperature",
    "min_temperature",
    "max_temperature",
    "sum_humidity",
    "sum_pressure",
    "sum_wind_speed",
    "total_rainfall",
    "first_timestamp",
    "last_timestamp",
)
#: Fields of the latest observation kept per city (the schema's, minus bookkeeping).
LATEST_FIELDS: tuple[str, ...] = (
    "city_id", "city", "country", "latitude", "longitude", "timestamp", "ingested_at", "source",
    "temperature", "feels_like", "humidity", "pressure", "wind_speed", "wind_direction", "cloudiness",
    "rainfall", "weather_main", "weather_description", "dew_point", "heat_index", "wind_chill",
)


class HourAggregate:
    """Running figures for one city and one clock hour."""

    __slots__ = ("hour", *HOUR_FIELDS, "_first", "_last")

    def __init__(self, hour: str) -> None:
        self.hour = hour
        self.record_count = 0
        self.sum_temperature = self.sum_sq_temperature = 0.0
        self.min_temperature = self.max_temperature = None
        self.sum_humidity = self.sum_pressure = self.sum_wind_speed = self.total_rainfall = 0.0
        self.first_timestamp = self.last_timestamp = None
        self._first = self._last = None

    def add(self, record: dict, moment: datetime) -> None:
        t = record["temperature"]
        self.record_count += 1
        self.sum_temperature += t
        self.sum_sq_temperature += t * t
        self.min_temperature = t if self.min_temperature is None else min(self.min_temperature, t)
        self.max_temperature = t if self.max_temperature is None else max(self.max_temperature, t)
        self.sum_humidity += record["humidity"]
        self.sum_pressure += record["pressure"]
        self.sum_wind_speed += record["wind_speed"]
        self.total_rainfall += record.get("rainfall") or 0.0
        if self._first is None or moment < self._first:
            self._first, self.first_timestamp = moment, record["timestamp"]
        if self._last is None or moment > self._last:
            self._last, self.last_timestamp = moment, record["timestamp"]

    def mean(self, metric: str) -> float | None:
        if not self.record_count:
            return None
        return getattr(self, f"sum_{metric}") / self.record_count

    def to_dict(self) -> dict:
        return {"hour": self.hour, **{name: getattr(self, name) for name in HOUR_FIELDS}}

    @classmethod
    def from_dict(cls, data: dict) -> HourAggregate:
        agg = cls(data["hour"])
        for name in HOUR_FIELDS:
            setattr(agg, name, data[name])
        agg._first = parse_utc(agg.first_timestamp) if agg.first_timestamp else None
        agg._last = parse_utc(agg.last_timestamp) if agg.last_timestamp else None
        return agg


class CityState:
    __slots__ = ("city_id", "latest", "latest_moment", "hours", "anomalies")

    def __init__(self, city_id: str) -> None:
        self.city_id = city_id
        self.latest: dict | None = None
        self.latest_moment: datetime | None = None
        self.hours: dict[str, HourAggregate] = {}
        self.anomalies: deque[dict] = deque(maxlen=MAX_ANOMALIES_PER_CITY)


class SpeedState:
    """Observations strictly after ``cutoff`` (everything, when there is no batch run yet)."""

    def __init__(
        self,
        cutoff: str | None,
        baselines: dict[str, CityBaseline] | None = None,
        *,
        max_hours: int = 48,
        max_cities: int = MAX_CITIES,
        params: AnomalyParams = DEFAULT_PARAMS,
    ) -> None:
        self.cutoff = cutoff
        self._cutoff_moment = parse_utc(cutoff) if cutoff else None
        self.baselines = baselines or {}
        self.max_hours = max_hours
        self.max_cities = max_cities
        self.params = params
        self.cities: dict[str, CityState] = {}
        self.stats = {"applied": 0, "before_cutoff": 0, "too_old": 0, "anomalies": 0, "evicted_cities": 0}

    def apply(self, record: dict) -> bool:
        """Add one valid observation; False when it is not the speed layer's (at or before the cutoff)."""
        moment = parse_utc(record["timestamp"])
        if self._cutoff_moment is not None and moment <= self._cutoff_moment:
            self.stats["before_cutoff"] += 1
            return False
        city = self._city(record["city_id"])
        if city.latest_moment is None or moment >= city.latest_moment:
            city.latest = {name: record.get(name) for name in LATEST_FIELDS}
            city.latest_moment = moment
        hour = hour_of(record["timestamp"])
        agg = city.hours.get(hour)
        if agg is None:
            if len(city.hours) >= self.max_hours:
                oldest = min(city.hours)
                if hour < oldest:
                    self.stats["too_old"] += 1
                    return True
                del city.hours[oldest]
            agg = city.hours[hour] = HourAggregate(hour)
        baseline = self.baselines.get(city.city_id)
        if baseline is not None:
            flags = score_observation(record, baseline, lambda h, m: self._hour_mean(city, baseline, h, m), self.params)
            city.anomalies.extend(flags)
            self.stats["anomalies"] += len(flags)
        agg.add(record, moment)
        self.stats["applied"] += 1
        return True

    @staticmethod
    def _hour_mean(city: CityState, baseline: CityBaseline, hour: str, metric: str) -> float | None:
        """Mean of a metric over a clock hour: the batch's part (before the cutoff) plus ours."""
        total, count = baseline.seed.get(hour, {}).get(metric, (0.0, 0))
        agg = city.hours.get(hour)
        if agg is not None and agg.record_count:
            total += getattr(agg, f"sum_{metric}")
            count += agg.record_count
        return total / count if count else None

    def _city(self, city_id: str) -> CityState:
        city = self.cities.get(city_id)
        if city is None:
            if len(self.cities) >= self.max_cities:
                stalest = min(self.cities.values(), key=lambda c: c.latest_moment)
                del self.cities[stalest.city_id]
                self.stats["evicted_cities"] += 1
            city = self.cities[city_id] = CityState(city_id)
        return city

    @property
    def newest(self) -> str | None:
        """The newest observation time in the state."""
        moments = [(c.latest_moment, c.latest["timestamp"]) for c in self.cities.values() if c.latest]
        return max(moments)[1] if moments else None

    def to_snapshot(self) -> dict:
        """The state as JSON-ready data (the ``cities`` part of ``speed/current.json``)."""
        return {
            city_id: {
                "city": city.latest["city"],
                "country": city.latest["country"],
                "latest": city.latest,
                "hours": [city.hours[h].to_dict() for h in sorted(city.hours)],
                "anomalies": list(city.anomalies),
            }
            for city_id, city in self.cities.items()
        }

    def restore(self, cities: dict) -> None:
        """Load what :meth:`to_snapshot` wrote (into a state with the same cutoff)."""
        for city_id, data in cities.items():
            city = self._city(city_id)
            city.latest = data["latest"]
            city.latest_moment = parse_utc(city.latest["timestamp"])
            for hour in data["hours"][-self.max_hours :]:
                city.hours[hour["hour"]] = HourAggregate.from_dict(hour)
            city.anomalies.extend(data["anomalies"])
