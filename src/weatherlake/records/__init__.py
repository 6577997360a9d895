"""Observation records, schema versions 1 and 2: build, validate, encode, parse.

A record is a plain ``dict`` (what ``orjson`` decodes and encodes fastest). The fields,
types and units below are the record's contract (docs/architecture.md refers here); the
rules themselves are declared once, in :data:`~weatherlake.records.schema.SCHEMA`:

* required: ``schema_version`` (1), ``city_id`` (slug), ``city``, ``country`` (ISO
  alpha-2), ``latitude``, ``longitude``, ``timestamp``, ``ingested_at`` (ISO-8601 UTC
  ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``), ``source``, ``temperature``, ``feels_like`` (°C),
  ``humidity`` (%), ``pressure`` (hPa, sea level), ``wind_speed`` (m/s), ``rainfall``
  (mm in the last hour);
* optional, absent or null: ``wind_direction``, ``cloudiness``, ``weather_main``,
  ``weather_description``, and the derived ``dew_point``, ``heat_index``, ``wind_chill``.

Schema version 2 is a weather station's reading (``weatherlake bridge mqtt``): the same
fields with ``country`` optional, plus ``station_id`` (slug, required), ``sender`` (who
passed it on, e.g. ``mqtt``) and ``metadata`` (a flat object the station sends about
itself). Every reader accepts both versions. Unknown fields are rejected: a record with
more fields than its version declares is refused.

:func:`make_record` builds a record from provider values without judging them, so a
producer can route an implausible observation to the dead-letter topic with the reason
:func:`validate` gives. The modules: ``schema`` (the fields and their rules),
``validation`` (the fast check and the explaining check derived from them, parse and
encode), ``build`` (:func:`make_record` and the derived metrics), ``timestamps``.
"""

from weatherlake.errors import InvalidRecord
from weatherlake.records.build import dew_point, heat_index, make_record, wind_chill
from weatherlake.records.schema import FIELDS, RANGES, REQUIRED_FIELDS, SCHEMA, SCHEMA_V2, SCHEMA_VERSION, SCHEMAS
from weatherlake.records.timestamps import format_timestamp, utc_now_text
from weatherlake.records.validation import encode, explain, parse, validate, validated_date

__all__ = [
    "FIELDS",
    "RANGES",
    "REQUIRED_FIELDS",
    "SCHEMA",
    "SCHEMAS",
    "SCHEMA_V2",
    "SCHEMA_VERSION",
    "InvalidRecord",
    "dew_point",
    "encode",
    "explain",
    "format_timestamp",
    "heat_index",
    "make_record",
    "parse",
    "utc_now_text",
    "validate",
    "validated_date",
    "wind_chill",
]
