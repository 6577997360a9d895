"""The dashboard page, Plotly's JavaScript from the installed package, ``/metrics``, OpenAPI.

Plotly's bundle is served from the ``plotly`` package's own ``package_data/plotly.min.js``
(no CDN: the dashboard works with no internet). The page itself is static: it fetches
the JSON API and builds every table cell with ``textContent``, so text from the data is
never parsed as HTML.
"""

from __future__ import annotations

import functools
from pathlib import Path

import orjson
import plotly
from flask import Blueprint, Response, current_app, render_template, request, send_file

from weatherlake import __version__
from weatherlake.web.params import Param, parse_args

dashboard = Blueprint("dashboard", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/static/dashboard")

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
REFRESH = Param("refresh", "int", "Auto-refresh period in seconds (0 pauses).", minimum=0, maximum=86400)


@dashboard.get("/")
def page():
    args = parse_args((REFRESH,), request.args)
    refresh = args["refresh"]
    if refresh is None:
        refresh = current_app.config["DASHBOARD_REFRESH_SECONDS"]
    from weatherlake.web import queries

    settings = current_app.extensions["weatherlake"]["settings"]
    loaded = current_app.extensions["weatherlake"]["store"].current()
    config = {
        "refreshSeconds": refresh,
        "configuredCities": list(settings.cities),
        # Current conditions show these until the city list has loaded (it may change meanwhile).
        "defaultCities": queries.default_chart_cities(loaded, settings.cities),
        "version": __version__,
    }
    return render_template("dashboard.html", config=config, version=__version__, plotly_version=plotly.__version__)


@dashboard.get("/static/vendor/plotly.min.js")
def plotly_js():
    response = send_file(PLOTLY_JS, mimetype="text/javascript", max_age=7 * 86400, conditional=True)
    return response


@dashboard.get("/metrics")
def metrics_text():
    from weatherlake.web import metrics

    store = current_app.extensions["weatherlake"]["store"]
    return Response(metrics.scrape(store.current), mimetype="text/plain; version=0.0.4; charset=utf-8")


@functools.cache
def _openapi_bytes() -> bytes:
    from weatherlake.web.openapi import document

    return orjson.dumps(document())


@dashboard.get("/api/openapi.json")
def openapi():
    return Response(_openapi_bytes(), mimetype="application/json")
