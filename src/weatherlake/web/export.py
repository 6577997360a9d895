"""``GET /api/export/observations`` and ``/api/export/<view>``: the lake for ELT tools.

A client pages from no cursor to the end (``has_more`` false), keeps the last
``next_cursor``, and on its next run asks with it for what is new. The order, and what a
cursor means, is :mod:`weatherlake.lake.export`'s: per lake partition, by window, and
unchanged by compaction. A cursor is opaque (base64url JSON: the next position per
partition); each record also carries ``_partition`` and ``_position``, so a tool that keeps
one integer per stream (Airbyte's ``IncrementingCountCursor``) asks with ``partition``
and ``after`` instead, and pages on with ``cursor`` (docs/elt.md).

A view is a snapshot that each batch run replaces: ``/api/export/<view>`` pages
through the run ``_LATEST`` names (rows in file order, the cursor a byte position in the
run's files, which never change), and a later request with the last cursor gives the
newer run, whole, when there is one (``replaces`` names the run it replaces), else
nothing. A run pruned while a client paged it is 410: start again without a cursor.

``Authorization: Bearer <token>`` names the client: ``WEATHERLAKE_API_TOKEN`` (client
``api``) or a token of the ``EXPORT_TOKENS`` file (``<client> <token>`` lines, one per ELT
tool); each client may make ``EXPORT_RATE_PER_MINUTE`` requests a minute (per web worker).
"""

from __future__ import annotations

import base64
import binascii
import re

import orjson
from flask import Response, current_app, request

from weatherlake.config import Settings
from weatherlake.errors import LakeError
from weatherlake.lake import Lake, join
from weatherlake.lake.export import Exporter
from weatherlake.speed.published import VIEWS, read_pointer
from weatherlake.stations.tokens import digest, load_tokens
from weatherlake.views import run_path
from weatherlake.web.api import api, settings, store
from weatherlake.web.cache import BoundedCache
from weatherlake.web.ingest import RateLimit
from weatherlake.web.params import ApiError, Param, parse_args

#: Indexes and lines of segments kept between pages (per web worker).
CACHE_BYTES = 32 * 1024 * 1024
#: Bytes of a view's file read at a time (a view's line is far shorter).
CHUNK = 1024 * 1024
PARTITION = r"[A-Za-z0-9._-]{1,249}\+\d{1,9}"
CURSOR = r"[A-Za-z0-9_-]{1,4000}"
RUN_ID = r"\d{8}T\d{6}Z-[0-9a-f]{4}"

LIMIT = Param("limit", "int", "Most records returned.", default=1000, minimum=1, maximum=10_000)
PARAMS = (
    Param("cursor", "pattern", "The `next_cursor` of the previous page; leave out to start from the beginning "
                               "(with `partition`: from `after`).",
          pattern=CURSOR),
    LIMIT,
    Param("partition", "pattern", "Only this lake partition (`<topic>+<n>`, a record's `_partition`); with `after`.",
          pattern=PARTITION),
    Param("after", "int", "With `partition`: records after this `_position` (-1: from the beginning).",
          minimum=-1, maximum=10**18),
)


VIEW_PARAMS = (
    Param("cursor", "pattern", "The `next_cursor` of the previous page; leave out to start with the newest run.",
          pattern=CURSOR),
    LIMIT,
)


def export_observations():
    args = _admit(PARAMS)
    only = args["partition"]
    if (args["after"] is None) != (only is None):
        raise ApiError(400, "invalid_parameter", "partition and after go together")
    positions = _observation_positions(args["cursor"])
    if only is not None:  # a cursor (the next page of the same sync) wins over after (where the sync began)
        positions = {only: positions[only] if only in positions else args["after"] + 1}
    page = _state()["exporter"].page(positions, args["limit"], only)
    parts = [b'{"_partition":%s,"_position":%d,%s' % (orjson.dumps(r.partition), r.position, r.line[1:])
             for r in page.records]  # each line spliced in as it is, after the two export fields
    head = {"count": len(parts), "has_more": page.more, "next_cursor": encode_cursor({"v": 1, "positions": page.positions})}
    return _page_response(head, parts)


def export_view(view: str):
    args = _admit(VIEW_PARAMS)
    if view not in VIEWS:
        raise ApiError(404, "not_found", f"no view {view!r}; the views are {', '.join(VIEWS)}")
    lake = store().lake
    cursor = _view_cursor(args["cursor"], view)
    latest = read_pointer(lake, view)
    replaces = None
    if cursor is None or (cursor["done"] and latest and latest.get("run_id") != cursor["run"]):
        if latest is None:
            raise ApiError(404, "not_published", f"{view} has no published run yet (run the batch jobs)")
        replaces = cursor["run"] if cursor else None
        cursor = {"v": 1, "view": view, "run": str(latest["run_id"]), "file": "", "byte": 0, "done": False}
    lines: list[bytes] = []
    if not cursor["done"]:
        try:
            lines, cursor["file"], cursor["byte"], cursor["done"] = _view_lines(
                lake, run_path(view, cursor["run"]), cursor["file"], cursor["byte"], args["limit"])
        except FileNotFoundError:
            raise ApiError(410, "run_gone", f"run {cursor['run']} of {view} was replaced and removed while it was "
                           "exported; start again without a cursor") from None
    head = {"view": view, "run_id": cursor["run"], "replaces": replaces, "count": len(lines),
            "has_more": not cursor["done"], "next_cursor": encode_cursor(cursor)}
    return _page_response(head, lines)


api.add_url_rule("/export/observations", view_func=export_observations, methods=["GET"])
api.add_url_rule("/export/<view>", view_func=export_view, methods=["GET"])  # after the rule above: observations is no view


def make_state(config: Settings) -> dict:
    """The export clients' tokens (digests), their rate limit and the exporter, made when the app is."""
    tokens = load_tokens(config.export_tokens, "EXPORT_TOKENS", "client") if config.export_tokens else {}
    if config.api_token:
        tokens[digest(config.api_token.reveal())] = "api"
    return {"tokens": tokens or None, "rate": RateLimit(config.export_rate_per_minute), "exporter": None}


def encode_cursor(content: dict) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> dict:
    """A cursor's content (version 1); a 400 for anything this API did not give."""
    try:
        content = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        content = None
    if not isinstance(content, dict) or content.get("v") != 1:
        raise _bad_cursor()
    return content


def _observation_positions(cursor: str | None) -> dict[str, int]:
    if cursor is None:
        return {}
    positions = decode_cursor(cursor).get("positions")
    if not isinstance(positions, dict) or not all(
            re.fullmatch(PARTITION, key) and type(value) is int and value >= 0 for key, value in positions.items()):
        raise _bad_cursor()
    return positions


def _view_cursor(cursor: str | None, view: str) -> dict | None:
    if cursor is None:
        return None
    content = decode_cursor(cursor)
    if content.get("view") != view:
        raise ApiError(400, "invalid_parameter", f"cursor is one of another view ({content.get('view')!r})")
    run, file, byte, done = (content.get(k) for k in ("run", "file", "byte", "done"))
    if not (isinstance(run, str) and re.fullmatch(RUN_ID, run) and isinstance(file, str)
            and (file == "" or re.fullmatch(r"part-[A-Za-z0-9._-]+", file)) and type(byte) is int and byte >= 0
            and type(done) is bool):
        raise _bad_cursor()
    return content


def _bad_cursor() -> ApiError:
    return ApiError(400, "invalid_parameter", "cursor is not one this API gave (use next_cursor as it is)")


def _view_lines(lake: Lake, directory: str, file: str, byte: int, limit: int) -> tuple[list[bytes], str, int, bool]:
    """Up to ``limit`` rows of a run from (file, byte) on; (rows, file, byte after them, whether the run ended).

    ``FileNotFoundError`` when the run is gone.
    """
    if not lake.exists(directory):
        raise FileNotFoundError(directory)
    sizes = {name: size for name, size in lake.sizes(directory).items() if name.startswith("part-")}
    lines: list[bytes] = []
    for name in sorted(n for n in sizes if n >= file):
        start, size = (byte if name == file else 0), sizes[name]
        while start < size and len(lines) < limit:
            chunk = lake.read_range(join(directory, name), start, min(CHUNK, size - start))
            if start + len(chunk) < size:
                chunk = chunk[:chunk.rfind(b"\n") + 1]
                if not chunk:
                    raise LakeError(f"a line of {join(directory, name)} is over {CHUNK} bytes")
            for line in chunk.splitlines(keepends=True):
                if len(lines) == limit:
                    break
                start += len(line)
                if line.strip():
                    lines.append(line.rstrip(b"\r\n"))
        if len(lines) == limit:
            return lines, name, start, False
    return lines, "", 0, True


def _admit(params: tuple[Param, ...]) -> dict:
    """The client's token and rate checked, and the query's parameters parsed."""
    tokens = _state()["tokens"]
    if tokens is None:
        raise ApiError(403, "export_disabled", "the export is disabled: set WEATHERLAKE_API_TOKEN or EXPORT_TOKENS "
                       "on the server")
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    client = tokens.get(digest(credentials.strip())) if scheme.lower() == "bearer" else None
    if client is None:
        raise ApiError(401, "unauthorized", "an export client's Authorization: Bearer token is required")
    args = parse_args(params, request.args)
    wait = _state()["rate"].take(client, 1)
    if wait:
        per_minute = settings().export_rate_per_minute
        raise ApiError(429, "rate_limited", f"client {client} may make {per_minute} export requests a minute; "
                       f"retry in {wait:.0f} s", headers={"Retry-After": str(max(1, round(wait)))})
    return args


def _page_response(head: dict, records: list[bytes]) -> Response:
    body = orjson.dumps(head)[:-1] + b',"data":[' + b",".join(records) + b"]}"
    return Response(body, mimetype="application/json")


def _state() -> dict:
    state = current_app.extensions["weatherlake"]["export"]
    if state["exporter"] is None:
        lake_store = store()
        state["exporter"] = Exporter(lambda: lake_store.lake, BoundedCache(CACHE_BYTES))
    return state
