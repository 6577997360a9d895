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
                  "batch": {"type": "boolean"}, "live": {"type": "boolean"}, "configured": {"type": "boolean"}},
                 ("city_id",)),
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
    "Anomaly": _obj({"city_id": _STR, "city": _STR, "timestamp": _STR, "metric": _STR, "value": _NUM,
                     "baseline": _NUM, "score": _NUM, "severity": {"type": "string",
                                                                   "enum": ["moderate", "severe", "extreme"]},
                     "method": _STR, "provisional": {"type": "boolean"}, "layer": _SOURCE,
                     "injected": {"type": "boolean", "description": "put there by the demo's synthetic source"}},
                    ("city_id", "timestamp", "metric", "severity")),
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
    "/api/current": "CurrentConditions",
    "/api/city-statistics": "CityStats",
    "/api/daily-statistics": "PeriodStats",
    "/api/hourly-trends": "HourlyTrend",
    "/api/anomalies": "Anomaly",
    "/api/raw-data": "Observation",
}
#: Envelope fields beside the common ones, per endpoint.
EXTRA = {
    "/api/raw-data": {"date": _OPT_STR, "complete": {"type": "boolean"},
                      "scanned": _obj({"files": _INT, "bytes": _INT, "records": _INT})},
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
        "components": {"schemas": SCHEMAS},
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
        operation = item["get"]
        lines += [f"## `GET {path}`", "", operation["summary"] + ".", ""]
        if operation.get("description"):
            lines += [operation["description"], ""]
        if operation.get("parameters"):
            lines += ["| parameter | type | meaning |", "| --- | --- | --- |"]
            lines += [f"| `{p['name']}` | {_schema_text(p['schema'])} | {p.get('description', '')} |"
                      for p in operation["parameters"]]
            lines.append("")
        statuses = ", ".join(f"{code} {response['description'].rstrip('.')}"
                             for code, response in operation["responses"].items())
        lines += [f"Responses: {statuses}.", ""]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
