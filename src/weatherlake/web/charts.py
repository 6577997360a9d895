"""Plotly figures for the dashboard, built with the ``plotly`` package from merged rows.

Each builder takes plain rows and returns the figure as JSON-ready data
(``{"data": [...traces], "layout": {...}}``), which the page hands to ``Plotly.react``.
Text from the data (city names) is HTML-escaped before it reaches Plotly, whose labels
understand a few tags: a city name is always shown as text, never as markup.
"""

from __future__ import annotations

import html

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from weatherlake.stations.readings import CITY_PREFIX

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
SEVERITY_COLOURS = {"moderate": "#f2a900", "severe": "#e4572e", "extreme": "#a1001a"}
ALERT_COLOURS = {"info": "#2f6fb3", "warning": "#d97706", "critical": "#b91c1c"}


def _x(timestamp: str) -> str:
    """A UTC timestamp as Plotly reads dates: ``2026-11-20 20:00:00`` (the title says UTC)."""
    return timestamp[:19].replace("T", " ")


def _layout(title: str, y_title: str, cutoff: str | None) -> dict:
    layout = {
        "title": {"text": title, "x": 0.01, "font": {"size": 15}},
        "margin": {"l": 50, "r": 10, "t": 40, "b": 40},
        "height": 320,
        "legend": {"orientation": "h", "y": -0.2},
        "showlegend": True,
        "hovermode": "x unified",
        "template": "plotly_white",
        "yaxis": {"title": {"text": y_title}},
        "uirevision": "keep",  # the page keeps the user's zoom across refreshes
    }
    if cutoff:
        layout["shapes"] = [_cutoff_line(cutoff)]
        layout["annotations"] = [_cutoff_label(cutoff)]
    return layout


def _cutoff_line(cutoff: str, yref: str = "paper") -> dict:
    return {"type": "line", "xref": "x", "yref": yref, "x0": _x(cutoff), "x1": _x(cutoff), "y0": 0, "y1": 1,
            "line": {"dash": "dot", "width": 1, "color": "#888"}}


def _cutoff_label(cutoff: str) -> dict:
    return {"x": _x(cutoff), "y": 1, "xref": "x", "yref": "paper", "text": "batch | live", "showarrow": False,
            "font": {"size": 10, "color": "#666"}, "yanchor": "bottom"}


def _by_city(rows: list[dict]) -> dict[str, list[dict]]:
    series: dict[str, list[dict]] = {}
    for row in rows:
        series.setdefault(row["city_id"], []).append(row)
    return series


def _label(row: dict) -> str:
    """The legend's name of a location: a station's says so."""
    label = row.get("city") or row["city_id"]
    return html.escape(label + (" (station)" if row["city_id"].startswith(CITY_PREFIX) else ""))


def _line(rows: list[dict], field: str, index: int, **extra) -> go.Scatter:
    return go.Scatter(
        x=[_x(row["hour"]) for row in rows],
        y=[row.get(field) for row in rows],
        name=_label(rows[0]),
        mode="lines+markers",
        marker={"size": 4},
        line={"color": COLOURS[index % len(COLOURS)], "width": 2},
        **extra,
    )


def temperature_figure(rows: list[dict], anomalies: list[dict], cutoff: str | None, alerts: list[dict] = (),
                       filled: list[dict] = (), forecast: list[dict] = ()) -> dict:
    """Hourly average temperature per city, with the temperature anomalies as markers, the
    alerts about those cities where they opened (on the city's line), the hours without
    data as the batch layer filled them (``hourly_filled``: open circles with their
    uncertainty, in the city's colour, apart from the measured line), and the forecast
    after the last observation (a dashed line in a shaded band)."""
    figure = go.Figure(layout=_layout("Temperature, hourly average (UTC)", "°C", cutoff))
    colour_of = {}
    for i, series in enumerate(_by_city(rows).values()):
        figure.add_trace(_line(series, "avg_temperature", i, legendgroup=series[0]["city_id"]))
        colour_of[series[0]["city_id"]] = COLOURS[i % len(COLOURS)]
    for city_id, series in _by_city(list(filled)).items():
        figure.add_trace(_filled(series, "temperature", "°C", colour_of.get(city_id)))
    for city_id, series in _by_city(sorted(forecast, key=lambda row: row["target_time"])).items():
        colour = colour_of.get(city_id, "#888")
        x = [_x(row["target_time"]) for row in series]
        figure.add_trace(go.Scatter(x=x + x[::-1], y=[row["upper"] for row in series]
                                    + [row["lower"] for row in series[::-1]], fill="toself", opacity=0.15,
                                    line={"width": 0, "color": colour}, hoverinfo="skip", showlegend=False,
                                    legendgroup=city_id, name=f"{_label(series[0])}: forecast band"))
        figure.add_trace(go.Scatter(
            x=x, y=[row["value"] for row in series], name=f"{_label(series[0])}: forecast", legendgroup=city_id,
            mode="lines", line={"color": colour, "dash": "dash", "width": 2},
            text=[f"+{row['horizon_hours']} h, 80 % between {row['lower']} and {row['upper']} °C" for row in series],
            hovertemplate="%{y:.1f} °C %{text}<extra></extra>"))
    marks = [a for a in anomalies if a.get("metric") == "temperature"]
    if marks:
        figure.add_trace(
            go.Scatter(
                x=[_x(a["timestamp"]) for a in marks],
                y=[a["value"] for a in marks],
                name="anomalies",
                mode="markers",
                marker={"symbol": "x", "size": 10, "color": [SEVERITY_COLOURS.get(a["severity"], "#000") for a in marks]},
                text=[f"{_label(a)}: {a['severity']} (score {a['score']}, {a.get('layer', '')})" for a in marks],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    on_line = {(row["city_id"], row["hour"]): row.get("avg_temperature") for row in rows}
    placed = [(a, y) for a in alerts if (y := on_line.get((a.get("city_id"), _hour(a["opened_at"])))) is not None]
    if placed:
        figure.add_trace(
            go.Scatter(
                x=[_x(a["opened_at"]) for a, _ in placed],
                y=[y for _, y in placed],
                name="alerts",
                mode="markers",
                marker={"symbol": "triangle-down", "size": 13,
                        "color": [ALERT_COLOURS.get(a["severity"], "#000") for a, _ in placed],
                        "line": {"width": 1, "color": "#fff"}},
                text=[f"{html.escape(a.get('message') or a['rule'])} ({a['severity']}, {a['state']})" for a, _ in placed],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    return figure.to_plotly_json()


def _filled(series: list[dict], metric: str, unit: str, colour: str | None, **extra) -> go.Scatter:
    """A city's filled hours of ``metric`` (``hourly_filled`` rows): open circles with
    their uncertainty, in the colour of the city's measured line, in its legend group."""
    return go.Scatter(
        x=[_x(row["hour"]) for row in series],
        y=[row[metric] for row in series],
        error_y={"type": "data", "array": [row[f"{metric}_sd"] for row in series], "thickness": 1},
        name=f"{_label(series[0])}: filled (no data)",
        legendgroup=series[0]["city_id"],
        mode="markers",
        marker={"symbol": "circle-open", "size": 7, "color": colour or "#888"},
        text=[f"imputed ({row['method']}), ± {row[f'{metric}_sd']} {unit}" for row in series],
        hovertemplate="%{y:.1f} " + unit + " %{text}<extra></extra>",
        **extra,
    )


def _hour(timestamp: str) -> str:
    return timestamp[:13] + ":00:00Z"


def humidity_figure(rows: list[dict], cutoff: str | None, filled: list[dict] = ()) -> dict:
    """Hourly average relative humidity per city, and the filled hours as on the temperature chart."""
    figure = go.Figure(layout=_layout("Humidity, hourly average (UTC)", "%", cutoff))
    colour_of = {}
    for i, series in enumerate(_by_city(rows).values()):
        figure.add_trace(_line(series, "avg_humidity", i, legendgroup=series[0]["city_id"]))
        colour_of[series[0]["city_id"]] = COLOURS[i % len(COLOURS)]
    for city_id, series in _by_city(list(filled)).items():
        figure.add_trace(_filled(series, "humidity", "%", colour_of.get(city_id)))
    return figure.to_plotly_json()


def pressure_wind_figure(rows: list[dict], cutoff: str | None, filled: list[dict] = ()) -> dict:
    """Sea-level pressure (top) and wind speed (bottom) per city, on one time axis, and
    the filled hours of both as on the temperature chart."""
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    colour_of = {}
    for i, series in enumerate(_by_city(rows).values()):
        group = series[0]["city_id"]
        figure.add_trace(_line(series, "avg_pressure", i, legendgroup=group), row=1, col=1)
        figure.add_trace(_line(series, "avg_wind_speed", i, legendgroup=group, showlegend=False), row=2, col=1)
        colour_of[group] = COLOURS[i % len(COLOURS)]
    for city_id, series in _by_city(list(filled)).items():
        figure.add_trace(_filled(series, "pressure", "hPa", colour_of.get(city_id)), row=1, col=1)
        figure.add_trace(_filled(series, "wind_speed", "m/s", colour_of.get(city_id), showlegend=False), row=2, col=1)
    layout = _layout("Pressure and wind, hourly average (UTC)", "hPa", cutoff)
    layout["height"] = 420
    layout.pop("yaxis")
    if cutoff:
        layout["shapes"] = [_cutoff_line(cutoff)]
    figure.update_layout(**layout)
    figure.update_yaxes(title_text="hPa", row=1, col=1)
    figure.update_yaxes(title_text="m/s", row=2, col=1)
    return figure.to_plotly_json()
