"""Validation: a fast check and an explaining check, both derived from the schema.

The sink checks every message and the producer every record, so answers come from a fast
check: msgspec decodes into :data:`Observation`, one struct type generated from each
schema in :data:`~weatherlake.records.schema.SCHEMAS` and chosen by ``schema_version``
(types, ranges, presence, unknown fields, all in C), and the strings are then checked by their kinds' own rules. Only when the fast
check says no does :func:`explain` walk the same schema, to name the reason, or to accept
what the fast check is too strict for (a JSON object that repeats a key: the last value
counts). Every reason a record is refused with therefore comes from :func:`explain`.
"""

from __future__ import annotations

import operator
from typing import Union

import msgspec
import orjson

from weatherlake.errors import InvalidRecord
from weatherlake.records.schema import SCHEMAS, TIMESTAMP, Field, StringKind, type_name


def _struct(version: int, schema: tuple[Field, ...]) -> type[msgspec.Struct]:
    """The msgspec type of one schema version, tagged by its ``schema_version``."""
    return msgspec.defstruct(
        f"ObservationV{version}",
        [
            (field.name, field.kind.annotation) if field.required else (field.name, field.kind.annotation | None, None)
            for field in schema[1:]  # schema_version is the tag
        ],
        kw_only=True,
        forbid_unknown_fields=True,
        gc=False,
        tag_field="schema_version",
        tag=version,
    )


_STRUCTS = {version: _struct(version, schema) for version, schema in SCHEMAS.items()}
#: Any current version; msgspec picks the struct by ``schema_version``.
Observation = Union[tuple(_STRUCTS.values())]  # noqa: UP007 (a union built at run time)
_decode = msgspec.json.Decoder(Observation).decode
_KNOWN = {version: frozenset(field.name for field in schema) for version, schema in SCHEMAS.items()}
_VERSIONS = " or ".join(str(version) for version in SCHEMAS)


def validate(obj: object) -> dict:
    """Check ``obj`` against its schema version and return it; raise :class:`InvalidRecord` if not.

    The reason names the field, e.g. ``"humidity 140.0 out of range 0..100"``.
    """
    try:
        record = msgspec.convert(obj, Observation)
    except msgspec.ValidationError:
        record = None
    if record is None or not _strings_ok(record):
        explain(obj)
    return obj


def validated_date(value: bytes) -> str:
    """Check one message value as :func:`parse` does; return its observation date (UTC).

    The sink's check: it keeps the bytes as they came and needs only the date, so the
    value is decoded into :data:`Observation`, at half the cost of a dict.
    """
    try:
        record = _decode(value)
    except (msgspec.DecodeError, ValueError, TypeError):  # not JSON, no current schema, not bytes
        return parse(value)["timestamp"][:10]
    if _strings_ok(record):
        return record.timestamp[:10]
    return parse(value)["timestamp"][:10]


def parse(value: bytes) -> dict:
    """Decode one message value and validate it; raise :class:`InvalidRecord` with the reason."""
    return validate(decode_object(value))


def decode_object(value: bytes) -> dict:
    """One JSON object from ``value``; :class:`InvalidRecord` if it is not JSON or not an object."""
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise InvalidRecord(f"not valid JSON: {exc}") from None
    if type(obj) is not dict:
        raise InvalidRecord(f"not valid JSON: expected an object, got {type_name(obj)}")
    return obj


def encode(record: dict) -> bytes:
    """Compact one-line UTF-8 JSON, no trailing newline."""
    return orjson.dumps(record)


def explain(obj: object) -> None:
    """The explaining check: raise :class:`InvalidRecord` with the first reason ``obj``
    is not a record of its schema version, in schema order; return if it is one."""
    if type(obj) is not dict:
        raise InvalidRecord(f"record must be a JSON object, got {type_name(obj)}")
    version = obj.get("schema_version")
    if version is None:
        raise InvalidRecord("field 'schema_version' must not be null" if "schema_version" in obj
                            else "missing field 'schema_version'")
    schema = SCHEMAS.get(version) if type(version) is int else None
    if schema is None:
        raise InvalidRecord(f"schema_version must be {_VERSIONS}, got {version!r}")
    present = 1
    for field in schema[1:]:
        value = obj.get(field.name)
        if value is None:
            if field.name in obj:
                present += 1
                if field.required:
                    raise InvalidRecord(f"field '{field.name}' must not be null")
            elif field.required:
                raise InvalidRecord(f"missing field '{field.name}'")
            continue
        present += 1
        reason = field.kind.problem(field.name, value)
        if reason is not None:
            raise InvalidRecord(reason)
    if len(obj) != present:
        unknown = sorted(str(key) for key in obj if key not in _KNOWN[version])
        raise InvalidRecord(f"unexpected field '{unknown[0]}' (schema version {version})")


# The strings of a struct msgspec accepted: types, presence and nulls are settled, only
# the text is left. Answers found before are looked up first; each kind's rule decides
# the rest. Required timestamps are looked up one by one, by their date-time part (see
# Timestamp). The other strings are looked up together, as a tuple: they repeat from
# record to record as a whole (one city, one source, a few descriptions).


def _values_getter(fields: tuple[Field, ...]):
    """A function of a struct returning the values of ``fields`` as a tuple."""
    get = operator.attrgetter(*(f.name for f in fields))
    return get if len(fields) > 1 else lambda record: (get(record),)  # attrgetter of one name: the bare value


class _Strings:
    """The string checks of one schema version's struct."""

    def __init__(self, schema: tuple[Field, ...]) -> None:
        timestamps = tuple(f for f in schema if f.kind is TIMESTAMP and f.required)
        self.timestamps = _values_getter(timestamps)
        self.others = tuple(f for f in schema if isinstance(f.kind, StringKind) and f not in timestamps)
        self.other_values = _values_getter(self.others)
        self.good: set[tuple] = set()

    def ok(self, record) -> bool:
        for text in self.timestamps(record):
            unknown = text[:19] not in _good_date_times or (text[19:] != "Z" and _fraction(text, 19) is None)
            if unknown and not TIMESTAMP.ok(text):
                return False
        values = self.other_values(record)
        return values in self.good or self._remember(values)

    def _remember(self, values: tuple) -> bool:
        """Whether each of ``values`` passes its kind's rule; remember the tuple if so."""
        for field, value in zip(self.others, values, strict=True):
            if value is not None and not field.kind.ok(value):
                return False
        if len(self.good) >= 100_000:
            self.good.clear()
        self.good.add(values)
        return True


_good_date_times = TIMESTAMP.good_date_times
_fraction = TIMESTAMP.fraction
_STRINGS = {_STRUCTS[version]: _Strings(schema) for version, schema in SCHEMAS.items()}


def _strings_ok(record) -> bool:
    return _STRINGS[type(record)].ok(record)
