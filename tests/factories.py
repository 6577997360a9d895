"""Valid schema-v1 observations for tests, built without any weather source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from weatherlake import records

EPOCH = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)
CITY_IDS = ("london-gb", "new-york-us", "tokyo-jp", "sydney-au", "dubai-ae")


def observation(i: int, start: datetime = EPOCH, step: timedelta = timedelta(minutes=7)) -> dict:
    """The i-th test observation: cities round-robin, one per 7 minutes, so across UTC days.

    (city_id, timestamp) is unique per i, which is how tests find duplicates and gaps.
    """
    city_id = CITY_IDS[i % len(CITY_IDS)]
    name, country = city_id.rsplit("-", 1)
    moment = start + i * step
    temperature = round(10 + (i % 23) * 0.5, 2)
    return {
        "schema_version": records.SCHEMA_VERSION,
        "city_id": city_id,
        "city": name.title(),
        "country": country.upper(),
        "latitude": 51.5,
        "longitude": -0.12,
        "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ingested_at": moment.strftime("%Y-%m-%dT%H:%M:%S.000001Z"),
        "source": "synthetic",
        "temperature": temperature,
        "feels_like": temperature,
        "humidity": 60.0,
        "pressure": 1012.0,
        "wind_speed": 3.0,
        "rainfall": 0.0,
    }


def key_of(record: dict) -> tuple[str, str]:
    return record["city_id"], record["timestamp"]


def observation_date(record: dict) -> str:
    """The UTC date (``YYYY-MM-DD``) of the observation: the lake's partition."""
    return record["timestamp"][:10]
