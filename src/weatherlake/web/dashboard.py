"""The dashboard page, Plotly's JavaScript, ``/metrics``, OpenAPI.

Plotly's JavaScript is served from this package, never a CDN (the dashboard works with
no internet): Plotly's "basic" partial bundle (scatter, bar and pie traces; the charts
are all scatter), vendored in ``static/vendor/`` by ``scripts/vendor_plotly.sh`` at
exactly the plotly.js release the installed ``plotly`` package ships, so the figures the
API builds with that package always meet the renderer they were made for. Should the
two ever differ (plotly upgraded without re-vendoring), the installed package's own
full bundle is served instead. The basic bundle is a quarter of the full one's 4.8 MB,
which is most of a cold page load (docs/serving.md).

The page itself is static: it fetches the JSON API and builds every table cell with
``textContent``, so text from the data is never parsed as HTML.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path

import orjson
import plotly
from flask import Blueprint, Response, current_app, render_template, request, send_file
from plotly.offline import get_plotlyjs_version

from weatherlake import __version__
from weatherlake.web.params import Param, parse_args

dashboard = Blueprint("dashboard", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/static/dashboard")

log = logging.getLogger(__name__)

PLOTLY_BASIC = Path(__file__).parent / "static" / "vendor" / "plotly-basic.min.js"
PLOTLY_FULL = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
REFRESH = Param("refresh", "int", "Auto-refresh period in seconds (0 pauses).", minimum=0, maximum=86400)


def bundle_version(path: Path) -> str | None:
    """The plotly.js release a bundle says it is, from its licence header."""
    with path.open("rb") as bundle:
        match = re.search(rb"\* plotly\.js (?:\([^)]*\) )?v(\S+)", bundle.read(300))
    return match[1].decode() if match else None


@functools.cache
def plotly_bundle() -> tuple[Path, str]:
    """(file, tag for its URL: plotly.js version and bundle) of the bundle the dashboard serves."""
    wanted = get_plotlyjs_version()
    vendored = bundle_version(PLOTLY_BASIC) if PLOTLY_BASIC.exists() else None
    if vendored == wanted:
        return PLOTLY_BASIC, f"{wanted}-basic"
    log.warning("vendored Plotly bundle is %s, the plotly package ships %s: serving the package's full bundle "
                "(run scripts/vendor_plotly.sh)", vendored, wanted)
    return PLOTLY_FULL, f"{wanted}-full"


def warm_up(app) -> None:
    """Pay the first-use costs before the first visitor does: the page's template and
    plotly's figure machinery (its first figure costs ~0.3 s; measured cold dashboard
    loads spent most of a second waiting for the first chart answers)."""
    from weatherlake.web import charts

    app.jinja_env.get_template("dashboard.html")
    charts.temperature_figure([], [], None)
    charts.humidity_figure([], None)
    charts.pressure_wind_figure([], None)
    plotly_bundle()


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
    return render_template("dashboard.html", config=config, version=__version__, plotly_version=plotly_bundle()[1])


@dashboard.get("/static/vendor/plotly.min.js")
def plotly_js():
    response = send_file(plotly_bundle()[0], mimetype="text/javascript", max_age=7 * 86400, conditional=True)
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
