"""The JSON API: one small function per endpoint over the loaded views.

A data endpoint answers ``{"data": [rows], "count", "generated_at", "source", "cutoff",
"state", "message", "freshness"}``: ``source`` is ``batch``, ``speed`` or ``merged`` (each
row says which in ``layer``: an observation's own ``source`` field names its provider);
``state`` is ``ready``, ``empty`` (published, but nothing matches) or ``not_published``
(no batch run and no live data yet), with a ``message`` that says what to do. Every
endpoint, with its parameters, is listed in :data:`ENDPOINTS`, which the OpenAPI
document is generated from.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from flask import Blueprint, Response, current_app, request

from weatherlake.timefmt import hour_text, parse_utc, utc_now_seconds
from weatherlake.web import charts, queries, status
from weatherlake.web.params import (
    ANOMALY_HOURS,
    CHART_CITIES,
    CITIES,
    DATE,
    FORECAST_METRIC,
    HOURS,
    LIMIT,
    METRIC,
    PERIOD,
    PERIODS_LIMIT,
    SEVERITY,
    ApiError,
    Param,
    parse_args,
)

api = Blueprint("api", __name__, url_prefix="/api")

SEVERITY_RANK = {"moderate": 0, "severe": 1, "extreme": 2}


@dataclass(frozen=True)
class Endpoint:
    rule: str
    name: str
    summary: str
    description: str
    params: tuple[Param, ...]
    kind: str  # "data", "figure", "status"
    view: Callable


ENDPOINTS: list[Endpoint] = []


def endpoint(rule: str, summary: str, *, params: tuple[Param, ...] = (), kind: str = "data"):
    """Register an API view with its validated parameters (and its place in the OpenAPI document)."""

    def register(view):
        ENDPOINTS.append(Endpoint("/api" + rule, view.__name__, summary, (view.__doc__ or "").strip(), params, kind,
                                  view))

        @functools.wraps(view)
        def handle():
            args = parse_args(params, request.args)
            return view(store().current(), settings(), **args)

        api.add_url_rule(rule, view_func=handle, methods=["GET"])
        return view

    return register


def store():
    return current_app.extensions["weatherlake"]["store"]


def settings():
    return current_app.extensions["weatherlake"]["settings"]


def json_response(body: dict, status_code: int = 200) -> Response:
    return Response(orjson.dumps(body), status=status_code, mimetype="application/json")


def _encode(rows: list[dict]) -> tuple[bytes, int, str | None]:
    return orjson.dumps(rows), len(rows), queries.overall_source(rows)


def data_response(loaded, key: tuple | None, build: Callable[[], list[dict]], *, view: str | None, not_published: bool,
                  hint: str, note: str | None = None, **extra) -> Response:
    """The common envelope of a data endpoint.

    The rows are built and encoded once per version of the data and per ``key`` (the
    endpoint and its parameters; None: every time); each request only adds the envelope's
    fresh metadata. ``note`` is the message of an answer that has data but is partial.
    """
    if key is None:
        encoded, count, source = _encode(build())
    else:
        encoded, count, source = loaded.memo(("response", *key), lambda: _encode(build()))
    if not_published:
        state, message = "not_published", hint
    elif count:
        state, message = "ready", note
    else:
        state, message = "empty", note or "no rows match the request"
    meta = {
        "count": count,
        "generated_at": utc_now_seconds(),
        "source": source,
        "cutoff": loaded.views[view].cutoff if view else None,
        "state": state,
        "message": message,
        **extra,
        "freshness": status.freshness(loaded, view),
    }
    return Response(b'{"data":' + encoded + b"," + orjson.dumps(meta)[1:], mimetype="application/json")


NO_DATA_HINT = "no batch view and no live data yet: start the pipeline (`weatherlake up`) and run `weatherlake analytics`"
NO_BATCH_HINT = "the batch view is not published yet: run `weatherlake analytics`"


def _cities(loaded, requested: list[str] | None, default: list[str] | None = None) -> list[str]:
    if requested is None:
        return queries.cities_with_data(loaded) if default is None else default
    unknown = [c for c in requested if not queries.is_known(loaded, c)]
    if unknown:
        raise ApiError(404, "unknown_city", f"unknown city id {unknown[0]!r} (GET /api/cities lists them)")
    return requested


def _key(cities: list[str] | None) -> tuple | None:
    return None if cities is None else tuple(cities)


def _nothing_published(loaded, view: str) -> bool:
    return not loaded.views[view].published and not loaded.speed_cities


def _hour_of(row: dict) -> str:
    """The hour of a row's ``timestamp``, comparable with window starts (``queries.window_start``)."""
    return hour_text(parse_utc(row["timestamp"]))


# --- endpoints -------------------------------------------------------------------------------


@endpoint("/health", "Liveness and the state of every input", kind="status")
def health(loaded, config):
    """`ok` when the lake could be read at the last check (503 `degraded` when not), with each view's and the
    speed layer's state. A view not published yet is not an error."""
    loaded = store().current()
    now = time.time()
    degraded = loaded.lake_error is not None
    body = {
        "status": "degraded" if degraded else "ok",
        "generated_at": utc_now_seconds(),
        "lake": {"state": "error" if degraded else "ok", "error": status.LAKE_ERROR if degraded else None},
        "views": {name: status.view_status(loaded, name, now)["state"] for name in loaded.views},
        "speed": status.speed_status(loaded, now)["state"],
        "data_version": loaded.version,
    }
    return json_response(body, 503 if degraded else 200)


@endpoint("/cities", "Every city with data, and the configured ones")
def cities(loaded, config):
    """One row per city found in the batch views or the speed snapshot (`batch`/`live` say where), plus the
    configured cities (`CITIES`) from the bundled catalogue, and every registered weather station
    (`station: true`, `station_id`)."""
    from weatherlake.cities import catalogue

    directory = queries.city_directory(loaded)

    def build():
        rows = [{**entry, "configured": city_id in config.cities} for city_id, entry in directory.items()]
        for city_id in config.cities:
            known = catalogue().get(city_id)
            if city_id not in directory and known is not None:
                rows.append({"city_id": city_id, "city": known.name, "country": known.country,
                             "latitude": known.latitude, "longitude": known.longitude,
                             "batch": False, "live": False, "station": False, "configured": True})
        return sorted(rows, key=lambda row: row["city_id"])

    return data_response(loaded, ("cities",), build, view=None, not_published=not directory, hint=NO_DATA_HINT)


@endpoint("/stations", "Every registered weather station")
def stations(loaded, config):
    """The stations' catalogue (docs/stations.md): each station that sent a valid reading, with its `city_id`
    (`station-<station_id>`), `name`, position, `first_seen` and `last_seen` (reading times) and `sender`."""

    def build():
        return [loaded.stations[s] for s in sorted(loaded.stations)]

    return data_response(loaded, ("stations",), build, view=None, not_published=not loaded.stations,
                         hint="no station has sent a reading yet (docs/stations.md)")


@endpoint("/current", "Current conditions per city", params=(CITIES,))
def current(loaded, config, cities):
    """The latest live observation of each city (`layer: speed`); a city without live data shows its newest
    batch hour instead (`layer: batch`, hourly averages)."""
    chosen = _cities(loaded, cities)

    def build():
        return [row for c in chosen if (row := queries.current(loaded, c)) is not None]

    return data_response(loaded, ("current", _key(cities)), build, view="hourly_trends",
                         not_published=_nothing_published(loaded, "hourly_trends"), hint=NO_DATA_HINT)


@endpoint("/city-statistics", "Statistics per city over the whole window", params=(CITIES,))
def city_statistics(loaded, config, cities):
    """The `city_stats` view's whole-window rows, with the speed layer's hours after the cutoff added in."""
    chosen = _cities(loaded, cities)

    def build():
        return [row for c in chosen if (row := queries.city_stats(loaded, c)) is not None]

    return data_response(loaded, ("city_statistics", _key(cities)), build, view="city_stats",
                         not_published=_nothing_published(loaded, "city_stats"), hint=NO_DATA_HINT)


@endpoint("/daily-statistics", "Statistics per city per day, week or month", params=(CITIES, PERIOD, PERIODS_LIMIT))
def daily_statistics(loaded, config, cities, period, limit):
    """The `city_stats` view's period rows (newest first, `limit` per city), with the live hours added in."""
    chosen = _cities(loaded, cities)

    def build():
        return [row for city_id in chosen for row in queries.period_stats(loaded, city_id, period)[:limit]]

    return data_response(loaded, ("daily_statistics", _key(cities), period, limit), build, view="city_stats",
                         not_published=_nothing_published(loaded, "city_stats"), hint=NO_DATA_HINT, period=period)


@endpoint("/hourly-trends", "Hourly trends per city, merged at the cutoff", params=(CHART_CITIES, HOURS))
def hourly_trends(loaded, config, cities, hours):
    """Batch hours up to the cutoff, speed hours after it, the cutoff's hour combined; the last `hours` hours
    with data. Rows carry `layer` (`batch`, `speed`, `merged`)."""
    chosen = _cities(loaded, cities, queries.default_chart_cities(loaded, config.cities))
    return data_response(loaded, ("hourly_trends", tuple(chosen), hours),
                         lambda: queries.hourly_window(loaded, chosen, hours), view="hourly_trends",
                         not_published=_nothing_published(loaded, "hourly_trends"), hint=NO_DATA_HINT,
                         cities=chosen, hours=hours)


@endpoint("/anomalies", "Anomalies, batch and live, newest first",
          params=(CITIES, ANOMALY_HOURS, SEVERITY, METRIC, LIMIT))
def anomalies(loaded, config, cities, hours, severity, metric, limit):
    """The `anomalies` view plus the speed layer's provisional flags after the cutoff (`provisional: true`).
    Anomalies the demo's synthetic source put there on purpose carry `injected: true`. Rows with `method`
    `stuck_sensor` (`metric` `all`) are runs of readings with every metric frozen; their `score` is the hours."""
    chosen = _cities(loaded, cities)

    def build():
        start = queries.window_start(queries.window_end(loaded, chosen), hours) if hours else None
        floor = SEVERITY_RANK[severity]
        rows = []
        for city_id in chosen:
            for row in queries.anomalies(loaded, city_id):
                if SEVERITY_RANK.get(row.get("severity"), 0) < floor or (metric and row.get("metric") != metric):
                    continue
                if start is not None and _hour_of(row) < start:
                    continue
                rows.append(row)
        rows.sort(key=lambda row: parse_utc(row["timestamp"]), reverse=True)
        return rows[:limit]

    return data_response(loaded, ("anomalies", _key(cities), hours, severity, metric, limit), build,
                         view="anomalies", not_published=_nothing_published(loaded, "anomalies"), hint=NO_DATA_HINT)


@endpoint("/gaps", "Hours without data per city (batch), newest first", params=(CITIES, LIMIT))
def gaps(loaded, config, cities, limit):
    """The `gaps` view: each run of clock hours in which a city has no observation, between its first and last
    hour with data, as `start` and `end` (the first and last missing hour) and `missing_hours`; `scope` is `all`
    when no city had data in those hours (the source or the pipeline was down), `city` otherwise."""
    chosen = _cities(loaded, cities)

    def build():
        rows = [{**row, "layer": "batch"} for city_id in chosen for row in loaded.views["gaps"].by_city.get(city_id, [])]
        rows.sort(key=lambda row: (row["start"], row["city_id"]), reverse=True)
        return rows[:limit]

    return data_response(loaded, ("gaps", _key(cities), limit), build, view="gaps",
                         not_published=not loaded.views["gaps"].published, hint=NO_BATCH_HINT)


@endpoint("/hourly-filled", "Hourly series with every hour: measured, or filled and marked (batch)",
          params=(CHART_CITIES, HOURS))
def hourly_filled(loaded, config, cities, hours):
    """The `hourly_filled` view in the last `hours` hours it has: each metric's hourly mean, or where the hour
    had no data a filled value (`imputed: true`, `method` `linear` or `profile`) with its standard uncertainty
    `<metric>_sd`. Filled values exist only here, never in the raw data."""
    chosen = _cities(loaded, cities, queries.default_chart_cities(loaded, config.cities))

    def build():
        by_city = {city_id: loaded.views["hourly_filled"].by_city.get(city_id, []) for city_id in chosen}
        ends = [rows[-1]["hour"] for rows in by_city.values() if rows]
        start = queries.window_start(max(ends), hours) if ends else None
        return [{**row, "layer": "batch"} for rows in by_city.values() for row in rows if row["hour"] >= start]

    return data_response(loaded, ("hourly_filled", tuple(chosen), hours), build, view="hourly_filled",
                         not_published=not loaded.views["hourly_filled"].published, hint=NO_BATCH_HINT,
                         cities=chosen, hours=hours)


@endpoint("/forecast", "The next 48 hours per city (batch), where the method has skill",
          params=(CHART_CITIES, FORECAST_METRIC))
def forecast(loaded, config, cities, metric):
    """The `forecast` view: from each city's last hour with data (`issued_at`), the metric's `value` for each
    `target_time` `horizon_hours` ahead with a band (`lower`, `upper`: the 10th and 90th percentiles of the
    backtest's errors). Only horizons where the method beat persistence and climatology in the backtest are
    there (`/api/forecast-skill` has the figures)."""
    chosen = _cities(loaded, cities, queries.default_chart_cities(loaded, config.cities))

    def build():
        return [{**row, "layer": "batch"} for city_id in chosen for row in loaded.views["forecast"].by_city.get(city_id, [])
                if row["metric"] == metric]

    return data_response(loaded, ("forecast", tuple(chosen), metric), build, view="forecast",
                         not_published=not loaded.views["forecast"].published, hint=NO_BATCH_HINT, metric=metric)


@endpoint("/forecast-skill", "The forecast's backtest per city, metric and horizon (batch)",
          params=(CITIES, FORECAST_METRIC))
def forecast_skill(loaded, config, cities, metric):
    """The `forecast_skill` view: per horizon, the mean absolute error of the forecast (`mae`), of persistence
    (`mae_persistence`: the last observation) and of climatology (`mae_climatology`: the hour's mean of the last
    14 days) over the later half of a rolling-origin backtest of the city's last 30 days, and its `samples`."""
    chosen = _cities(loaded, cities)

    def build():
        rows = [{**row, "layer": "batch"} for city_id in chosen
                for row in loaded.views["forecast_skill"].by_city.get(city_id, []) if row["metric"] == metric]
        return sorted(rows, key=lambda row: (row["city_id"], row["horizon_hours"]))

    return data_response(loaded, ("forecast_skill", _key(cities), metric), build, view="forecast_skill",
                         not_published=not loaded.views["forecast_skill"].published, hint=NO_BATCH_HINT,
                         metric=metric)


@endpoint("/raw-data", "Raw observations as committed to the lake", params=(CITIES, DATE, LIMIT))
def raw_data(loaded, config, cities, date, limit):
    """The newest records of one UTC date partition of the raw lake (default: the newest date), newest first.
    Reads the newest committed files only, each from its end, within a per-request budget of bytes read,
    records decoded and time; `complete: false` says the budget ran out first (`scanned` says how much was
    read), so `limit` rows of a city that reports rarely may come from fewer."""
    chosen = frozenset(_cities(loaded, cities)) if cities else None
    answer = store().raw_records(date, chosen, limit)
    return data_response(loaded, None, lambda: answer.rows, view=None, not_published=answer.date is None,
                         hint="the raw lake is empty: is `weatherlake consume` running?",
                         note=None if answer.complete else RAW_INCOMPLETE, date=answer.date,
                         complete=answer.complete, scanned=answer.scanned)


RAW_INCOMPLETE = ("incomplete: the per-request read budget ran out first (see `scanned`); these are the newest "
                  "matching records found. Ask for a `date`, fewer `cities` or a smaller `limit`.")


def _figure_endpoint(loaded, config, cities, hours, build, view: str = "hourly_trends") -> Response:
    chosen = _cities(loaded, cities, queries.default_chart_cities(loaded, config.cities))
    key = ("figure", build.__name__, tuple(chosen), hours)
    rows = queries.hourly_window(loaded, chosen, hours)
    figure = loaded.memo(key, lambda: build(loaded, rows, chosen, hours))
    cutoff = loaded.views[view].cutoff
    not_published = _nothing_published(loaded, view)
    state = "ready" if rows else ("not_published" if not_published else "empty")
    return json_response(
        {
            **figure,
            "generated_at": utc_now_seconds(),
            "source": queries.overall_source(rows),
            "cutoff": cutoff,
            "state": state,
            "message": None if rows else (NO_DATA_HINT if not_published else "no hourly data for these cities"),
            "cities": chosen,
            "points": len(rows),
            "freshness": status.freshness(loaded, view),
        }
    )


def _temperature(loaded, rows, chosen, hours):
    start = _chart_start(loaded, chosen, hours)
    marks = [a for c in chosen for a in queries.anomalies(loaded, c) if start is not None and _hour_of(a) >= start]
    wanted = set(chosen)
    opened = [a for a in (loaded.alerts or {}).get("alerts", []) if a.get("city_id") in wanted]
    ahead = [row for c in chosen for row in loaded.views["forecast"].by_city.get(c, []) if row["metric"] == "temperature"]
    return charts.temperature_figure(rows, marks, loaded.views["hourly_trends"].cutoff, opened,
                                     _filled_hours(loaded, chosen, start), ahead)


def _filled_hours(loaded, chosen, start):
    """The chosen cities' filled hours (``hourly_filled``, imputed only) from ``start`` on."""
    return [row for c in chosen for row in loaded.views["hourly_filled"].by_city.get(c, [])
            if row["imputed"] and start is not None and row["hour"] >= start]


def _chart_start(loaded, chosen, hours):
    return queries.window_start(queries.window_end(loaded, chosen), hours)


def _humidity(loaded, rows, chosen, hours):
    filled = _filled_hours(loaded, chosen, _chart_start(loaded, chosen, hours))
    return charts.humidity_figure(rows, loaded.views["hourly_trends"].cutoff, filled)


def _pressure_wind(loaded, rows, chosen, hours):
    filled = _filled_hours(loaded, chosen, _chart_start(loaded, chosen, hours))
    return charts.pressure_wind_figure(rows, loaded.views["hourly_trends"].cutoff, filled)


@endpoint("/temperature-chart", "Plotly figure: temperature with anomaly markers", params=(CHART_CITIES, HOURS),
          kind="figure")
def temperature_chart(loaded, config, cities, hours):
    """A Plotly figure (`data`, `layout`) of the merged hourly average temperature per city, temperature
    anomalies and the cities' alerts as markers, and the batch cutoff as a dotted line."""
    return _figure_endpoint(loaded, config, cities, hours, _temperature)


@endpoint("/humidity-chart", "Plotly figure: humidity", params=(CHART_CITIES, HOURS), kind="figure")
def humidity_chart(loaded, config, cities, hours):
    """A Plotly figure of the merged hourly average relative humidity per city."""
    return _figure_endpoint(loaded, config, cities, hours, _humidity)


@endpoint("/pressure-wind-chart", "Plotly figure: pressure and wind", params=(CHART_CITIES, HOURS), kind="figure")
def pressure_wind_chart(loaded, config, cities, hours):
    """A Plotly figure of the merged hourly average sea-level pressure and wind speed per city."""
    return _figure_endpoint(loaded, config, cities, hours, _pressure_wind)


@endpoint("/pipeline", "Pipeline status: ingest, dead letters, lag, batch runs, view ages", kind="status")
def pipeline(loaded, config):
    """Per partition the lake sink's committed offset, the speed layer's position and the topic's end offset
    (approximate, see `ingest.note`); `ingest.lag_last_24h`, the most the sink and the speed layer lagged in
    each clock hour of the last 24 that the speed layer sampled; dead-letter count, each view's last run and
    age, and the speed layer."""
    return json_response(status.pipeline(loaded))


#: Endpoints whose default answer is computed as soon as new data is loaded, off the request path.
WARM = ("current", "city_statistics", "hourly_trends")


def warm(loaded, config) -> None:
    """Build the default answers of :data:`WARM` for freshly loaded data (called by the store)."""
    for ep in ENDPOINTS:
        if ep.name in WARM:
            ep.view(loaded, config, **{p.name: p.default for p in ep.params})


# The alert endpoints and the stations' push live in their own modules; importing them
# registers them here.
import weatherlake.web.alerts  # noqa: E402, F401
import weatherlake.web.ingest  # noqa: E402, F401
