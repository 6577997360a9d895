"""The OpenAPI 3.1 document, generated from the endpoint table and the parameter specs.

The same :class:`~weatherlake.web.params.Param` objects validate requests, so the
document cannot drift from what the API accepts.
"""

from __future__ import annotations

import inspect

from weatherlake import __version__
from weatherlake.web.api import ENDPOINTS

_NUM = {"type": ["number", "null"]}
_INT = {"type": "integer"}
_STR = {"type": "string"}
_OPT_STR = {"type": ["string", "null"]}
_SOURCE = {"type": "string", "enum": ["batch", "speed", "merged"]}


def _obj(properties: dict, required: tuple[str, ...] = ()) -> dict:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": True}


STATS = {
    "city_id": _STR, "city": _STR, "record_count": _INT, "avg_temperature": _NUM, "min_temperature": _NUM,
    "max_temperature": _NUM, "stddev_temperature": _NUM, "avg_humidity": _NUM, "avg_wind_speed": _NUM,
    "total_rainfall": _NUM, "avg_pressure": _NUM, "first_timestamp": _STR, "last_timestamp": _STR,
    "layer": _SOURCE,
}
SCHEMAS = {
    "Error": _obj({"error": _obj({"code": _STR, "message": _STR}, ("code", "message"))}, ("error",)),
    "City": _obj({"city_id": _STR, "city": _STR, "country": _OPT_STR, "latitude": _NUM, "longitude": _NUM,
                  "batch": {"type": "boolean"}, "live": {"type": "boolean"}, "configured": {"type": "boolean"},
                  "station": {"type": "boolean"}},
                 ("city_id",)),
    "Station": _obj({"station_id": _STR, "city_id": _STR, "name": _STR, "latitude": _NUM, "longitude": _NUM,
                     "first_seen": _STR, "last_seen": _STR, "sender": _OPT_STR},
                    ("station_id", "city_id", "first_seen", "last_seen")),
    "CurrentConditions": _obj({"city_id": _STR, "city": _STR, "country": _OPT_STR, "timestamp": _STR,
                               "temperature": _NUM, "feels_like": _NUM, "humidity": _NUM, "pressure": _NUM,
                               "wind_speed": _NUM, "wind_direction": _NUM, "cloudiness": _NUM, "rainfall": _NUM,
                               "weather_main": _OPT_STR, "weather_description": _OPT_STR, "source": _STR,
                               "layer": _SOURCE}, ("city_id", "timestamp", "layer")),
    "CityStats": _obj(STATS, ("city_id", "record_count")),
    "PeriodStats": _obj({**STATS, "period": {"type": "string", "enum": ["day", "week", "month"]},
                         "period_start": {"type": "string", "format": "date"}}, ("city_id", "period", "period_start")),
    "HourlyTrend": _obj({"city_id": _STR, "city": _STR, "hour": _STR, "record_count": _INT, "avg_temperature": _NUM,
                         "min_temperature": _NUM, "max_temperature": _NUM, "avg_humidity": _NUM, "avg_pressure": _NUM,
                         "avg_wind_speed": _NUM, "total_rainfall": _NUM, "rolling_24h_avg_temperature": _NUM,
                         "layer": _SOURCE}, ("city_id", "hour", "record_count")),
    "Forecast": _obj({"city_id": _STR, "city": _STR, "metric": _STR, "issued_at": _STR, "target_time": _STR,
                      "horizon_hours": _INT, "value": _NUM, "lower": _NUM, "upper": _NUM, "method": _STR,
                      "layer": _SOURCE},
                     ("city_id", "metric", "issued_at", "target_time", "horizon_hours", "value", "lower", "upper")),
    "ForecastSkill": _obj({"city_id": _STR, "city": _STR, "metric": _STR, "horizon_hours": _INT, "mae": _NUM,
                           "mae_persistence": _NUM, "mae_climatology": _NUM, "samples": _INT, "layer": _SOURCE},
                          ("city_id", "metric", "horizon_hours", "mae", "mae_persistence", "mae_climatology")),
    "Gap": _obj({"city_id": _STR, "city": _STR, "start": _STR, "end": _STR, "missing_hours": _INT,
                 "scope": {"type": "string", "enum": ["all", "city"]}, "layer": _SOURCE},
                ("city_id", "start", "end", "missing_hours", "scope")),
    "FilledHour": _obj({"city_id": _STR, "city": _STR, "hour": _STR, "imputed": {"type": "boolean"},
                        "method": {"type": "string", "enum": ["measured", "linear", "profile"]},
                        **{m: _NUM for m in ("temperature", "humidity", "pressure", "wind_speed")},
                        **{f"{m}_sd": _NUM for m in ("temperature", "humidity", "pressure", "wind_speed")},
                        "layer": _SOURCE},
                       ("city_id", "hour", "imputed", "method", "temperature", "temperature_sd")),
    "Anomaly": _obj({"city_id": _STR, "city": _STR, "timestamp": _STR, "metric": _STR, "value": _NUM,
                     "baseline": _NUM, "score": _NUM, "severity": {"type": "string",
                                                                   "enum": ["moderate", "severe", "extreme"]},
                     "method": _STR, "provisional": {"type": "boolean"}, "layer": _SOURCE,
                     "injected": {"type": "boolean", "description": "put there by the demo's synthetic source"}},
                    ("city_id", "timestamp", "metric", "severity")),
    "Alert": _obj({"id": _STR, "rule": _STR, "kind": _OPT_STR, "subject": _STR, "city_id": _OPT_STR,
                   "city": _OPT_STR, "severity": {"type": "string", "enum": ["info", "warning", "critical"]},
                   "state": {"type": "string", "enum": ["firing", "acknowledged", "resolved"]},
                   "opened_at": _STR, "acknowledged_at": _OPT_STR, "acknowledged_by": _OPT_STR,
                   "resolved_at": _OPT_STR, "resolved_by": _OPT_STR, "value": {"type": ["number", "null"]},
                   "message": _OPT_STR, "history": {"type": "array", "items": {"type": "object"}}},
                  ("id", "rule", "subject", "severity", "state", "opened_at")),
    "AlertAnswer": _obj({"data": {"$ref": "#/components/schemas/Alert"}, "generated_at": _STR,
                         "accepted": {"type": "boolean"}, "event_id": _STR, "message": _STR}, ("data",)),
    "Observation": _obj({"schema_version": _INT, "city_id": _STR, "timestamp": _STR, "temperature": _NUM},
                        ("city_id", "timestamp")),
    "Freshness": _obj({"batch": {"type": "object"}, "speed": {"type": "object"}}),
    "Figure": _obj({"data": {"type": "array", "items": {"type": "object"}}, "layout": {"type": "object"},
                    "state": _STR, "source": {"type": ["string", "null"]}, "cutoff": _OPT_STR,
                    "generated_at": _STR}, ("data", "layout")),
    "Status": {"type": "object", "additionalProperties": True},
}
ROWS = {
    "/api/cities": "City",
    "/api/stations": "Station",
    "/api/current": "CurrentConditions",
    "/api/city-statistics": "CityStats",
    "/api/daily-statistics": "PeriodStats",
    "/api/hourly-trends": "HourlyTrend",
    "/api/anomalies": "Anomaly",
    "/api/gaps": "Gap",
    "/api/hourly-filled": "FilledHour",
    "/api/forecast": "Forecast",
    "/api/forecast-skill": "ForecastSkill",
    "/api/raw-data": "Observation",
    "/api/alerts": "Alert",
}
#: Envelope fields beside the common ones, per endpoint.
EXTRA = {
    "/api/raw-data": {"date": _OPT_STR, "complete": {"type": "boolean"},
                      "scanned": _obj({"files": _INT, "bytes": _INT, "records": _INT})},
    "/api/alerts": {"counts": {"type": ["object", "null"], "description": "state -> severity -> alerts"},
                    "writable": {"type": "boolean", "description": "whether acknowledge/resolve are enabled"}},
}


def _envelope(row_schema: str, extra: dict) -> dict:
    return _obj(
        {
            "data": {"type": "array", "items": {"$ref": f"#/components/schemas/{row_schema}"}},
            "count": _INT,
            "generated_at": _STR,
            "source": {"type": ["string", "null"], "enum": ["batch", "speed", "merged", None]},
            "cutoff": _OPT_STR,
            "state": {"type": "string", "enum": ["ready", "empty", "not_published"]},
            "message": _OPT_STR,
            "freshness": {"$ref": "#/components/schemas/Freshness"},
            **extra,
        },
        ("data", "count", "generated_at", "source", "cutoff", "state"),
    )


def _error(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def document() -> dict:
    paths: dict = {}
    for ep in ENDPOINTS:
        if ep.kind == "data":
            schema = _envelope(ROWS[ep.rule], EXTRA.get(ep.rule, {}))
        elif ep.kind == "figure":
            schema = {"$ref": "#/components/schemas/Figure"}
        else:
            schema = {"$ref": "#/components/schemas/Status"}
        responses = {
            "200": {"description": "OK", "content": {"application/json": {"schema": schema}}},
            "400": _error("A parameter is unknown, repeated, without a value or out of range."),
        }
        if any(p.kind == "cities" for p in ep.params):
            responses["404"] = _error("A city id is not known.")
        if ep.rule == "/api/health":
            responses["503"] = {"description": "The lake could not be read at the last check."}
        if ep.rule == "/api/raw-data":
            responses["503"] = _error("The raw lake could not be read (or kept changing under compaction): try again.")
        paths[ep.rule] = {
            "get": {
                "operationId": ep.name,
                "summary": ep.summary,
                "description": inspect.cleandoc(ep.description),
                "parameters": [
                    {"name": p.name, "in": "query", "required": False, "description": p.description,
                     "schema": p.schema()}
                    for p in ep.params
                ],
                "responses": responses,
            }
        }
    paths.update(_alert_paths())
    paths.update(_ingest_paths())
    paths.update(_export_paths())
    paths.update(_report_paths())
    paths["/api/openapi.json"] = {"get": {"operationId": "openapi", "summary": "This document",
                                          "responses": {"200": {"description": "OpenAPI 3.1 document"}}}}
    paths["/metrics"] = {"get": {"operationId": "metrics", "summary": "Prometheus metrics (text exposition)",
                                 "responses": {"200": {"description": "text/plain; version=0.0.4",
                                                       "content": {"text/plain": {"schema": _STR}}}}}}
    paths["/"] = {"get": {"operationId": "dashboard", "summary": "The Plotly dashboard (HTML)",
                          "parameters": [{"name": "refresh", "in": "query", "required": False,
                                          "description": "Auto-refresh period in seconds (0 pauses).",
                                          "schema": {"type": "integer", "minimum": 0, "maximum": 86400}}],
                          "responses": {"200": {"description": "text/html"},
                                        "400": _error("`refresh` is not an integer from 0 to 86400.")}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "weatherlake serving API",
            "version": __version__,
            "description": "Batch views merged with the speed layer at the batch cutoff. Data endpoints answer "
            "{data, count, generated_at, source, cutoff, state, message, freshness}; errors answer "
            "{error: {code, message}} with a 4xx status (503 when the lake cannot be read).",
        },
        "paths": paths,
        "components": {"schemas": SCHEMAS,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                      "description": "WEATHERLAKE_API_TOKEN; a station's token "
                                                                     "(STATION_TOKENS) for the push; a client's "
                                                                     "(EXPORT_TOKENS) or this one for the export"}}},
    }


def _alert_paths() -> dict:
    """One alert, and the two writes (weatherlake.web.alerts)."""
    alert_id = {"name": "alert_id", "in": "path", "required": True, "description": "The alert's `id`.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 200}}
    answer = {"application/json": {"schema": {"$ref": "#/components/schemas/AlertAnswer"}}}
    paths = {"/api/alerts/{alert_id}": {"get": {
        "operationId": "alert", "summary": "One alert with its history",
        "description": "Every event of the alert, oldest first: opened, acknowledged, resolved, and each "
                       "notification attempt (notified).",
        "parameters": [alert_id],
        "responses": {"200": {"description": "OK", "content": answer}, "404": _error("No alert has this id.")},
    }}}
    for action, past in (("acknowledge", "acknowledged"), ("resolve", "resolved")):
        paths[f"/api/alerts/{{alert_id}}/{action}"] = {"post": {
            "operationId": f"{action}_alert",
            "summary": f"{action.capitalize()} an alert",
            "description": f"Marks the alert {past}: the event goes to the alert service, which applies it in "
                           "order and writes it back within seconds. Needs `Authorization: Bearer "
                           "<WEATHERLAKE_API_TOKEN>`.",
            "parameters": [alert_id],
            "security": [{"bearer": []}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _obj(
                {"by": {"type": "string", "minLength": 1, "maxLength": 500, "description": "who"},
                 "comment": {"type": ["string", "null"], "maxLength": 500, "description": "why"}}, ("by",))}}},
            "responses": {
                "202": {"description": "Accepted: sent to the alert service", "content": answer},
                "400": _error("The body is not {\"by\": ..., \"comment\": ...}."),
                "401": _error("The bearer token is missing or wrong."),
                "403": _error("Writes are disabled: no WEATHERLAKE_API_TOKEN is configured."),
                "404": _error("No alert has this id."),
                "409": _error(f"The alert cannot be {past} in its state (already resolved, or acknowledged)."),
                "503": _error("The alert topic cannot be reached."),
            },
        }}
    return paths


def _ingest_paths() -> dict:
    """Stations pushing readings (weatherlake.web.ingest)."""
    number = {"type": "number"}
    reading = _obj({
        "station_id": {"type": "string", "description": "the token's station (optional)"},
        "latitude": {"type": "number", "description": "degrees"}, "longitude": {"type": "number", "description": "degrees"},
        "timestamp": {"type": ["string", "number"], "description": "ISO-8601 with Z or an offset, or Unix seconds"},
        "temperature": {**number, "description": "°C"}, "humidity": {**number, "description": "%"},
        "pressure": {**number, "description": "hPa"}, "wind_speed": {**number, "description": "m/s"},
        "wind_direction": {**number, "description": "degrees, optional"},
        "rainfall": {**number, "description": "mm in the last hour, optional"},
        "metadata": {"type": "object", "description": "flat, optional; `name` names the station"},
    }, ("latitude", "longitude", "timestamp", "temperature", "humidity", "pressure", "wind_speed"))
    accepted = _obj({"accepted": {"type": "integer"}, "station_id": {"type": "string"}}, ("accepted", "station_id"))
    return {"/api/ingest/observations": {"post": {
        "operationId": "ingest_observations",
        "summary": "Push a station's readings",
        "description": "One reading (`application/json`) or one per line (`application/x-ndjson`), in the payload "
                       "format of docs/stations.md, with `Authorization: Bearer <the station's token>` "
                       "(STATION_TOKENS). All or nothing: with any invalid reading the answer is 400 listing each "
                       "problem by line (`error.details`) and nothing is sent; otherwise 202 once Kafka has "
                       "every reading.",
        "security": [{"bearer": []}],
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": reading},
            "application/x-ndjson": {"schema": {"type": "string", "description": "one reading per line"}}}},
        "responses": {
            "202": {"description": "Accepted: every reading is in Kafka",
                    "content": {"application/json": {"schema": accepted}}},
            "400": _error("A reading is invalid (error.details: line and reason of each) or there is none."),
            "401": _error("The bearer token is missing or no station's."),
            "403": _error("Station push is disabled: no STATION_TOKENS is configured."),
            "413": _error("The body is over INGEST_MAX_BYTES."),
            "415": _error("Neither application/json nor application/x-ndjson."),
            "429": _error("The station is over INGEST_RATE_PER_MINUTE readings; see Retry-After."),
            "503": _error("The observation topic cannot be reached."),
        },
    }}}


def _export_paths() -> dict:
    """ELT tools pulling every raw record (weatherlake.web.export)."""
    from weatherlake.speed.published import VIEWS
    from weatherlake.web.export import PARAMS, VIEW_PARAMS

    record = {"allOf": [{"$ref": "#/components/schemas/Observation"},
                        _obj({"_partition": {**_STR, "description": "the lake partition, `<topic>+<n>`"},
                              "_position": {**_INT, "description": "grows through a partition; never reused"}},
                             ("_partition", "_position"))]}
    page = _obj({"count": _INT, "has_more": {"type": "boolean", "description": "false: this page reached the end"},
                 "next_cursor": {**_STR, "description": "ask with it for the next page, or later for what is new"},
                 "data": {"type": "array", "items": record}},
                ("count", "has_more", "next_cursor", "data"))
    view_page = _obj({"view": _STR, "run_id": {**_STR, "description": "the batch run the rows are of"},
                      "replaces": {**_OPT_STR, "description": "on the first page of a newer run: the run it replaces"},
                      "count": _INT, "has_more": {"type": "boolean"}, "next_cursor": _STR,
                      "data": {"type": "array", "items": {"type": "object"}}},
                     ("view", "run_id", "replaces", "count", "has_more", "next_cursor", "data"))
    denied = {
        "401": _error("The bearer token is missing or no client's."),
        "403": _error("The export is disabled: neither WEATHERLAKE_API_TOKEN nor EXPORT_TOKENS is configured."),
        "429": _error("The client is over EXPORT_RATE_PER_MINUTE requests; see Retry-After."),
        "503": _error("The lake could not be read (or kept changing under compaction): try again."),
    }
    views = {"/api/export/{view}": {"get": {
        "operationId": "export_view",
        "summary": "A batch view's newest run, in pages, for ELT tools",
        "description": "Pages through the run the view's `_LATEST` names, rows in file order. A later request with "
                       "the last `next_cursor` gives the newer run whole (`replaces` names the old one) when there "
                       "is one, else nothing. Needs a client's token (EXPORT_TOKENS) or WEATHERLAKE_API_TOKEN; see "
                       "docs/elt.md.",
        "security": [{"bearer": []}],
        "parameters": [{"name": "view", "in": "path", "required": True, "description": "The view.",
                        "schema": {"type": "string", "enum": list(VIEWS)}}]
                      + [{"name": p.name, "in": "query", "required": False, "description": p.description,
                          "schema": p.schema()} for p in VIEW_PARAMS],
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": view_page}}},
            "400": _error("A parameter is unknown, repeated or invalid, or the cursor is not one this API gave "
                          "for this view."),
            "404": _error("No such view, or it has no published run yet."),
            "410": _error("The run the cursor pages was replaced and removed meanwhile: start again without one."),
            **denied,
        },
    }}}
    return views | {"/api/export/observations": {"get": {
        "operationId": "export_observations",
        "summary": "Every raw record exactly once, in pages, for ELT tools",
        "description": "Pages from no cursor until `has_more` is false give every record in the lake once, in a "
                       "stable order (per lake partition), while data arrives and compaction runs; a later request "
                       "with the last `next_cursor` gives only what is new. A record is as committed to the lake, "
                       "plus `_partition` and `_position`. Needs `Authorization: Bearer <a client's token>` "
                       "(EXPORT_TOKENS) or WEATHERLAKE_API_TOKEN; see docs/elt.md.",
        "security": [{"bearer": []}],
        "parameters": [{"name": p.name, "in": "query", "required": False, "description": p.description,
                        "schema": p.schema()} for p in PARAMS],
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": page}}},
            "400": _error("A parameter is unknown, repeated or invalid, or the cursor is not one this API gave."),
            **denied,
        },
    }}}


def _report_paths() -> dict:
    """The daily reports (weatherlake.web.reports)."""
    day = [{"name": "day", "in": "path", "required": True, "description": "`YYYY-MM-DD` or `latest`.",
            "schema": {"type": "string", "pattern": "^(\\d{4}-\\d{2}-\\d{2}|latest)$"}}]
    missing = _error("There is no report of that day (yet).")
    return {
        "/api/reports": {"get": {
            "operationId": "list_reports", "summary": "The days with a health report",
            "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": _obj(
                {"dates": {"type": "array", "items": _STR}, "latest": _OPT_STR}, ("dates", "latest"))}}}}}},
        "/api/reports/{day}": {"get": {
            "operationId": "report", "summary": "One day's health report: its facts and findings",
            "description": "Made by `weatherlake report` and the scheduler (docs/operations.md). Each finding has a "
                           "`severity` (`critical`, `warning`, `info`), a `text` built from the day's figures and "
                           "an `action`.",
            "parameters": day,
            "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": _obj(
                {"date": _STR, "generated_at": _STR, "hours": _INT, "facts": {"type": "object"},
                 "findings": {"type": "array", "items": _obj({"severity": _STR, "text": _STR, "action": _STR},
                                                             ("severity", "text", "action"))}},
                ("date", "facts", "findings"))}}},
                          "400": _error("The day is neither a date nor `latest`."), "404": missing}}},
        "/reports/{day}": {"get": {
            "operationId": "report_page", "summary": "One day's health report as an HTML page",
            "parameters": day,
            "responses": {"200": {"description": "text/html"}, "400": _error("The day is neither a date nor `latest`."),
                          "404": missing}}},
    }


def _schema_text(schema: dict) -> str:
    kind = schema.get("type", "")
    kind = "/".join(k for k in kind if k != "null") if isinstance(kind, list) else kind
    bounds = [f"{word} {schema[key]}" for key, word in (("minimum", "min"), ("maximum", "max")) if key in schema]
    if "enum" in schema:
        bounds.append(" \\| ".join(f"`{v}`" for v in schema["enum"] if v is not None))
    if "default" in schema:
        bounds.append(f"default `{schema['default']}`")
    return kind + (f" ({', '.join(bounds)})" if bounds else "")


def markdown(doc: dict | None = None) -> str:
    """The API reference in Markdown, rendered from the OpenAPI document (docs/api.md)."""
    doc = doc or document()
    lines = [
        "# API reference",
        "",
        "<!-- Generated from the OpenAPI document: python -m weatherlake.web.openapi > docs/api.md",
        "     (a test fails when this file and the API differ). -->",
        "",
        doc["info"]["description"],
        "",
    ]
    for path, item in doc["paths"].items():
        method, operation = next(iter(item.items()))
        lines += [f"## `{method.upper()} {path}`", "", operation["summary"] + ".", ""]
        if operation.get("description"):
            lines += [operation["description"], ""]
        if operation.get("parameters"):
            lines += ["| parameter | type | meaning |", "| --- | --- | --- |"]
            lines += [f"| `{p['name']}` | {_schema_text(p['schema'])} | {p.get('description', '')} |"
                      for p in operation["parameters"]]
            lines.append("")
        body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        if body:
            fields = ", ".join(f"`{name}` ({spec.get('description', '')})" for name, spec in body["properties"].items())
            lines += [f"Body: a JSON object with {fields}; `{'`, `'.join(body.get('required', []))}` required.", ""]
        statuses = ", ".join(f"{code} {response['description'].rstrip('.')}"
                             for code, response in operation["responses"].items())
        lines += [f"Responses: {statuses}.", ""]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
