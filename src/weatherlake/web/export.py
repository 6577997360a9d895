"""``GET /api/export/observations``: every raw record, exactly once, for ELT tools.

A client pages from no cursor to the end (``has_more`` false), keeps the last
``next_cursor``, and on its next run asks with it for what is new. The order, and what a
cursor means, is :mod:`weatherlake.lake.export`'s: per lake partition, by window, and
unchanged by compaction. A cursor is opaque (base64url JSON: the next position per
partition); each record also carries ``_partition`` and ``_position``, so a tool that keeps
one integer per stream (Airbyte's ``IncrementingCountCursor``) asks with ``partition``
and ``after`` instead (docs/elt.md).

``Authorization: Bearer <token>`` names the client (``EXPORT_TOKENS``, a file of
``<client> <token>`` lines); each client may make ``EXPORT_RATE_PER_MINUTE`` requests a
minute (per web worker).
"""

from __future__ import annotations

import base64
import binascii
import logging
import re

import orjson
from flask import Response, current_app, request

from weatherlake.config import Settings
from weatherlake.lake.export import Exporter
from weatherlake.stations.tokens import digest, load_tokens
from weatherlake.web.api import api, settings, store
from weatherlake.web.cache import BoundedCache
from weatherlake.web.ingest import RateLimit
from weatherlake.web.params import ApiError, Param, parse_args

log = logging.getLogger(__name__)

#: Indexes and lines of segments kept between pages (per web worker).
CACHE_BYTES = 32 * 1024 * 1024
PARTITION = r"[A-Za-z0-9._-]{1,249}\+\d{1,9}"
_CURSOR = re.compile(r"[A-Za-z0-9_-]{1,4000}")

PARAMS = (
    Param("cursor", "pattern", "The `next_cursor` of the previous page; leave out to start from the beginning.",
          pattern=_CURSOR.pattern),
    Param("limit", "int", "Most records returned.", default=1000, minimum=1, maximum=10_000),
    Param("partition", "pattern", "Only this lake partition (`<topic>+<n>`, a record's `_partition`); with `after`.",
          pattern=PARTITION),
    Param("after", "int", "With `partition`: records after this `_position` (-1: from the beginning).",
          minimum=-1, maximum=10**18),
)


def export_observations():
    client = _authorize()
    args = parse_args(PARAMS, request.args)
    config = settings()
    wait = _state()["rate"].take(client, 1)
    if wait:
        raise ApiError(429, "rate_limited", f"client {client} may make {config.export_rate_per_minute} export "
                       f"requests a minute; retry in {wait:.0f} s", headers={"Retry-After": str(max(1, round(wait)))})
    only = args["partition"]
    if args["cursor"] is not None and only is not None:
        raise ApiError(400, "invalid_parameter", "give cursor or partition (with after), not both")
    if (args["after"] is None) != (only is None):
        raise ApiError(400, "invalid_parameter", "partition and after go together")
    positions = {only: args["after"] + 1} if only is not None else decode_cursor(args["cursor"])
    page = _state()["exporter"].page(positions, args["limit"], only)
    log.debug("export: %d records for client %s", len(page.records), client)
    return Response(_body(page), mimetype="application/json")


api.add_url_rule("/export/observations", view_func=export_observations, methods=["GET"])


def make_state(config: Settings) -> dict:
    """The export clients' tokens, their rate limit and the exporter, made when the app is."""
    tokens = load_tokens(config.export_tokens, "EXPORT_TOKENS", "client") if config.export_tokens else None
    return {"tokens": tokens, "rate": RateLimit(config.export_rate_per_minute), "exporter": None}


def encode_cursor(positions: dict[str, int]) -> str:
    data = orjson.dumps({"v": 1, "positions": positions}, option=orjson.OPT_SORT_KEYS)
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def decode_cursor(cursor: str | None) -> dict[str, int]:
    if cursor is None:
        return {}
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        positions = data["positions"] if isinstance(data, dict) and data.get("v") == 1 else None
    except (binascii.Error, ValueError, KeyError):
        positions = None
    if not isinstance(positions, dict) or not all(
            isinstance(key, str) and re.fullmatch(PARTITION, key) and type(value) is int and value >= 0
            for key, value in positions.items()):
        raise ApiError(400, "invalid_parameter", "cursor is not one this API gave (use next_cursor as it is)")
    return positions


def _state() -> dict:
    state = current_app.extensions["weatherlake"]["export"]
    if state["exporter"] is None:
        lake_store = store()
        state["exporter"] = Exporter(lambda: lake_store.lake, BoundedCache(CACHE_BYTES))
    return state


def _authorize() -> str:
    tokens = _state()["tokens"]
    if tokens is None:
        raise ApiError(403, "export_disabled", "the export is disabled: set EXPORT_TOKENS on the server")
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    client = tokens.get(digest(credentials.strip())) if scheme.lower() == "bearer" else None
    if client is None:
        raise ApiError(401, "unauthorized", "an export client's Authorization: Bearer token is required")
    return client


def _body(page) -> bytes:
    """The page as JSON; each record's line is spliced in as it is, after its two export fields."""
    parts = [b'{"_partition":%s,"_position":%d,%s' % (orjson.dumps(r.partition), r.position, r.line[1:])
             for r in page.records]
    head = orjson.dumps({"count": len(parts), "has_more": page.more, "next_cursor": encode_cursor(page.positions)})
    return head[:-1] + b',"records":[' + b",".join(parts) + b"]}"
