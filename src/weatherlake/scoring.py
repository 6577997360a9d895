"""Anomaly scoring parameters shared by the batch layer (Spark) and the speed layer (plain
Python), so a live flag and a batch flag mean the same thing. No pyspark import here."""

from __future__ import annotations

from dataclasses import dataclass, field

#: The metrics every view aggregates and both layers score (rainfall is only summed).
METRICS: tuple[str, ...] = ("temperature", "humidity", "pressure", "wind_speed")

#: Floors of the per-city scale, per metric: a perfectly steady series (MAD 0) cannot make
#: a tiny wobble infinitely significant.
MIN_SCALE: dict[str, float] = {"temperature": 0.5, "humidity": 2.5, "pressure": 0.5, "wind_speed": 1.0}


@dataclass(frozen=True)
class AnomalyParams:
    threshold: float = 4.0
    severe: float = 6.0
    extreme: float = 10.0
    context_hours: int = 3
    metrics: tuple[str, ...] = METRICS
    min_scale: dict[str, float] = field(default_factory=lambda: dict(MIN_SCALE))
