"""/api/gaps, /api/hourly-filled, /api/forecast, /api/forecast-skill, and filled hours and
the forecast on the temperature chart."""

from __future__ import annotations

from tests.web.lakedata import publish_view

GAPS = [
    {"city_id": "london-gb", "city": "London", "start": "2026-11-20T02:00:00Z", "end": "2026-11-20T03:00:00Z",
     "missing_hours": 2, "scope": "city"},
    {"city_id": "london-gb", "city": "London", "start": "2026-11-20T10:00:00Z", "end": "2026-11-20T10:00:00Z",
     "missing_hours": 1, "scope": "all"},
    {"city_id": "tokyo-jp", "city": "Tokyo", "start": "2026-11-20T10:00:00Z", "end": "2026-11-20T10:00:00Z",
     "missing_hours": 1, "scope": "all"},
]


def filled_row(city_id: str, hour: int, imputed: bool) -> dict:
    return {"city_id": city_id, "city": city_id.split("-")[0].title(), "hour": f"2026-11-20T{hour:02d}:00:00Z",
            "temperature": 10.0 + hour, "temperature_sd": 0.8 if imputed else 0.0, "humidity": 70.0,
            "humidity_sd": 3.0 if imputed else 0.0, "pressure": 1010.0, "pressure_sd": 0.2 if imputed else 0.0,
            "wind_speed": 3.0, "wind_speed_sd": 0.9 if imputed else 0.0, "imputed": imputed,
            "method": "linear" if imputed else "measured"}


def test_gaps_newest_first_with_their_scope(client, lake, published):
    assert client.get("/api/gaps").get_json()["state"] == "not_published"
    publish_view(lake, "gaps", GAPS, cutoff="2026-11-21T00:00:00Z")
    body = client.get("/api/gaps").get_json()
    assert body["state"] == "ready" and body["source"] == "batch"
    assert [(r["city_id"], r["start"], r["scope"]) for r in body["data"]] == [
        ("tokyo-jp", "2026-11-20T10:00:00Z", "all"), ("london-gb", "2026-11-20T10:00:00Z", "all"),
        ("london-gb", "2026-11-20T02:00:00Z", "city")]
    assert [r["missing_hours"] for r in client.get("/api/gaps?cities=london-gb&limit=1").get_json()["data"]] == [1]


def test_filled_hours_are_marked_and_drawn_apart_on_the_temperature_chart(client, lake, published):
    rows = [filled_row("london-gb", h, imputed=h in (2, 3)) for h in range(0, 6)]
    publish_view(lake, "hourly_filled", rows, cutoff="2026-11-21T00:00:00Z")
    body = client.get("/api/hourly-filled?cities=london-gb&hours=4").get_json()
    assert [(r["hour"][11:13], r["imputed"], r["method"]) for r in body["data"]] == [
        ("02", True, "linear"), ("03", True, "linear"), ("04", False, "measured"), ("05", False, "measured")]
    chart = client.get("/api/temperature-chart?cities=london-gb&hours=48").get_json()
    [marks] = [t for t in chart["data"] if t["name"] == "London: filled (no data)"]
    assert marks["marker"]["symbol"] == "circle-open" and marks["y"] == [12.0, 13.0]
    assert marks["error_y"]["array"] == [0.8, 0.8]


def test_the_humidity_pressure_and_wind_charts_draw_the_filled_hours_too(client, lake, published):
    rows = [filled_row("london-gb", h, imputed=h in (2, 3)) for h in range(0, 6)]
    publish_view(lake, "hourly_filled", rows, cutoff="2026-11-21T00:00:00Z")
    humidity = client.get("/api/humidity-chart?cities=london-gb&hours=48").get_json()
    [marks] = [t for t in humidity["data"] if t["name"] == "London: filled (no data)"]
    assert marks["marker"]["symbol"] == "circle-open" and marks["y"] == [70.0, 70.0]
    assert marks["error_y"]["array"] == [3.0, 3.0] and "± 3.0 %" in marks["text"][0]
    both = client.get("/api/pressure-wind-chart?cities=london-gb&hours=48").get_json()
    pressure, wind = [t for t in both["data"] if t["name"] == "London: filled (no data)"]
    assert (pressure["y"], pressure["error_y"]["array"], pressure.get("yaxis", "y")) == ([1010.0] * 2, [0.2] * 2, "y")
    assert (wind["y"], wind["error_y"]["array"], wind["yaxis"], wind["showlegend"]) == ([3.0] * 2, [0.9] * 2, "y2", False)


def forecast_row(city_id: str, metric: str, horizon: int) -> dict:
    return {"city_id": city_id, "city": city_id.split("-")[0].title(), "metric": metric,
            "issued_at": "2026-11-21T05:00:00Z", "target_time": f"2026-11-21T{5 + horizon:02d}:00:00Z",
            "horizon_hours": horizon, "value": 8.0 + horizon, "lower": 7.0 + horizon, "upper": 9.5 + horizon,
            "method": "damped_anomaly"}


def test_the_forecast_and_its_skill_are_served_and_drawn_after_the_last_observation(client, lake, published):
    rows = [forecast_row("london-gb", m, h) for m in ("temperature", "humidity") for h in (1, 2, 3)]
    publish_view(lake, "forecast", rows, cutoff="2026-11-21T05:00:00Z")
    skill = [{"city_id": "london-gb", "city": "London", "metric": "temperature", "horizon_hours": h, "mae": 0.5 * h,
              "mae_persistence": 0.7 * h, "mae_climatology": 3.0, "samples": 240} for h in (2, 1)]
    publish_view(lake, "forecast_skill", skill, cutoff="2026-11-21T05:00:00Z")
    body = client.get("/api/forecast?cities=london-gb").get_json()
    assert [(r["metric"], r["horizon_hours"]) for r in body["data"]] == [("temperature", h) for h in (1, 2, 3)]
    assert body["metric"] == "temperature"
    assert len(client.get("/api/forecast?cities=london-gb&metric=humidity").get_json()["data"]) == 3
    assert [r["horizon_hours"] for r in client.get("/api/forecast-skill").get_json()["data"]] == [1, 2]
    assert client.get("/api/forecast?metric=rain").status_code == 400
    chart = client.get("/api/temperature-chart?cities=london-gb&hours=48").get_json()
    [line] = [t for t in chart["data"] if t["name"] == "London: forecast"]
    assert line["y"] == [9.0, 10.0, 11.0] and line["line"]["dash"] == "dash"
    [band] = [t for t in chart["data"] if t["name"] == "London: forecast band"]
    assert band["y"] == [10.5, 11.5, 12.5, 10.0, 9.0, 8.0] and band["fill"] == "toself"
