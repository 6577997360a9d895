"""The daily reports in the web app: ``/api/reports`` (the days there are),
``/api/reports/<day>`` (one report's JSON) and ``/reports/<day>`` (its HTML page); ``day``
is ``YYYY-MM-DD`` or ``latest``. The reports are made by ``weatherlake report`` and the
scheduler (weatherlake.report); this only reads them from the lake."""

from __future__ import annotations

from flask import Response

from weatherlake.report import render
from weatherlake.web.api import api, json_response, store
from weatherlake.web.dashboard import dashboard
from weatherlake.web.params import ApiError


def list_reports():
    days = render.dates(store().lake)
    return json_response({"dates": days, "latest": days[-1] if days else None})


def report_json(day: str):
    return Response(_read(day, "json"), mimetype=render.FORMATS["json"])


def report_html(day: str):
    return Response(_read(day, "html"), mimetype="text/html")


def _read(day: str, kind: str) -> bytes:
    lake = store().lake
    if day == "latest":
        days = render.dates(lake)
        if not days:
            raise ApiError(404, "no_report", "there is no report yet: run `weatherlake report`")
        day = days[-1]
    elif not render.DATE.fullmatch(day):
        raise ApiError(400, "invalid_parameter", f"day must be a date like 2026-12-05 or latest, got {day[:40]!r}")
    data = lake.read_atomic(render.path(day, kind))
    if data is None:
        raise ApiError(404, "no_report", f"there is no report of {day}: run `weatherlake report --date {day}`")
    return data


api.add_url_rule("/reports", view_func=list_reports, methods=["GET"])
api.add_url_rule("/reports/<day>", view_func=report_json, methods=["GET"])
dashboard.add_url_rule("/reports/<day>", view_func=report_html, methods=["GET"])
