"""Independent reference computations of the batch views from raw records, for the tests.

Written from the view definitions in docs/batch.md and the batch modules' docstrings, in
plain Python with none of the serving layer's code: what the merge of "batch up to the
cutoff" and "speed after it" must equal is the view computed over all the records.
"""

from __future__ import annotations

import math
import statistics
from datetime import date, datetime, timedelta


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def hour(text: str) -> str:
    return ts(text).strftime("%Y-%m-%dT%H:00:00Z")


def _r(x):
    return None if x is None else round(x, 4)


def hourly_trends(records: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["city_id"], hour(r["timestamp"])), []).append(r)
    rows = []
    for (city_id, h), rs in sorted(groups.items()):
        start = ts(h) - timedelta(hours=23)
        window = [r for r in records if r["city_id"] == city_id and start <= ts(hour(r["timestamp"])) <= ts(h)]
        rows.append({
            "city_id": city_id,
            "city": rs[0]["city"],
            "hour": h,
            "record_count": len(rs),
            "avg_temperature": _r(statistics.fmean(r["temperature"] for r in rs)),
            "min_temperature": min(r["temperature"] for r in rs),
            "max_temperature": max(r["temperature"] for r in rs),
            "avg_humidity": _r(statistics.fmean(r["humidity"] for r in rs)),
            "avg_pressure": _r(statistics.fmean(r["pressure"] for r in rs)),
            "avg_wind_speed": _r(statistics.fmean(r["wind_speed"] for r in rs)),
            "total_rainfall": _r(sum(r["rainfall"] for r in rs)),
            "rolling_24h_avg_temperature": _r(statistics.fmean(r["temperature"] for r in window)),
            "rolling_24h_record_count": len(window),
        })
    return rows


def _stats(rs: list[dict]) -> dict:
    temps = [r["temperature"] for r in rs]
    first = min(rs, key=lambda r: ts(r["timestamp"]))["timestamp"]
    last = max(rs, key=lambda r: ts(r["timestamp"]))["timestamp"]
    return {
        "city_id": rs[0]["city_id"],
        "city": rs[0]["city"],
        "record_count": len(rs),
        "avg_temperature": _r(statistics.fmean(temps)),
        "min_temperature": min(temps),
        "max_temperature": max(temps),
        "stddev_temperature": _r(statistics.stdev(temps)) if len(temps) > 1 else None,
        "avg_humidity": _r(statistics.fmean(r["humidity"] for r in rs)),
        "avg_wind_speed": _r(statistics.fmean(r["wind_speed"] for r in rs)),
        "total_rainfall": _r(sum(r["rainfall"] for r in rs)),
        "avg_pressure": _r(statistics.fmean(r["pressure"] for r in rs)),
        "first_timestamp": first,
        "last_timestamp": last,
    }


def period_start(text: str, period: str) -> str:
    day = date.fromisoformat(text[:10])
    if period == "week":
        day -= timedelta(days=day.weekday())
    elif period == "month":
        day = day.replace(day=1)
    return day.isoformat()


def city_stats(records: list[dict]) -> list[dict]:
    """Whole-window rows (no period) plus day, week and month rows, as the batch view has them."""
    rows = []
    by_city: dict[str, list[dict]] = {}
    for r in records:
        by_city.setdefault(r["city_id"], []).append(r)
    for _city_id, rs in sorted(by_city.items()):
        rows.append(_stats(rs))
        for period in ("day", "week", "month"):
            groups: dict[str, list[dict]] = {}
            for r in rs:
                groups.setdefault(period_start(r["timestamp"], period), []).append(r)
            for start, group in sorted(groups.items()):
                rows.append({**_stats(group), "period": period, "period_start": start})
    return rows


def diurnal_profile(records: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["city_id"], ts(r["timestamp"]).hour), []).append(r)
    return [
        {
            "city_id": city_id,
            "city": rs[0]["city"],
            "hour_of_day": hod,
            "record_count": len(rs),
            "avg_temperature": _r(statistics.fmean(r["temperature"] for r in rs)),
            "avg_humidity": _r(statistics.fmean(r["humidity"] for r in rs)),
            "avg_wind_speed": _r(statistics.fmean(r["wind_speed"] for r in rs)),
            "avg_pressure": _r(statistics.fmean(r["pressure"] for r in rs)),
        }
        for (city_id, hod), rs in sorted(groups.items())
    ]


def close(a, b, tol: float = 2e-3) -> bool:
    """Rows equal field by field, numbers within ``tol`` (the batch rounds to 4 places)."""
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, abs_tol=tol)
    return a == b
