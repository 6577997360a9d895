"""A station's payload, checked and turned into a schema-v2 record.

The payload is one JSON object, in SI units::

    {"station_id": "ws-0042", "latitude": 51.51, "longitude": -0.13,
     "timestamp": "2026-12-06T20:00:00Z", "temperature": 7.4, "humidity": 81,
     "pressure": 1013.2, "wind_speed": 3.1, "wind_direction": 240, "rainfall": 0.2,
     "metadata": {"name": "Soho roof", "model": "WS-2902"}}

* ``temperature`` °C, ``humidity`` %, ``pressure`` hPa (sea level), ``wind_speed`` m/s,
  ``wind_direction`` degrees from north, ``rainfall`` mm in the last hour;
* ``timestamp``: ISO-8601 with ``Z`` or an offset, or Unix seconds; a reading more than
  :data:`MAX_FUTURE` ahead of the bridge's clock is refused (a station with a wrong clock);
* ``station_id``: a lowercase slug; when absent, the topic's station level gives it, and
  when both are there they must agree;
* optional: ``wind_direction``, ``rainfall`` (absent means none, the schema's rule),
  ``metadata`` (a flat object; its ``name``, if any, names the station).

The record is the observation record (schema v2, :mod:`weatherlake.records`) with
``city_id`` ``station-<station_id>``, ``city`` the station's name, no ``country``,
``source`` ``station`` and ``sender`` how it arrived (``mqtt``). Anything else is refused
with :class:`~weatherlake.errors.InvalidRecord` naming the problem; the bridge
dead-letters it with that reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from weatherlake import records
from weatherlake.errors import InvalidRecord
from weatherlake.records.schema import SLUG, type_name
from weatherlake.records.validation import decode_object

#: How far ahead of the receiving clock a reading's timestamp may be.
MAX_FUTURE = timedelta(minutes=5)
#: Where station readings live among the locations: ``station-<station_id>``.
CITY_PREFIX = "station-"

_METRICS = ("temperature", "humidity", "pressure", "wind_speed")
_OPTIONAL = ("wind_direction", "rainfall")
_KNOWN = frozenset(("station_id", "latitude", "longitude", "timestamp", "metadata", *_METRICS, *_OPTIONAL))


@dataclass(frozen=True)
class Station:
    """A station as a location of the record (what :func:`records.make_record` reads)."""

    id: str
    name: str
    latitude: float
    longitude: float
    country: None = None


def normalise(payload: bytes, sender: str, topic_station: str | None = None, now: datetime | None = None,
              authority: str = "topic") -> dict:
    """The schema-v2 record of one payload; :class:`InvalidRecord` with the reason if it has none.

    ``topic_station`` is the station the payload's way in names (the MQTT topic's level,
    the HTTP token's station): ``authority`` says which, in a reason."""
    obj = decode_object(payload)
    unknown = sorted(str(key) for key in obj if key not in _KNOWN)
    if unknown:
        raise InvalidRecord(f"unexpected field '{unknown[0]}' in a station reading")
    station_id = _station_id(obj.get("station_id"), topic_station, authority)
    numbers = {name: _number(obj, name, required=True) for name in ("latitude", "longitude", *_METRICS)}
    optional = {name: _number(obj, name, required=False) for name in _OPTIONAL}
    metadata = obj.get("metadata")
    name = metadata.get("name") if type(metadata) is dict else None
    station = Station(
        id=CITY_PREFIX + station_id,
        name=name if type(name) is str and name.strip() else station_id,
        latitude=numbers.pop("latitude"),
        longitude=numbers.pop("longitude"),
    )
    record = records.make_record(
        city=station, timestamp=_timestamp(obj.get("timestamp"), now or datetime.now(UTC)), source="station",
        **numbers, **optional,
    )
    record.update(schema_version=2, station_id=station_id, sender=sender, metadata=metadata)
    del record["country"]
    return records.validate(record)


def _station_id(given: object, expected: str | None, authority: str) -> str:
    if given is None:
        given = expected
        if given is None:
            raise InvalidRecord(f"missing field 'station_id' (and the {authority} names no station)")
    if type(given) is not str or not SLUG.ok(given):
        raise InvalidRecord(f"station_id must be a lowercase slug like 'ws-0042', got {given!r}")
    if expected is not None and expected != given:
        raise InvalidRecord(f"station_id {given!r} does not match the {authority}'s station {expected!r}")
    return given


def _number(obj: dict, name: str, required: bool) -> float | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise InvalidRecord(f"missing field '{name}'")
        return None
    if type(value) is not int and type(value) is not float:
        raise InvalidRecord(f"{name} must be a number, got {type_name(value)}")
    return value


def _timestamp(value: object, now: datetime) -> datetime:
    if type(value) is int or type(value) is float:
        try:
            moment = datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise InvalidRecord(f"timestamp {value!r} is not a time") from None
    elif type(value) is str:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidRecord(f"timestamp must be ISO-8601 like 2026-12-06T20:00:00Z, got {value!r}") from None
        if moment.tzinfo is None:
            raise InvalidRecord(f"timestamp {value!r} has no UTC offset (add Z or +hh:mm)")
        moment = moment.astimezone(UTC)
    elif value is None:
        raise InvalidRecord("missing field 'timestamp'")
    else:
        raise InvalidRecord(f"timestamp must be a string or a number, got {type_name(value)}")
    if moment - now > MAX_FUTURE:
        raise InvalidRecord(f"timestamp {records.format_timestamp(moment)} is {moment - now} ahead of the receiving "
                            "clock (the station's clock is wrong)")
    return moment
