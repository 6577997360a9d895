"""Live anomaly flags: an observation scored against the latest batch baseline.

The batch ``anomalies`` view (weatherlake.batch.anomalies) judges an observation by its
deviation ``dev`` from what is normal for that city at that hour of day, and then by how
far ``dev`` sticks out beyond the neighbouring hours on *both* sides. The speed layer
cannot see the hours after an observation, so it judges it provisionally, from what the
batch layer published and the hours before it:

1. **Seasonal baseline** per (city, hour of day, metric): the ``diurnal_profile`` view's
   ``cycle_<metric>`` (the typical day built from hour-to-hour changes, the one the batch
   judges against), else its ``median_<metric>``, else its ``avg_<metric>`` (views
   published by older runs).
2. **Recent context**: the median of the hourly mean ``dev`` over the ``context_hours`` (3)
   clock hours before the observation's hour, from the speed layer's own hours after
   the cutoff and, just after a batch run, the batch's ``hourly_trends`` rows before it.
3. **Scale** per (city, metric): 1.4826 x the median absolute gap between an hour's
   ``dev`` and its own recent context, over the batch's ``hourly_trends`` history (a
   robust standard deviation of hour-to-hour change), floored by :data:`MIN_SCALE`, the
   batch's floors.

``score = (dev - context) / scale``. A value is flagged at ``|score| >= 4`` when it also
moves *away* from normal (``dev`` and the gap have the same sign): a sudden warm hour in
the night is flagged, the return to normal after it is not, and a cold spell stops being
flagged once its own hours become the context. Severity uses the batch's bands
(moderate < 6 <= severe < 10 <= extreme). Rows carry ``provisional: true``: the next
batch run judges the same hours with both sides and replaces them.

Everything here is a plain function of plain data, tested directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from statistics import median

from weatherlake.scoring import AnomalyParams
from weatherlake.timefmt import hour_text, parse_utc

METHOD = "speed_seasonal_recent_context"
MAD_TO_SIGMA = 1.4826

DEFAULT_PARAMS = AnomalyParams()


@dataclass
class CityBaseline:
    """What the batch layer says is normal for one city."""

    #: hour of day (0-23) -> metric -> typical value
    seasonal: dict[int, dict[str, float]] = field(default_factory=dict)
    #: metric -> robust standard deviation of hour-to-hour change
    scale: dict[str, float] = field(default_factory=dict)
    #: clock hour -> metric -> (sum, count) of the batch's last hours: context just after the cutoff
    seed: dict[str, dict[str, tuple[float, int]]] = field(default_factory=dict)


@lru_cache(maxsize=65536)
def shift_hour(hour: str, hours: int) -> str:
    """``2026-11-20T20:00:00Z`` moved by ``hours`` (same format)."""
    return hour_text(parse_utc(hour) + timedelta(hours=hours))


def hour_of(timestamp: str) -> str:
    """The clock hour an ISO-8601 UTC timestamp falls in, as ``YYYY-MM-DDTHH:00:00Z``."""
    return timestamp[:13] + ":00:00Z"


def _hour_of_day(hour: str) -> int:
    return int(hour[11:13])


def build_baselines(
    diurnal_rows: Iterable[dict],
    hourly_rows: Iterable[dict],
    cutoff: str | None,
    params: AnomalyParams = DEFAULT_PARAMS,
) -> dict[str, CityBaseline]:
    """Per city: seasonal baseline from ``diurnal_profile``, scale and seed from ``hourly_trends``."""
    baselines: dict[str, CityBaseline] = {}
    for row in diurnal_rows:
        city = baselines.setdefault(row["city_id"], CityBaseline())
        typical = {}
        for metric in params.metrics:
            value = row.get(f"cycle_{metric}", row.get(f"median_{metric}", row.get(f"avg_{metric}")))
            if isinstance(value, (int, float)):
                typical[metric] = float(value)
        city.seasonal[int(row["hour_of_day"])] = typical

    by_city: dict[str, dict[str, dict]] = {}
    for row in hourly_rows:
        by_city.setdefault(row["city_id"], {})[row["hour"]] = row
    seed_from = shift_hour(hour_of(cutoff), -params.context_hours) if cutoff else None
    for city_id, hours in by_city.items():
        city = baselines.get(city_id)
        if city is None:
            continue  # no seasonal baseline: this city cannot be scored
        gaps: dict[str, list[float]] = {metric: [] for metric in params.metrics}
        devs = {hour: _hour_devs(city, hour, row, params) for hour, row in hours.items()}
        for hour, dev in devs.items():
            for metric, value in dev.items():
                before = [
                    devs[h][metric]
                    for h in (shift_hour(hour, -k) for k in range(1, params.context_hours + 1))
                    if h in devs and metric in devs[h]
                ]
                if before:
                    gaps[metric].append(abs(value - median(before)))
        for metric, values in gaps.items():
            if values:
                city.scale[metric] = max(MAD_TO_SIGMA * median(values), params.min_scale[metric])
        if seed_from is not None:
            for hour, row in hours.items():
                if hour >= seed_from and row.get("record_count"):
                    count = int(row["record_count"])
                    city.seed[hour] = {
                        metric: (float(row[f"avg_{metric}"]) * count, count)
                        for metric in params.metrics
                        if isinstance(row.get(f"avg_{metric}"), (int, float))
                    }
    return baselines


def _hour_devs(city: CityBaseline, hour: str, row: dict, params: AnomalyParams) -> dict[str, float]:
    typical = city.seasonal.get(_hour_of_day(hour), {})
    devs = {}
    for metric in params.metrics:
        value = row.get(f"avg_{metric}")
        if metric in typical and isinstance(value, (int, float)):
            devs[metric] = float(value) - typical[metric]
    return devs


def severity(abs_score: float, params: AnomalyParams) -> str:
    if abs_score >= params.extreme:
        return "extreme"
    if abs_score >= params.severe:
        return "severe"
    return "moderate"


def score_observation(
    record: dict,
    city: CityBaseline,
    hour_mean: Callable[[str, str], float | None],
    params: AnomalyParams = DEFAULT_PARAMS,
) -> list[dict]:
    """Anomaly rows (view field names) for the metrics of ``record`` that are flagged.

    ``hour_mean(hour, metric)`` is the mean of the metric over that clock hour as far as
    it is known (batch seed and speed hours combined), None when there is no data.
    """
    hour = hour_of(record["timestamp"])
    typical = city.seasonal.get(_hour_of_day(hour))
    if not typical:
        return []
    context_hours = [shift_hour(hour, -k) for k in range(1, params.context_hours + 1)]
    flagged = []
    for metric in params.metrics:
        value = record.get(metric)
        scale = city.scale.get(metric)
        if value is None or scale is None or metric not in typical:
            continue
        context = _recent_context(city, context_hours, metric, hour_mean)
        if context is None:
            continue
        dev = value - typical[metric]
        gap = dev - context
        score = gap / scale
        if abs(score) < params.threshold or dev * gap <= 0:
            continue  # not unusual, or a move back towards normal
        flagged.append(_anomaly_row(record, metric, typical[metric], gap, scale, score, params))
    return flagged


def _recent_context(
    city: CityBaseline, hours: list[str], metric: str, hour_mean: Callable[[str, str], float | None]
) -> float | None:
    """The median deviation from normal of the metric's mean over ``hours``; None without data."""
    devs = []
    for hour in hours:
        mean = hour_mean(hour, metric)
        expected = city.seasonal.get(_hour_of_day(hour), {}).get(metric)
        if mean is not None and expected is not None:
            devs.append(mean - expected)
    return median(devs) if devs else None


def _anomaly_row(
    record: dict, metric: str, seasonal: float, gap: float, scale: float, score: float, params: AnomalyParams
) -> dict:
    """One flagged metric as an ``anomalies`` row, marked provisional."""
    value = record[metric]
    return {
        "city_id": record["city_id"],
        "city": record["city"],
        "timestamp": record["timestamp"],
        "metric": metric,
        "value": value,
        "baseline": round(value - gap, 3),
        "score": round(score, 2),
        "severity": severity(abs(score), params),
        "method": METHOD,
        "deviation": round(gap, 3),
        "seasonal_baseline": round(seasonal, 3),
        "local_scale": round(scale, 3),
        "hour_of_day": _hour_of_day(record["timestamp"]),
        "provisional": True,
    }
