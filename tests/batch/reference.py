"""The batch views computed again in plain Python, independently of Spark.

Straightforward loops and the statistics module, no cleverness: the tests compare Spark's
real output with these, field by field (Spark rounds to 4 decimals, so floats are
compared with an absolute tolerance of 1e-4). Rows are dicts keyed by field name;
``obs`` are dicts with ``city_id``, ``city``, ``ts`` (aware UTC datetime) and the metrics.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from weatherlake.batch.extract import METRICS

UTC = UTC


def iso(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _stats(group: list[dict]) -> dict:
    temps = [o["temperature"] for o in group]
    return {
        "city_id": group[0]["city_id"],
        "city": group[0]["city"],
        "record_count": len(group),
        "avg_temperature": statistics.fmean(temps),
        "min_temperature": min(temps),
        "max_temperature": max(temps),
        "stddev_temperature": statistics.stdev(temps) if len(temps) > 1 else None,
        "avg_humidity": statistics.fmean(o["humidity"] for o in group),
        "avg_wind_speed": statistics.fmean(o["wind_speed"] for o in group),
        "total_rainfall": sum(o["rainfall"] for o in group),
        "avg_pressure": statistics.fmean(o["pressure"] for o in group),
        "first_timestamp": iso(min(o["ts"] for o in group)),
        "last_timestamp": iso(max(o["ts"] for o in group)),
    }


def _period_start(period: str, day: date) -> date:
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())  # Monday
    return day.replace(day=1)


def city_stats(obs: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for o in obs:
        groups[(o["city_id"], None, None)].append(o)
        day = o["ts"].astimezone(UTC).date()
        for period in ("day", "week", "month"):
            groups[(o["city_id"], period, _period_start(period, day).isoformat())].append(o)
    rows = []
    for (_, period, start), group in groups.items():
        rows.append({**_stats(group), "period": period, "period_start": start})
    return rows


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hourly_trends(obs: list[dict]) -> list[dict]:
    by_hour: dict[tuple, list[dict]] = defaultdict(list)
    for o in obs:
        by_hour[(o["city_id"], hour_of(o["ts"]))].append(o)
    rows = []
    for (city_id, hour), group in by_hour.items():
        window = [
            o
            for (c, h), members in by_hour.items()
            if c == city_id and hour - timedelta(hours=23) <= h <= hour
            for o in members
        ]
        temps = [o["temperature"] for o in group]
        rows.append(
            {
                "city_id": city_id,
                "city": group[0]["city"],
                "hour": iso(hour),
                "record_count": len(group),
                "avg_temperature": statistics.fmean(temps),
                "min_temperature": min(temps),
                "max_temperature": max(temps),
                "avg_humidity": statistics.fmean(o["humidity"] for o in group),
                "avg_pressure": statistics.fmean(o["pressure"] for o in group),
                "avg_wind_speed": statistics.fmean(o["wind_speed"] for o in group),
                "total_rainfall": sum(o["rainfall"] for o in group),
                "rolling_24h_avg_temperature": statistics.fmean(o["temperature"] for o in window),
                "rolling_24h_record_count": len(window),
            }
        )
    return rows


def diurnal_profile(obs: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for o in obs:
        groups[(o["city_id"], o["ts"].astimezone(UTC).hour)].append(o)
    medians = {key: {m: statistics.median(o[m] for o in group) for m in METRICS} for key, group in groups.items()}
    cycles = diurnal_cycles(obs, medians)
    rows = []
    for (city_id, hour_of_day), group in groups.items():
        temps = [o["temperature"] for o in group]
        rows.append(
            {
                "city_id": city_id,
                "city": group[0]["city"],
                "hour_of_day": hour_of_day,
                "record_count": len(group),
                "avg_temperature": statistics.fmean(temps),
                "avg_humidity": statistics.fmean(o["humidity"] for o in group),
                "avg_wind_speed": statistics.fmean(o["wind_speed"] for o in group),
                "min_temperature": min(temps),
                "max_temperature": max(temps),
                "avg_pressure": statistics.fmean(o["pressure"] for o in group),
                "total_rainfall": sum(o["rainfall"] for o in group),
                **{f"median_{m}": statistics.median(o[m] for o in group) for m in METRICS},
                **{f"mad_{m}": mad([o[m] for o in group]) for m in METRICS},
                **{f"cycle_{m}": cycles[(city_id, hour_of_day)][m] for m in METRICS},
            }
        )
    return rows


def diurnal_cycles(obs: list[dict], medians: dict[tuple, dict]) -> dict[tuple, dict]:
    """(city_id, hour of day) -> metric -> the typical day built from hour-to-hour changes
    over the city's newest 56 days: the median change into each hour of day, summed from 00:00, the day's net gain spread
    evenly, its mean set to the mean of the hour-of-day medians; the medians themselves
    for a city without a change into every hour of day."""
    newest: dict[str, int] = {}
    for o in obs:
        newest[o["city_id"]] = max(newest.get(o["city_id"], 0), int(o["ts"].timestamp()) // 3600)
    hourly: dict[str, dict[int, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for o in obs:
        hour = int(o["ts"].timestamp()) // 3600
        if hour > newest[o["city_id"]] - 56 * 24:  # the city's newest 56 days (diurnal_profile.CYCLE_DAYS)
            hourly[o["city_id"]][hour].append(o)
    cycles = {}
    for city_id, hours in hourly.items():
        means = {h: {m: statistics.fmean(o[m] for o in group) for m in METRICS} for h, group in hours.items()}
        changes: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for h, mean in means.items():
            if h - 1 in means:
                for m in METRICS:
                    changes[h % 24][m].append(mean[m] - means[h - 1][m])
        day = [medians.get((city_id, hour)) for hour in range(24)]
        for m in METRICS:
            if len(changes) < 24:
                cycle = [None if typical is None else typical[m] for typical in day]
            else:
                steps = [statistics.median(changes[hour][m]) for hour in range(24)]
                shape = [sum(steps[1 : hour + 1]) - sum(steps) * hour / 24 for hour in range(24)]
                level = statistics.fmean(typical[m] for typical in day) - statistics.fmean(shape)
                cycle = [value + level for value in shape]
            for hour in range(24):  # on the records' 0.01 grid, halves up
                value = cycle[hour]
                cycles.setdefault((city_id, hour), {})[m] = None if value is None else math.floor(value * 100 + 0.5) / 100
    return cycles


def mad(values: list[float]) -> float:
    center = statistics.median(values)
    return statistics.median(abs(v - center) for v in values)


def assert_rows_match(actual: list[dict], expected: list[dict], keys: tuple[str, ...], tolerance: float = 1e-4) -> None:
    """Same set of rows (by ``keys``), same fields, floats within ``tolerance``."""
    by_key = {tuple(r.get(k) for k in keys): r for r in expected}
    assert len(by_key) == len(expected), "reference rows must be unique by key"
    seen = set()
    for row in actual:
        key = tuple(row.get(k) for k in keys)
        assert key in by_key, f"unexpected row {key}"
        assert key not in seen, f"duplicate row {key}"
        seen.add(key)
        want = by_key[key]
        for field, value in want.items():
            got = row.get(field)
            if isinstance(value, float) and got is not None:
                assert abs(got - value) <= tolerance, f"{key} {field}: {got} != {value}"
            else:
                assert got == value, f"{key} {field}: {got!r} != {value!r}"
    assert seen == set(by_key), f"missing rows {sorted(set(by_key) - seen, key=str)[:5]}"
