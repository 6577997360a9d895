"""The record's schemas, declared once: every field with its kind, range and presence.

Two versions are current, and every reader accepts both (:data:`SCHEMAS`):

* **1** (:data:`SCHEMA`), an observation of a catalogue city from a weather source;
* **2** (:data:`SCHEMA_V2`), a reading a weather station pushed: version 1's fields, with
  ``country`` optional (a station knows its position, not its country), plus the
  station's ``station_id``, the ``sender`` it came through and its own ``metadata``.

Neither accepts a field it does not declare. Both checks in
:mod:`weatherlake.records.validation` are derived from these tables: the msgspec types
the sink decodes bytes into, and the explaining check that names the reason a record is
refused. Each kind below holds its rule, its msgspec type and its reason side by side,
so the two cannot drift apart. The batch layer reads its plausible ranges from
:data:`RANGES` (the same in both versions).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

import msgspec

SCHEMA_VERSION = 1

_TYPE_NAMES = {bool: "boolean", str: "string", int: "number", float: "number", list: "array", dict: "object"}


def type_name(value: object) -> str:
    """The JSON name of a decoded value's type, as reasons give it."""
    if value is None:
        return "null"
    return _TYPE_NAMES.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class Number:
    """An int or a float (never a bool) within ``low..high``, inclusive."""

    low: float
    high: float

    @property
    def annotation(self) -> object:
        return Annotated[float, msgspec.Meta(ge=self.low, le=self.high)]

    def problem(self, name: str, value: object) -> str | None:
        if type(value) is not float and type(value) is not int:
            return f"{name} must be a number, got {type_name(value)}"
        if not self.low <= value <= self.high:
            return f"{name} {value!r} out of range {self.low:g}..{self.high:g}"
        return None


@dataclass(frozen=True)
class Version:
    """Exactly the int ``value``."""

    value: int

    @property
    def annotation(self) -> object:
        return Literal[self.value]

    def problem(self, name: str, value: object) -> str | None:
        if type(value) is not int or value != self.value:
            return f"{name} must be {self.value}, got {value!r}"
        return None


class StringKind(ABC):
    """A string kind: msgspec checks the type, :meth:`ok` the text."""

    annotation = str

    @abstractmethod
    def ok(self, text: str) -> bool: ...

    @abstractmethod
    def reason(self, name: str, text: str) -> str: ...

    def problem(self, name: str, value: object) -> str | None:
        if type(value) is not str:
            return f"{name} must be a string, got {type_name(value)}"
        return None if self.ok(value) else self.reason(name, value)


class Text(StringKind):
    """Any string with something in it besides whitespace."""

    def ok(self, text: str) -> bool:
        return bool(text) and not text.isspace()

    def reason(self, name: str, text: str) -> str:
        return f"{name} must not be empty"


class Code(StringKind):
    """A string matching ``pattern`` in full; ``like`` says what that is, for the reason."""

    def __init__(self, pattern: str, like: str) -> None:
        self._match = re.compile(pattern).fullmatch
        self.like = like

    def ok(self, text: str) -> bool:
        return self._match(text) is not None

    def reason(self, name: str, text: str) -> str:
        return f"{name} must be {self.like}, got {text!r}"


_DATE_TIME = re.compile(
    r"([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
).fullmatch
_DAYS_IN_MONTH = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_FRACTION = re.compile(r"\.[0-9]{1,6}Z").fullmatch
_GOOD_DATE_TIMES: set[str] = set()


class Timestamp(StringKind):
    """ISO-8601 UTC, ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``, on a day that exists: a date-time
    part of 19 characters, then ``Z`` or a :attr:`fraction`.

    Date-time parts repeat (per hour, or per second), so those found good are remembered
    in :attr:`good_date_times`, for every timestamp field.
    """

    good_date_times: ClassVar[set[str]] = _GOOD_DATE_TIMES
    fraction = _FRACTION

    def ok(self, text: str) -> bool:
        date_time = text[:19]
        if date_time not in _GOOD_DATE_TIMES:
            if not _real_date_time(date_time):
                return False
            if len(_GOOD_DATE_TIMES) >= 100_000:
                _GOOD_DATE_TIMES.clear()
            _GOOD_DATE_TIMES.add(date_time)
        return text[19:] == "Z" or _FRACTION(text, 19) is not None

    def reason(self, name: str, text: str) -> str:
        return f"{name} must be ISO-8601 UTC like 2026-11-23T14:00:00Z, got {text!r}"


def _real_date_time(text: str) -> bool:
    """Whether ``text`` is ``YYYY-MM-DDTHH:MM:SS`` on a day that exists in its month."""
    match = _DATE_TIME(text)
    if match is None:
        return False
    month, day = int(match[2]), int(match[3])
    if day <= 28:
        return True
    if day > _DAYS_IN_MONTH[month]:
        return False
    if month == 2 and day == 29:
        year = int(match[1])
        return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return True


@dataclass(frozen=True)
class Metadata:
    """A flat JSON object of at most :attr:`max_keys` short names to scalars (short
    strings, numbers, booleans, null): what a station says about itself."""

    max_keys: int = 32
    max_text: int = 256

    @property
    def annotation(self) -> object:
        key = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
        text = Annotated[str, msgspec.Meta(max_length=self.max_text)]
        return Annotated[dict[key, text | int | float | bool | None], msgspec.Meta(max_length=self.max_keys)]

    def problem(self, name: str, value: object) -> str | None:
        if type(value) is not dict:
            return f"{name} must be an object, got {type_name(value)}"
        if len(value) > self.max_keys:
            return f"{name} has {len(value)} keys, at most {self.max_keys} are allowed"
        for key, item in value.items():
            if not 1 <= len(key) <= 64:
                return f"{name} key {key[:70]!r} must be 1-64 characters"
            if type(item) is str and len(item) > self.max_text:
                return f"{name}.{key} is longer than {self.max_text} characters"
            if item is not None and type(item) not in (str, int, float, bool):
                return f"{name}.{key} must be a string, number, boolean or null, got {type_name(item)}"
        return None


@dataclass(frozen=True)
class Field:
    """One field of the record: absent or null is allowed only when not ``required``."""

    name: str
    kind: Number | Version | Text | Code | Timestamp | Metadata
    required: bool = True


TEXT = Text()
TIMESTAMP = Timestamp()
SLUG = Code(r"[a-z0-9]+(?:-[a-z0-9]+)*", "a lowercase slug like 'london-gb'")
COUNTRY = Code(r"[A-Z]{2}", "an ISO 3166 alpha-2 code like 'GB'")

#: Schema v1, in the order records are built and written. Ranges bound what the Earth has
#: measured, with a margin; the derived fields' ranges are looser.
SCHEMA: tuple[Field, ...] = (
    Field("schema_version", Version(SCHEMA_VERSION)),
    Field("city_id", SLUG),
    Field("city", TEXT),
    Field("country", COUNTRY),
    Field("latitude", Number(-90, 90)),
    Field("longitude", Number(-180, 180)),
    Field("timestamp", TIMESTAMP),
    Field("ingested_at", TIMESTAMP),
    Field("source", TEXT),
    Field("temperature", Number(-90, 60)),
    Field("feels_like", Number(-120, 90)),
    Field("humidity", Number(0, 100)),
    Field("pressure", Number(850, 1100)),
    Field("wind_speed", Number(0, 120)),
    Field("wind_direction", Number(0, 360), required=False),
    Field("cloudiness", Number(0, 100), required=False),
    Field("rainfall", Number(0, 500)),
    Field("weather_main", TEXT, required=False),
    Field("weather_description", TEXT, required=False),
    Field("dew_point", Number(-120, 60), required=False),
    Field("heat_index", Number(-90, 100), required=False),
    Field("wind_chill", Number(-120, 60), required=False),
)

#: Schema v2, a station's reading: v1 with ``country`` optional, then the station's own fields.
SCHEMA_V2: tuple[Field, ...] = (
    Field("schema_version", Version(2)),
    *(Field(f.name, f.kind, required=False) if f.name == "country" else f for f in SCHEMA[1:]),
    Field("station_id", SLUG),
    Field("sender", TEXT, required=False),
    Field("metadata", Metadata(), required=False),
)

#: Every current schema by its ``schema_version``.
SCHEMAS: dict[int, tuple[Field, ...]] = {1: SCHEMA, 2: SCHEMA_V2}

FIELDS: tuple[str, ...] = tuple(field.name for field in SCHEMA)
REQUIRED_FIELDS: tuple[str, ...] = tuple(field.name for field in SCHEMA if field.required)
#: ``(low, high)`` of every number field, inclusive.
RANGES: dict[str, tuple[float, float]] = {
    field.name: (field.kind.low, field.kind.high) for field in SCHEMA if isinstance(field.kind, Number)
}
