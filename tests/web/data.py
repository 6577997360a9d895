"""Deterministic observations for the serving tests: several cities, several per hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from weatherlake import records

START = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
CITIES = {
    "london-gb": ("London", "GB"),
    "tokyo-jp": ("Tokyo", "JP"),
    "dubai-ae": ("Dubai", "AE"),
}


def observation(city_id: str, moment: datetime, i: int, **changes) -> dict:
    name, country = CITIES.get(city_id, (city_id.rsplit("-", 1)[0].title(), city_id.rsplit("-", 1)[1].upper()))
    temperature = round(8 + 6 * ((i * 7) % 11) / 10 + (3 if city_id == "dubai-ae" else 0), 2)
    # Every third record has a fractional second: it sorts *before* a whole second as text.
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S") + (".500000Z" if i % 3 == 0 else "Z")
    record = {
        "schema_version": records.SCHEMA_VERSION,
        "city_id": city_id,
        "city": name,
        "country": country,
        "latitude": 51.5,
        "longitude": -0.12,
        "timestamp": stamp,
        "ingested_at": stamp,
        "source": "synthetic",
        "temperature": temperature,
        "feels_like": temperature,
        "humidity": float(50 + (i * 13) % 40),
        "pressure": float(1000 + (i * 3) % 25),
        "wind_speed": round(1.5 + (i % 5) * 0.7, 2),
        "rainfall": 0.2 * (i % 4 == 0),
        **changes,
    }
    if record.get("station_id"):  # a station's reading (schema version 2) has no country
        record.pop("country")
    return records.validate(record)


def observations(hours: int = 30, per_hour: int = 3, cities=tuple(CITIES), start: datetime = START) -> list[dict]:
    """``per_hour`` records per city per hour for ``hours`` hours from ``start``."""
    out = []
    step = timedelta(minutes=60 // per_hour)
    i = 0
    for h in range(hours):
        for k in range(per_hour):
            for city_id in cities:
                out.append(observation(city_id, start + timedelta(hours=h) + k * step + timedelta(minutes=1), i))
                i += 1
    return out


def before(rows: list[dict], cutoff: str) -> list[dict]:
    limit = datetime.fromisoformat(cutoff)
    return [r for r in rows if datetime.fromisoformat(r["timestamp"]) <= limit]


def after(rows: list[dict], cutoff: str) -> list[dict]:
    limit = datetime.fromisoformat(cutoff)
    return [r for r in rows if datetime.fromisoformat(r["timestamp"]) > limit]
