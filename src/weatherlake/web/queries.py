"""What each endpoint shows, derived from one :class:`~weatherlake.web.store.Loaded` state.

Results are memoised per version of the data and per city, so a merge runs once per
change of the lake, not once per request.
"""

from __future__ import annotations

from datetime import timedelta

from weatherlake.cities import catalogue
from weatherlake.timefmt import hour_text, parse_utc
from weatherlake.web import merge
from weatherlake.web.store import Loaded


def _batch_cutoff(loaded: Loaded, view: str) -> str | None:
    return loaded.views[view].cutoff


def city_directory(loaded: Loaded) -> dict[str, dict]:
    """Every city the data or the catalogue knows, and every registered station: id -> name,
    country, position, coverage; a station's entry has ``station: true``."""

    def build() -> dict[str, dict]:
        cities: dict[str, dict] = {}
        for view in ("city_stats", "hourly_trends"):
            for city_id, rows in loaded.views[view].by_city.items():
                entry = cities.setdefault(city_id, {"city_id": city_id, "city": rows[0].get("city")})
                entry["batch"] = True
        for city_id, data in loaded.speed_cities.items():
            entry = cities.setdefault(city_id, {"city_id": city_id, "city": data.get("city")})
            latest = data.get("latest") or {}
            entry.update(live=True, country=data.get("country"), latitude=latest.get("latitude"),
                         longitude=latest.get("longitude"))
        for station in loaded.stations.values():
            entry = cities.setdefault(station["city_id"], {"city_id": station["city_id"]})
            entry.update(station=True, station_id=station["station_id"], latitude=station["latitude"],
                         longitude=station["longitude"])
            entry["city"] = entry.get("city") or station["name"]
        for city_id, entry in cities.items():
            known = catalogue().get(city_id)
            if known is not None:
                entry.setdefault("country", known.country)
                entry["latitude"] = entry.get("latitude") or known.latitude
                entry["longitude"] = entry.get("longitude") or known.longitude
            entry.setdefault("batch", False)
            entry.setdefault("live", False)
            entry.setdefault("station", False)
        return dict(sorted(cities.items()))

    return loaded.memo(("cities",), build)


def is_known(loaded: Loaded, city_id: str) -> bool:
    return city_id in catalogue() or city_id in city_directory(loaded)


def cities_with_data(loaded: Loaded) -> list[str]:
    return list(city_directory(loaded))


def default_chart_cities(loaded: Loaded, configured: tuple[str, ...], most: int = 5) -> list[str]:
    """The configured cities that have data; else the first few cities that do."""
    present = city_directory(loaded)
    chosen = [c for c in configured if c in present][:most]
    return chosen or list(present)[:most]


def _name(loaded: Loaded, city_id: str) -> str:
    entry = city_directory(loaded).get(city_id)
    if entry and entry.get("city"):
        return entry["city"]
    known = catalogue().get(city_id)
    return known.name if known else city_id


def hourly(loaded: Loaded, city_id: str) -> list[dict]:
    """One city's merged hourly series, oldest first."""

    def build() -> list[dict]:
        live = loaded.speed_cities.get(city_id, {})
        return merge.merge_hourly(
            loaded.views["hourly_trends"].by_city.get(city_id, []),
            live.get("hours", []),
            _batch_cutoff(loaded, "hourly_trends"),
            loaded.speed_cutoff,
            city_id=city_id,
            city=_name(loaded, city_id),
        )

    return loaded.memo(("hourly", city_id), build)


def window_end(loaded: Loaded, city_ids: list[str]) -> str | None:
    """The newest hour with data among these cities: where every time window ends."""
    ends = [series[-1]["hour"] for series in (hourly(loaded, c) for c in city_ids) if series]
    return max(ends) if ends else None


def window_start(end: str | None, hours: int) -> str | None:
    if end is None:
        return None
    return hour_text(parse_utc(end) - timedelta(hours=hours - 1))


def hourly_window(loaded: Loaded, city_ids: list[str], hours: int) -> list[dict]:
    """The merged hourly rows of these cities in the last ``hours`` hours with data."""
    start = window_start(window_end(loaded, city_ids), hours)
    rows = []
    for city_id in city_ids:
        rows.extend(row for row in hourly(loaded, city_id) if start is not None and row["hour"] >= start)
    return rows


def city_stats(loaded: Loaded, city_id: str) -> dict | None:
    def build() -> dict | None:
        whole = [r for r in loaded.views["city_stats"].by_city.get(city_id, []) if not r.get("period")]
        return merge.merge_city_stats(
            whole[0] if whole else None,
            loaded.speed_cities.get(city_id, {}).get("hours", []),
            _batch_cutoff(loaded, "city_stats"),
            loaded.speed_cutoff,
            city_id=city_id,
            city=_name(loaded, city_id),
        )

    return loaded.memo(("stats", city_id), build)


def period_stats(loaded: Loaded, city_id: str, period: str) -> list[dict]:
    def build() -> list[dict]:
        rows = [r for r in loaded.views["city_stats"].by_city.get(city_id, []) if r.get("period") == period]
        return merge.merge_period_stats(
            rows,
            loaded.speed_cities.get(city_id, {}).get("hours", []),
            _batch_cutoff(loaded, "city_stats"),
            loaded.speed_cutoff,
            period=period,
            city_id=city_id,
            city=_name(loaded, city_id),
        )

    return loaded.memo(("periods", city_id, period), build)


def anomalies(loaded: Loaded, city_id: str) -> list[dict]:
    def build() -> list[dict]:
        return merge.merge_anomalies(
            loaded.views["anomalies"].by_city.get(city_id, []),
            loaded.speed_cities.get(city_id, {}).get("anomalies", []),
            _batch_cutoff(loaded, "anomalies"),
            loaded.speed_cutoff,
            loaded.injected,
        )

    return loaded.memo(("anomalies", city_id), build)


def current(loaded: Loaded, city_id: str) -> dict | None:
    def build() -> dict | None:
        latest = loaded.speed_cities.get(city_id, {}).get("latest")
        batch_hours = loaded.views["hourly_trends"].by_city.get(city_id)
        row = merge.current_conditions(latest, batch_hours[-1] if batch_hours else None)
        if row is not None:
            entry = city_directory(loaded).get(city_id, {})
            row.setdefault("country", entry.get("country"))
        return row

    return loaded.memo(("current", city_id), build)


def overall_source(rows: list[dict]) -> str | None:
    """``batch``, ``speed`` or ``merged`` for a set of rows; None when there are none."""
    sources = {row.get("layer") for row in rows}
    if not sources:
        return None
    if len(sources) == 1:
        return sources.pop()
    return "merged"
