"""Observation record, schema version 1: build, validate, encode, parse.

A record is a plain ``dict`` (what ``orjson`` decodes and encodes fastest). The fields,
types and units below are the record's contract (docs/architecture.md refers here):

* required: ``schema_version`` (1), ``city_id`` (slug), ``city``, ``country`` (ISO
  alpha-2), ``latitude``, ``longitude``, ``timestamp``, ``ingested_at`` (ISO-8601 UTC
  ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``), ``source``, ``temperature``, ``feels_like`` (°C),
  ``humidity`` (%), ``pressure`` (hPa, sea level), ``wind_speed`` (m/s), ``rainfall``
  (mm in the last hour);
* optional, absent or null: ``wind_direction``, ``cloudiness``, ``weather_main``,
  ``weather_description``, and the derived ``dew_point``, ``heat_index``, ``wind_chill``.

Unknown fields are rejected: a record with more fields is a different schema version.

:func:`make_record` builds a record from provider values without judging them, so a
producer can route an implausible observation to the dead-letter topic with the reason
:func:`validate` gives. The sink validates every message, so the checks have a fast path:
``msgspec`` checks types, ranges and presence in C against a type generated from the
field rules, and a generated straight-line check does the strings (see
:func:`_compile_strings_check`). Only when the fast path says no does the table-driven
:func:`_explain` run, to name the reason or to accept what the fast path is too strict
for (a JSON object that repeats a key)."""

from __future__ import annotations

import math
import operator
import re
import time
from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec
import orjson

from weatherlake.errors import InvalidRecord

SCHEMA_VERSION = 1

_DATE_TIME_PATTERN = r"([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
_DATE_TIME = re.compile(_DATE_TIME_PATTERN).fullmatch
_TIMESTAMP = re.compile(_DATE_TIME_PATTERN + r"(?:\.[0-9]{1,6})?Z").fullmatch
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*").fullmatch
_COUNTRY = re.compile(r"[A-Z]{2}").fullmatch
_DAYS_IN_MONTH = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

# Field rules: (name, kind, required, low, high). Kinds: "num" (int or float, never bool),
# "str" (non-empty), "ts" (ISO-8601 UTC with Z), "slug", "country", "version".
# Ranges bound what the Earth has measured, with a margin; derived fields are looser.
_NUM, _STR, _TS, _SLUG_KIND, _COUNTRY_KIND, _VERSION = range(6)
_RULES: tuple[tuple[str, int, bool, float, float], ...] = (
    ("schema_version", _VERSION, True, 0, 0),
    ("city_id", _SLUG_KIND, True, 0, 0),
    ("city", _STR, True, 0, 0),
    ("country", _COUNTRY_KIND, True, 0, 0),
    ("latitude", _NUM, True, -90, 90),
    ("longitude", _NUM, True, -180, 180),
    ("timestamp", _TS, True, 0, 0),
    ("ingested_at", _TS, True, 0, 0),
    ("source", _STR, True, 0, 0),
    ("temperature", _NUM, True, -90, 60),
    ("feels_like", _NUM, True, -120, 90),
    ("humidity", _NUM, True, 0, 100),
    ("pressure", _NUM, True, 850, 1100),
    ("wind_speed", _NUM, True, 0, 120),
    ("wind_direction", _NUM, False, 0, 360),
    ("cloudiness", _NUM, False, 0, 100),
    ("rainfall", _NUM, True, 0, 500),
    ("weather_main", _STR, False, 0, 0),
    ("weather_description", _STR, False, 0, 0),
    ("dew_point", _NUM, False, -120, 60),
    ("heat_index", _NUM, False, -90, 100),
    ("wind_chill", _NUM, False, -120, 60),
)
FIELDS: tuple[str, ...] = tuple(rule[0] for rule in _RULES)
REQUIRED_FIELDS: tuple[str, ...] = tuple(rule[0] for rule in _RULES if rule[2])
_KNOWN = frozenset(FIELDS)
_TYPE_NAMES = {bool: "boolean", str: "string", int: "number", float: "number", list: "array", dict: "object"}


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _range_text(low: float, high: float) -> str:
    return f"{low:g}..{high:g}"


def validate(obj: object) -> dict:
    """Check ``obj`` against schema v1 and return it; raise :class:`InvalidRecord` if not.

    The reason names the field, e.g. ``"humidity 140.0 out of range 0..100"``.
    """
    if not _fast_valid(obj):
        _explain(obj)  # names the reason, or accepts what the fast path was too strict for
    return obj


def _fast_valid(obj: object) -> bool:
    """Whether the fast path accepts ``obj``; False leaves the answer to :func:`_explain`."""
    try:
        return _strings_ok(msgspec.convert(obj, _Observation))
    except msgspec.ValidationError:
        return False


def _explain(obj: object) -> None:
    """The slow, thorough check: raise InvalidRecord with the first reason found."""
    if type(obj) is not dict:
        raise InvalidRecord(f"record must be a JSON object, got {_type_name(obj)}")
    get = obj.get
    seen = 0
    for name, kind, required, low, high in _RULES:
        value = get(name)
        if value is None:
            if name in obj:
                seen += 1
                if required:
                    raise InvalidRecord(f"field '{name}' must not be null")
            elif required:
                raise InvalidRecord(f"missing field '{name}'")
            continue
        seen += 1
        vtype = type(value)
        if kind == _NUM:
            if vtype is not float and vtype is not int:
                raise InvalidRecord(f"{name} must be a number, got {_type_name(value)}")
            if not low <= value <= high:
                raise InvalidRecord(f"{name} {value!r} out of range {_range_text(low, high)}")
        elif kind == _VERSION:
            if vtype is not int or value != SCHEMA_VERSION:
                raise InvalidRecord(f"schema_version must be {SCHEMA_VERSION}, got {value!r}")
        elif vtype is not str:
            raise InvalidRecord(f"{name} must be a string, got {_type_name(value)}")
        elif kind == _STR:
            if not value or value.isspace():
                raise InvalidRecord(f"{name} must not be empty")
        elif kind == _TS:
            match = _TIMESTAMP(value)
            if match is None or not _real_date(match):
                raise InvalidRecord(f"{name} must be ISO-8601 UTC like 2026-11-23T14:00:00Z, got {value!r}")
        elif kind == _SLUG_KIND:
            if _SLUG(value) is None:
                raise InvalidRecord(f"city_id must be a lowercase slug like 'london-gb', got {value!r}")
        elif _COUNTRY(value) is None:
            raise InvalidRecord(f"country must be an ISO 3166 alpha-2 code like 'GB', got {value!r}")
    if len(obj) != seen:
        unknown = sorted(str(key) for key in obj if key not in _KNOWN)
        raise InvalidRecord(f"unexpected field '{unknown[0]}' (schema version {SCHEMA_VERSION})")


def _struct_type() -> type:
    """The ``msgspec`` type of a record, generated from ``_RULES``: each field's JSON type
    (a number is an int or a float, never a bool), range, and whether it may be absent or
    null; unknown fields are refused. Strings are checked by :func:`_strings_ok`: msgspec
    runs a pattern through Python's ``re``, ~0.6 us a field, where remembered answers cost
    a set lookup."""
    fields = []
    for name, kind, required, low, high in _RULES:
        if kind == _NUM:
            field_type = Annotated[float, msgspec.Meta(ge=low, le=high)]
        elif kind == _VERSION:
            field_type = Literal[SCHEMA_VERSION]
        else:
            field_type = str
        fields.append((name, field_type) if required else (name, field_type | None, None))
    return msgspec.defstruct("Observation", fields, kw_only=True, forbid_unknown_fields=True, gc=False)


def _compile_strings_check():
    """Generate the True/False check of a decoded record's strings.

    A straight-line function over the string fields, generated from ``_RULES`` so it
    cannot drift from :func:`_explain`; checks of strings that repeat (city ids,
    countries, the date-time part of timestamps) are remembered. It answers only
    True/False; :func:`_explain` finds the reason.
    """
    rules = [rule for rule in _RULES if rule[1] not in (_NUM, _VERSION)]
    names = [f"v{i}" for i in range(len(rules))]
    body = [f"{', '.join(names)}, = _get_strings(record)"]
    for var, (_name, kind, required, _low, _high) in zip(names, rules, strict=True):
        if kind == _STR:
            check = f"not {var} or {var}.isspace()"
        elif kind == _SLUG_KIND:
            check = f"{var} not in _slugs and not _remember(_slugs, {var}, _SLUG)"
        elif kind == _COUNTRY_KIND:
            check = f"{var} not in _countries and not _remember(_countries, {var}, _COUNTRY)"
        else:  # _TS: the date-time part repeats (per hour, or per second); the rest is short
            check = (
                f"({var}[:19] not in _datetimes and not _remember(_datetimes, {var}[:19], _date_time_ok))"
                f" or ({var}[19:] != 'Z' and _FRACTION({var}, 19) is None)"
            )
        if not required:
            check = f"{var} is not None and ({check})"
        body += [f"if {check}:", "    return False"]
    body.append("return True")
    source = "def _strings_ok(record):\n" + "".join(f"    {line}\n" for line in body)
    namespace = {
        "_get_strings": operator.attrgetter(*(rule[0] for rule in rules)),
        "_slugs": set(),
        "_countries": set(),
        "_datetimes": set(),
        "_remember": _remember,
        "_date_time_ok": _date_time_ok,
        "_SLUG": _SLUG,
        "_COUNTRY": _COUNTRY,
        "_FRACTION": re.compile(r"\.[0-9]{1,6}Z").fullmatch,
    }
    exec(compile(source, "<weatherlake.records._strings_ok>", "exec"), namespace)
    return namespace["_strings_ok"]


def _remember(good: set[str], text: str, check) -> bool:
    """Run ``check`` on ``text``; remember it in ``good`` if it passed."""
    if not check(text):
        return False
    if len(good) >= 100_000:
        good.clear()
    good.add(text)
    return True


def _date_time_ok(text: str) -> bool:
    """Whether ``text`` is a real UTC ``YYYY-MM-DDTHH:MM:SS``."""
    match = _DATE_TIME(text)
    return match is not None and _real_date(match)


def _real_date(match: re.Match) -> bool:
    """Whether the day exists in that month (the regex already bounds it to 1..31)."""
    month = int(match[2])
    day = int(match[3])
    if day <= 28:
        return True
    if day > _DAYS_IN_MONTH[month]:
        return False
    if month == 2 and day == 29:
        year = int(match[1])
        return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return True


_Observation = _struct_type()
_decode = msgspec.json.Decoder(_Observation).decode
_strings_ok = _compile_strings_check()


def parse(value: bytes) -> dict:
    """Decode one message value and validate it; raise :class:`InvalidRecord` with the reason."""
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise InvalidRecord(f"not valid JSON: {exc}") from None
    if type(obj) is not dict:
        raise InvalidRecord(f"not valid JSON: expected an object, got {_type_name(obj)}")
    return validate(obj)


def validated_date(value: bytes) -> str:
    """Check one message value as :func:`parse` does; return its observation date (UTC).

    The sink's check: it keeps the bytes as they came and needs only the date, so the
    record is decoded into msgspec's struct, not a dict, at about half the cost.
    """
    date = _fast_date(value)
    return date if date is not None else parse(value)["timestamp"][:10]


def _fast_date(value: bytes) -> str | None:
    """The date of a record the fast path accepts; None where :func:`parse` must decide."""
    try:
        record = _decode(value)
    except (msgspec.DecodeError, ValueError, TypeError):  # not JSON, not schema v1, not bytes
        return None
    return record.timestamp[:10] if _strings_ok(record) else None


def encode(record: dict) -> bytes:
    """Compact one-line UTF-8 JSON, no trailing newline."""
    return orjson.dumps(record)


def observation_date(record: dict) -> str:
    """The UTC date (``YYYY-MM-DD``) of the observation: the lake's partition."""
    return record["timestamp"][:10]


def format_timestamp(moment: datetime) -> str:
    """ISO-8601 UTC with ``Z``; a naive datetime is taken to be UTC already.

    Memoised: a producer formats the same observation hour for every city.
    """
    text = _TIMESTAMP_TEXT.get(moment)
    if text is None:
        text = _format_timestamp(moment)
        if len(_TIMESTAMP_TEXT) >= 4096:
            _TIMESTAMP_TEXT.clear()
        _TIMESTAMP_TEXT[moment] = text
    return text


_TIMESTAMP_TEXT: dict[datetime, str] = {}


def _format_timestamp(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    text = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    return f"{text}.{moment.microsecond:06d}Z" if moment.microsecond else text + "Z"


_now_second = -1
_now_prefix = ""


def utc_now_text() -> str:
    """The current time as a schema timestamp with microseconds (cheap: cached per second)."""
    global _now_second, _now_prefix
    now = time.time()
    second = int(now)
    if second != _now_second:
        _now_prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _now_second = second
    return f"{_now_prefix}.{int((now - second) * 1e6):06d}Z"


def parse_timestamp(text: str) -> datetime:
    """The aware UTC datetime of a schema timestamp (``...Z``)."""
    return datetime.fromisoformat(text)


# --- derived metrics -------------------------------------------------------------------

_MAGNUS_B = 17.625
_MAGNUS_C = 243.04


def dew_point(t_c: float, rh: float) -> float | None:
    """Dew point in °C by the Magnus formula (Alduchov & Eskridge 1996 constants).

    None when the humidity is not positive (the logarithm has no value there).
    """
    if rh <= 0 or t_c <= -_MAGNUS_C:
        return None
    gamma = math.log(rh / 100.0) + _MAGNUS_B * t_c / (_MAGNUS_C + t_c)
    if gamma == _MAGNUS_B:
        return None
    return _MAGNUS_C * gamma / (_MAGNUS_B - gamma)


def heat_index(t_c: float, rh: float) -> float | None:
    """Heat index in °C by the US National Weather Service algorithm; None below 26.7 °C.

    Computed in °F as the NWS does: Steadman's simple formula when its average with the
    temperature is under 80 °F, else the Rothfusz regression with the NWS adjustments for
    very dry (RH < 13 %, 80..112 °F) and very humid (RH > 85 %, 80..87 °F) air.
    """
    t = t_c * 1.8 + 32.0
    if t < 80.0:
        return None
    hi = 0.5 * (t + 61.0 + (t - 68.0) * 1.2 + rh * 0.094)
    if (hi + t) * 0.5 >= 80.0:
        hi = (
            -42.379
            + 2.04901523 * t
            + 10.14333127 * rh
            - 0.22475541 * t * rh
            - 0.00683783 * t * t
            - 0.05481717 * rh * rh
            + 0.00122874 * t * t * rh
            + 0.00085282 * t * rh * rh
            - 0.00000199 * t * t * rh * rh
        )
        if rh < 13.0 and t <= 112.0:
            hi -= (13.0 - rh) * 0.25 * math.sqrt((17.0 - abs(t - 95.0)) / 17.0)
        elif rh > 85.0 and t <= 87.0:
            hi += (rh - 85.0) * 0.1 * (87.0 - t) * 0.2
    return (hi - 32.0) / 1.8


def wind_chill(t_c: float, wind_ms: float) -> float | None:
    """Wind chill in °C (NWS / Environment Canada 2001, wind in km/h at 10 m).

    None where the formula does not apply: above 10 °C or with wind at or below 4.8 km/h.
    """
    v = wind_ms * 3.6
    if t_c > 10.0 or v <= 4.8:
        return None
    p = v**0.16
    return 13.12 + 0.6215 * t_c - 11.37 * p + 0.3965 * t_c * p


def _round_or_keep(value: float) -> float:
    return round(value) if math.isfinite(value) else value


def make_record(
    city,
    timestamp: datetime,
    source: str,
    *,
    temperature: float,
    humidity: float,
    pressure: float,
    wind_speed: float,
    feels_like: float | None = None,
    wind_direction: float | None = None,
    cloudiness: float | None = None,
    rainfall: float | None = 0.0,
    weather_main: str | None = None,
    weather_description: str | None = None,
    ingested_at: datetime | None = None,
) -> dict:
    """Build a schema-v1 record for ``city`` (a :class:`~weatherlake.cities.City`).

    Values are rounded (0.01 for temperatures, wind and rain, 0.1 for humidity, pressure
    and angles) but never judged: call :func:`validate` before publishing. ``feels_like``
    defaults to the heat index, else the wind chill, else the temperature.
    """
    return build_record(
        city,
        format_timestamp(timestamp),
        utc_now_text() if ingested_at is None else format_timestamp(ingested_at),
        source,
        temperature,
        humidity,
        pressure,
        wind_speed,
        feels_like,
        wind_direction,
        cloudiness,
        rainfall,
        weather_main,
        weather_description,
    )


def build_record(
    city,
    timestamp: str,
    ingested_at: str,
    source: str,
    temperature: float,
    humidity: float,
    pressure: float,
    wind_speed: float,
    feels_like: float | None,
    wind_direction: float | None,
    cloudiness: float | None,
    rainfall: float | None,
    weather_main: str | None,
    weather_description: str | None,
) -> dict:
    """:func:`make_record` with positional arguments and timestamps already formatted.

    For bulk producers (synthetic history) that format one timestamp for many cities.
    """
    dp = dew_point(temperature, humidity)
    hi = heat_index(temperature, humidity)
    wc = wind_chill(temperature, wind_speed)
    if feels_like is None:
        feels_like = hi if hi is not None else wc if wc is not None else temperature
    # round() raises on NaN and infinity; a provider's garbage must still become a record
    # (validate rejects it with a reason), so retry with a rounding that passes it through.
    for r in (round, _round_or_keep):
        try:
            return {
                "schema_version": SCHEMA_VERSION,
                "city_id": city.id,
                "city": city.name,
                "country": city.country,
                "latitude": city.latitude,
                "longitude": city.longitude,
                "timestamp": timestamp,
                "ingested_at": ingested_at,
                "source": source,
                "temperature": r(temperature * 100) / 100,
                "feels_like": r(feels_like * 100) / 100,
                "humidity": r(humidity * 10) / 10,
                "pressure": r(pressure * 10) / 10,
                "wind_speed": r(wind_speed * 100) / 100,
                "wind_direction": None if wind_direction is None else r(wind_direction * 10) / 10,
                "cloudiness": None if cloudiness is None else r(cloudiness * 10) / 10,
                "rainfall": 0.0 if rainfall is None else r(rainfall * 100) / 100,
                "weather_main": weather_main or None,
                "weather_description": weather_description or None,
                "dew_point": None if dp is None else r(dp * 100) / 100,
                "heat_index": None if hi is None else r(hi * 100) / 100,
                "wind_chill": None if wc is None else r(wc * 100) / 100,
            }
        except (ValueError, OverflowError):
            continue
    raise AssertionError("unreachable")
