"""Merging the batch views with the speed snapshot at the cutoff: plain functions of plain rows.

The batch layer's views cover every observation up to its ``cutoff``; the speed layer's
snapshot covers every observation strictly after *its* cutoff. Normally the two cutoffs
are the same, and then:

* an hour entirely before the cutoff comes from the batch row, an hour entirely after it
  from the speed layer's aggregate, and the hour that contains the cutoff is the two
  combined (counts added, averages weighted by count, min of mins, max of maxes, sums
  added): the records on each side of the cutoff are disjoint, so nothing counts twice;
* statistics (whole window, day, week, month) are the batch row combined with the speed
  hours that fall in it; the speed layer keeps sums and sums of squares, so even the
  standard deviation combines exactly;
* anomalies are the batch's rows plus the speed layer's provisional rows after the cutoff.

Right after a new batch run the speed layer may still cover from the *older* cutoff
for a few seconds (it is replaying towards the new one). Its hours up to the hour of the
new cutoff then overlap the batch, so they are left out until it has caught up (the
hour of the cutoff briefly shows only the batch's part). The opposite case (the speed
layer is ahead of the batch view this process loaded) leaves a short gap, never a double.

Every merged row says where it came from in ``layer``: ``batch``, ``speed`` or ``merged``.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from weatherlake.speed.baseline import hour_of
from weatherlake.timefmt import hour_text, parse_utc
from weatherlake.views import DECIMALS, ROLLING_HOURS


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, DECIMALS)


def hour_number(hour: str) -> int:
    """Whole hours since the epoch of an ``...T HH:00:00Z`` clock hour."""
    return int(datetime.fromisoformat(hour).timestamp()) // 3600


def speed_hours_after(speed_hours: list[dict], batch_cutoff: str | None, speed_cutoff: str | None) -> list[dict]:
    """The speed layer's hour aggregates that hold no record the batch already counted."""
    if batch_cutoff is None:
        return list(speed_hours)
    if speed_cutoff is not None and parse_utc(speed_cutoff) >= parse_utc(batch_cutoff):
        return list(speed_hours)
    cutoff_hour = hour_of(batch_cutoff)
    return [h for h in speed_hours if h["hour"] > cutoff_hour]


def speed_hour_row(city_id: str, city: str, agg: dict) -> dict:
    """One speed-layer hour aggregate as an ``hourly_trends`` row."""
    n = agg["record_count"]
    return {
        "city_id": city_id,
        "city": city,
        "hour": agg["hour"],
        "record_count": n,
        "avg_temperature": _r(agg["sum_temperature"] / n),
        "min_temperature": agg["min_temperature"],
        "max_temperature": agg["max_temperature"],
        "avg_humidity": _r(agg["sum_humidity"] / n),
        "avg_pressure": _r(agg["sum_pressure"] / n),
        "avg_wind_speed": _r(agg["sum_wind_speed"] / n),
        "total_rainfall": _r(agg["total_rainfall"]),
        "layer": "speed",
    }


def combine_hour(batch_row: dict, speed_row: dict) -> dict:
    """The batch's part of an hour (up to the cutoff) plus the speed layer's part (after it)."""
    n1, n2 = batch_row["record_count"], speed_row["record_count"]
    n = n1 + n2

    def weighted(field: str) -> float | None:
        a, b = batch_row.get(field), speed_row.get(field)
        if a is None or b is None:
            return a if b is None else b
        return _r((a * n1 + b * n2) / n)

    return {
        **batch_row,
        "record_count": n,
        "avg_temperature": weighted("avg_temperature"),
        "min_temperature": min(batch_row["min_temperature"], speed_row["min_temperature"]),
        "max_temperature": max(batch_row["max_temperature"], speed_row["max_temperature"]),
        "avg_humidity": weighted("avg_humidity"),
        "avg_pressure": weighted("avg_pressure"),
        "avg_wind_speed": weighted("avg_wind_speed"),
        "total_rainfall": _r((batch_row.get("total_rainfall") or 0.0) + (speed_row.get("total_rainfall") or 0.0)),
        "layer": "merged",
    }


def merge_hourly(
    batch_rows: list[dict],
    speed_hours: list[dict],
    batch_cutoff: str | None,
    speed_cutoff: str | None,
    *,
    city_id: str,
    city: str,
    rolling_hours: int = ROLLING_HOURS,
) -> list[dict]:
    """One city's hourly trends: batch hours up to the cutoff plus speed hours after it.

    ``batch_rows`` are that city's ``hourly_trends`` rows, ``speed_hours`` its hour
    aggregates from the snapshot. The rolling average is recomputed from the merged
    series for every hour from the first one the speed layer touched (it is weighted by
    records, as the batch computes it).
    """
    merged: dict[str, dict] = {row["hour"]: {**row, "layer": "batch"} for row in batch_rows}
    touched = []
    for agg in speed_hours_after(speed_hours, batch_cutoff, speed_cutoff):
        if not agg["record_count"]:
            continue
        live = speed_hour_row(city_id, city, agg)
        hour = agg["hour"]
        merged[hour] = combine_hour(merged[hour], live) if hour in merged else live
        touched.append(hour)
    rows = [merged[hour] for hour in sorted(merged)]
    if touched:
        _recompute_rolling(rows, min(touched), rolling_hours)
    return rows


def _recompute_rolling(rows: list[dict], first_hour: str, rolling_hours: int) -> None:
    numbers = [hour_number(row["hour"]) for row in rows]
    sums = [0.0]
    counts = [0]
    for row in rows:
        sums.append(sums[-1] + (row.get("avg_temperature") or 0.0) * row["record_count"])
        counts.append(counts[-1] + row["record_count"])
    for i, row in enumerate(rows):
        if row["hour"] < first_hour:
            continue
        start = bisect_left(numbers, numbers[i] - (rolling_hours - 1))
        count = counts[i + 1] - counts[start]
        row["rolling_24h_avg_temperature"] = _r((sums[i + 1] - sums[start]) / count) if count else None
        row["rolling_24h_record_count"] = count


# --- statistics --------------------------------------------------------------------------

_SUMMED = ("humidity", "wind_speed", "pressure")


def _parts_of_batch_stats(row: dict) -> dict:
    """A ``city_stats`` row back as sums (its averages were rounded: close, not bit-exact)."""
    n = row["record_count"]
    mean = row["avg_temperature"]
    sd = row.get("stddev_temperature")
    sum_sq = (n - 1) * sd * sd + n * mean * mean if sd is not None and n > 1 else n * mean * mean
    return {
        "n": n,
        "sum_temperature": mean * n,
        "sum_sq_temperature": sum_sq,
        "min_temperature": row["min_temperature"],
        "max_temperature": row["max_temperature"],
        **{f"sum_{m}": (row.get(f"avg_{m}") or 0.0) * n for m in _SUMMED},
        "total_rainfall": row.get("total_rainfall") or 0.0,
        "first_timestamp": row.get("first_timestamp"),
        "last_timestamp": row.get("last_timestamp"),
    }


def _parts_of_speed_hours(hours: Iterable[dict]) -> dict | None:
    n = 0
    total = total_sq = humidity = wind = pressure = rain = 0.0
    low = high = first = last = None
    first_moment = last_moment = None
    for agg in hours:
        count = agg["record_count"]
        if not count:
            continue
        n += count
        total += agg["sum_temperature"]
        total_sq += agg["sum_sq_temperature"]
        humidity += agg["sum_humidity"]
        wind += agg["sum_wind_speed"]
        pressure += agg["sum_pressure"]
        rain += agg["total_rainfall"]
        low = agg["min_temperature"] if low is None else min(low, agg["min_temperature"])
        high = agg["max_temperature"] if high is None else max(high, agg["max_temperature"])
        moment = parse_utc(agg["first_timestamp"])
        if first_moment is None or moment < first_moment:
            first_moment, first = moment, agg["first_timestamp"]
        moment = parse_utc(agg["last_timestamp"])
        if last_moment is None or moment > last_moment:
            last_moment, last = moment, agg["last_timestamp"]
    if not n:
        return None
    return {"n": n, "sum_temperature": total, "sum_sq_temperature": total_sq, "min_temperature": low,
            "max_temperature": high, "sum_humidity": humidity, "sum_wind_speed": wind, "sum_pressure": pressure,
            "total_rainfall": rain, "first_timestamp": first, "last_timestamp": last}


def _earliest(a: str | None, b: str | None, latest: bool = False) -> str | None:
    if a is None or b is None:
        return a if b is None else b
    pick = max if latest else min
    return pick((a, b), key=parse_utc)


def _add_parts(a: dict, b: dict) -> dict:
    out = {key: a[key] + b[key] for key in ("n", "sum_temperature", "sum_sq_temperature", "total_rainfall")}
    out.update({f"sum_{m}": a[f"sum_{m}"] + b[f"sum_{m}"] for m in _SUMMED})
    out["min_temperature"] = min(a["min_temperature"], b["min_temperature"])
    out["max_temperature"] = max(a["max_temperature"], b["max_temperature"])
    out["first_timestamp"] = _earliest(a["first_timestamp"], b["first_timestamp"])
    out["last_timestamp"] = _earliest(a["last_timestamp"], b["last_timestamp"], latest=True)
    return out


def _stats_row(parts: dict) -> dict:
    n = parts["n"]
    mean = parts["sum_temperature"] / n
    stddev = None
    if n > 1:
        variance = max((parts["sum_sq_temperature"] - n * mean * mean) / (n - 1), 0.0)
        stddev = _r(math.sqrt(variance))
    return {
        "record_count": n,
        "avg_temperature": _r(mean),
        "min_temperature": parts["min_temperature"],
        "max_temperature": parts["max_temperature"],
        "stddev_temperature": stddev,
        "avg_humidity": _r(parts["sum_humidity"] / n),
        "avg_wind_speed": _r(parts["sum_wind_speed"] / n),
        "total_rainfall": _r(parts["total_rainfall"]),
        "avg_pressure": _r(parts["sum_pressure"] / n),
        "first_timestamp": parts["first_timestamp"],
        "last_timestamp": parts["last_timestamp"],
    }


def combine_stats(batch_row: dict | None, speed_hours: list[dict], *, city_id: str, city: str) -> dict | None:
    """A ``city_stats`` row (whole window or one period) plus the speed hours that fall in it."""
    live = _parts_of_speed_hours(speed_hours)
    if live is None:
        return None if batch_row is None else {**batch_row, "layer": "batch"}
    if batch_row is None:
        return {"city_id": city_id, "city": city, **_stats_row(live), "layer": "speed"}
    parts = _add_parts(_parts_of_batch_stats(batch_row), live)
    return {**batch_row, **_stats_row(parts), "layer": "merged"}


def period_start(hour: str, period: str) -> str:
    """The first UTC day (ISO date) of the day, ISO week (Monday) or month an hour is in."""
    day = date.fromisoformat(hour[:10])
    if period == "day":
        return day.isoformat()
    if period == "week":
        return (day - timedelta(days=day.weekday())).isoformat()
    if period == "month":
        return day.replace(day=1).isoformat()
    raise ValueError(f"unknown period {period!r}")


def merge_period_stats(
    batch_rows: list[dict],
    speed_hours: list[dict],
    batch_cutoff: str | None,
    speed_cutoff: str | None,
    *,
    period: str,
    city_id: str,
    city: str,
) -> list[dict]:
    """One city's rows for one period kind, newest first, with the speed hours added in."""
    by_start: dict[str, list[dict]] = {}
    for agg in speed_hours_after(speed_hours, batch_cutoff, speed_cutoff):
        by_start.setdefault(period_start(agg["hour"], period), []).append(agg)
    batch_by_start = {row["period_start"]: row for row in batch_rows}
    rows = []
    for start in sorted(set(batch_by_start) | set(by_start), reverse=True):
        row = combine_stats(batch_by_start.get(start), by_start.get(start, []), city_id=city_id, city=city)
        if row is not None:
            row.setdefault("period", period)
            row.setdefault("period_start", start)
            rows.append(row)
    return rows


def merge_city_stats(
    batch_row: dict | None,
    speed_hours: list[dict],
    batch_cutoff: str | None,
    speed_cutoff: str | None,
    *,
    city_id: str,
    city: str,
) -> dict | None:
    """One city's whole-window statistics, batch and speed combined."""
    hours = speed_hours_after(speed_hours, batch_cutoff, speed_cutoff)
    return combine_stats(batch_row, hours, city_id=city_id, city=city)


# --- anomalies and current conditions ----------------------------------------------------


def merge_anomalies(
    batch_rows: list[dict],
    speed_rows: list[dict],
    batch_cutoff: str | None,
    speed_cutoff: str | None,
    injected: frozenset[tuple[str, str, str]] = frozenset(),
) -> list[dict]:
    """Batch anomalies plus the speed layer's provisional ones after the cutoff, newest
    first; those a demo injected (city, clock hour, metric in ``injected``) are marked
    ``injected: true``."""
    rows = [{**row, "layer": "batch"} for row in batch_rows]
    cutoff = parse_utc(batch_cutoff) if batch_cutoff else None
    for row in speed_rows:
        if cutoff is None or parse_utc(row["timestamp"]) > cutoff:
            rows.append({**row, "layer": "speed"})
    if injected:
        for row in rows:
            if (row["city_id"], hour_text(parse_utc(row["timestamp"])), row["metric"]) in injected:
                row["injected"] = True
    rows.sort(key=lambda row: parse_utc(row["timestamp"]), reverse=True)
    return rows


def current_conditions(latest: dict | None, last_batch_hour: dict | None) -> dict | None:
    """A city's current conditions: its latest live observation, else its newest batch hour."""
    if latest is not None:
        return {**latest, "layer": "speed"}
    if last_batch_hour is None:
        return None
    return {
        "city_id": last_batch_hour["city_id"],
        "city": last_batch_hour["city"],
        "timestamp": last_batch_hour["hour"],
        "temperature": last_batch_hour.get("avg_temperature"),
        "humidity": last_batch_hour.get("avg_humidity"),
        "pressure": last_batch_hour.get("avg_pressure"),
        "wind_speed": last_batch_hour.get("avg_wind_speed"),
        "rainfall": last_batch_hour.get("total_rainfall"),
        "layer": "batch",
    }
