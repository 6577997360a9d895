"""Every endpoint through Flask's test client, over a real lake directory."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from plotly.offline import get_plotlyjs_version

from tests.web import data, reference
from tests.web.conftest import CUTOFF
from tests.web.lakedata import publish_view, write_snapshot
from weatherlake.speed.published import SNAPSHOT_PATH, encode_snapshot, read_snapshot
from weatherlake.timefmt import hour_text
from weatherlake.web import create_app, dashboard
from weatherlake.web.api import ENDPOINTS

DATA_ENDPOINTS = ["/api/current", "/api/city-statistics", "/api/daily-statistics",
                  "/api/hourly-trends", "/api/anomalies", "/api/raw-data"]
FIGURES = ["/api/temperature-chart", "/api/humidity-chart", "/api/pressure-wind-chart"]


def get(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, (url, response.get_data(as_text=True)[:500])
    assert response.mimetype == "application/json"
    return orjson.loads(response.data)


# --- an empty lake -----------------------------------------------------------------------------


@pytest.mark.parametrize("url", DATA_ENDPOINTS + FIGURES)
def test_an_empty_lake_gives_empty_data_and_a_clear_state(client, url):
    body = get(client, url)
    assert body["data"] == []
    assert body["state"] == "not_published"
    assert "weatherlake" in body["message"]


def test_cities_on_an_empty_lake_are_the_configured_ones(client):
    body = get(client, "/api/cities")
    assert [(r["city_id"], r["batch"], r["live"], r["configured"]) for r in body["data"]] == [
        ("dubai-ae", False, False, True), ("london-gb", False, False, True), ("tokyo-jp", False, False, True)]
    assert body["state"] == "not_published"


def test_health_and_pipeline_on_an_empty_lake(client):
    health = get(client, "/api/health")
    assert health["status"] == "ok"
    assert health["views"] == {v: "not_published" for v in ("city_stats", "hourly_trends", "diurnal_profile",
                                                           "anomalies", "gaps", "hourly_filled", "forecast",
                                                           "forecast_skill")}
    assert health["speed"] == "missing"
    pipeline = get(client, "/api/pipeline")
    assert pipeline["batch"]["last_run"] is None
    assert pipeline["speed"]["state"] == "missing"
    assert pipeline["ingest"]["partitions"] == []


def test_health_is_503_when_the_lake_cannot_be_read(make_settings, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the lake should be")
    app = create_app(make_settings(lake_url=blocker.as_uri()), {"RELOAD_SECONDS": 0, "BACKGROUND_REFRESH": False})
    client = app.test_client()
    body = get(client, "/api/health", 503)
    assert body["status"] == "degraded" and body["lake"]["error"]
    assert get(client, "/api/hourly-trends")["data"] == []  # still answers, with what it has (nothing)


# --- the merge at the cutoff, end to end ----------------------------------------------------------


def test_hourly_trends_merge_batch_and_speed_at_the_cutoff(client, published, observations):
    body = get(client, "/api/hourly-trends?cities=london-gb,tokyo-jp&hours=72")
    expected = [r for r in reference.hourly_trends(observations) if r["city_id"] in ("london-gb", "tokyo-jp")]
    got = sorted(body["data"], key=lambda r: (r["city_id"], r["hour"]))
    assert [(r["city_id"], r["hour"]) for r in got] == [(r["city_id"], r["hour"]) for r in expected]
    for row, want in zip(got, expected, strict=True):
        for field in ("record_count", "avg_temperature", "min_temperature", "max_temperature", "avg_humidity",
                      "total_rainfall", "rolling_24h_avg_temperature"):
            assert reference.close(row[field], want[field]), (row["city_id"], row["hour"], field)
    layers = {r["hour"]: r["layer"] for r in got if r["city_id"] == "london-gb"}
    assert layers["2026-11-21T04:00:00Z"] == "batch"
    assert layers["2026-11-21T05:00:00Z"] == "merged"
    assert body["source"] == "merged" and body["cutoff"] == CUTOFF and body["state"] == "ready"
    assert body["freshness"]["batch"]["run_id"] == "20261121T000000Z-0001"
    assert body["freshness"]["speed"]["cutoff"] == CUTOFF


def test_hours_window_ends_with_the_newest_hour(client, published):
    body = get(client, "/api/hourly-trends?cities=dubai-ae&hours=3")
    assert [r["hour"] for r in body["data"]] == ["2026-11-21T03:00:00Z", "2026-11-21T04:00:00Z",
                                                 "2026-11-21T05:00:00Z"]


def test_default_cities_are_the_configured_ones_with_data(client, published):
    body = get(client, "/api/hourly-trends?hours=1")
    assert body["cities"] == ["london-gb", "tokyo-jp", "dubai-ae"]
    assert {r["city_id"] for r in body["data"]} == {"london-gb", "tokyo-jp", "dubai-ae"}


def test_city_statistics_include_the_live_records(client, published, observations):
    body = get(client, "/api/city-statistics")
    by_city = {r["city_id"]: r for r in body["data"]}
    expected = {r["city_id"]: r for r in reference.city_stats(observations) if "period" not in r}
    assert set(by_city) == set(expected)
    for city_id, want in expected.items():
        for field in ("record_count", "avg_temperature", "stddev_temperature", "max_temperature", "last_timestamp"):
            assert reference.close(by_city[city_id][field], want[field]), (city_id, field)
        assert by_city[city_id]["layer"] == "merged"


def test_daily_statistics_by_period(client, published, observations):
    body = get(client, "/api/daily-statistics?cities=tokyo-jp&period=day")
    expected = [r for r in reference.city_stats(observations) if r["city_id"] == "tokyo-jp" and r.get("period") == "day"]
    assert [(r["period_start"], r["record_count"]) for r in body["data"]] == [
        (r["period_start"], r["record_count"]) for r in sorted(expected, key=lambda r: r["period_start"], reverse=True)]
    assert body["period"] == "day"
    month = get(client, "/api/daily-statistics?cities=tokyo-jp&period=month&limit=1")
    assert [(r["period"], r["period_start"], r["record_count"]) for r in month["data"]] == [("month", "2026-11-01", 90)]


def test_current_conditions_are_the_latest_live_observations(client, published, observations):
    body = get(client, "/api/current")
    latest = {}
    for r in observations:
        if r["city_id"] not in latest or reference.ts(r["timestamp"]) > reference.ts(latest[r["city_id"]]["timestamp"]):
            latest[r["city_id"]] = r
    assert {r["city_id"]: (r["timestamp"], r["temperature"], r["layer"]) for r in body["data"]} == {
        c: (r["timestamp"], r["temperature"], "speed") for c, r in latest.items()}
    assert body["source"] == "speed"


def test_current_conditions_fall_back_to_the_newest_batch_hour(client, lake, observations):
    batch = data.before(observations, CUTOFF)
    publish_view(lake, "hourly_trends", reference.hourly_trends(batch), cutoff=CUTOFF)
    body = get(client, "/api/current?cities=london-gb")
    [row] = body["data"]
    assert row["layer"] == "batch" and row["timestamp"] == "2026-11-21T05:00:00Z"
    assert body["source"] == "batch"


def test_anomalies_from_batch_and_speed(client, lake, published):
    live = [{"city_id": "tokyo-jp", "city": "Tokyo", "timestamp": "2026-11-21T05:41:00Z", "metric": "humidity",
             "value": 99.0, "baseline": 60.0, "score": 11.2, "severity": "extreme", "method": "speed", "provisional": True}]
    write_snapshot(lake, data.after(data.observations(), CUTOFF), cutoff=CUTOFF, generated_at="2026-11-21T06:00:05Z",
                   sequence=2)
    snapshot = read_snapshot(lake)
    snapshot["cities"]["tokyo-jp"]["anomalies"] = live
    lake.write_atomic(SNAPSHOT_PATH, encode_snapshot(snapshot))

    body = get(client, "/api/anomalies")
    assert [(r["timestamp"], r["metric"], r["layer"]) for r in body["data"]] == [
        ("2026-11-21T05:41:00Z", "humidity", "speed"), ("2026-11-20T03:01:00Z", "temperature", "batch")]
    assert body["source"] == "merged"
    assert [r["metric"] for r in get(client, "/api/anomalies?severity=extreme")["data"]] == ["humidity"]
    assert [r["metric"] for r in get(client, "/api/anomalies?metric=temperature")["data"]] == ["temperature"]
    assert [r["metric"] for r in get(client, "/api/anomalies?hours=6")["data"]] == ["humidity"]
    assert get(client, "/api/anomalies?cities=london-gb")["state"] == "empty"
    assert len(get(client, "/api/anomalies?limit=1")["data"]) == 1


def test_anomalies_a_demo_injected_are_marked(client, lake, published):
    from datetime import UTC, datetime

    from weatherlake.lake import injected
    from weatherlake.sources import Anomaly

    [batch] = get(client, "/api/anomalies")["data"]
    assert "injected" not in batch
    other = Anomaly("tokyo-jp", datetime(2026, 11, 20, 3, tzinfo=UTC), "humidity", 30.0)
    assert injected.record(lake, [Anomaly(batch["city_id"], datetime(2026, 11, 20, 3, tzinfo=UTC), "temperature",
                                          12.5), other]) == 2
    assert injected.record(lake, [other]) == 2  # a producer restarted with the same anomalies adds nothing
    [marked] = get(client, "/api/anomalies")["data"]
    assert marked == {**batch, "injected": True}


def test_raw_data_reads_the_newest_committed_files(client, lake):
    rows = data.observations(hours=2, per_hour=2)
    lines = b"".join(orjson.dumps(r) + b"\n" for r in rows)
    lake.write("raw/date=2026-11-20/weather.observations+0+0000000000+0000000011.jsonl", lines)
    lake.write("raw/date=2026-11-19/weather.observations+0+0000000000+0000000000.jsonl", orjson.dumps(rows[0]) + b"\n")
    lake.write("raw/_tmp/weather.observations+0+0000000012+0000000013.jsonl", b"not committed")
    body = get(client, "/api/raw-data?cities=tokyo-jp&limit=3")
    assert body["date"] == "2026-11-20"
    tokyo = sorted((r for r in rows if r["city_id"] == "tokyo-jp"), key=lambda r: reference.ts(r["timestamp"]),
                   reverse=True)
    assert [r["timestamp"] for r in body["data"]] == [r["timestamp"] for r in tokyo[:3]]
    assert len(get(client, "/api/raw-data?date=2026-11-19")["data"]) == 1
    assert get(client, "/api/raw-data?date=2026-11-18")["state"] == "empty"


def test_cities_lists_data_and_configured_cities(client, published):
    body = get(client, "/api/cities")
    assert [(r["city_id"], r["city"], r["batch"], r["live"], r["configured"]) for r in body["data"]] == [
        ("dubai-ae", "Dubai", True, True, True), ("london-gb", "London", True, True, True),
        ("tokyo-jp", "Tokyo", True, True, True)]


@pytest.mark.parametrize("url", FIGURES)
def test_chart_endpoints_return_plotly_figures_with_points(client, published, url):
    body = get(client, url + "?cities=london-gb,tokyo-jp&hours=12")
    lines = [t for t in body["data"] if t.get("mode") == "lines+markers"]
    assert {t["name"] for t in lines} == {"London", "Tokyo"}
    assert all(len(t["x"]) == len(t["y"]) == 12 for t in lines)
    assert body["layout"]["shapes"][0]["x0"] == "2026-11-21 05:21:00"  # the batch cutoff line
    assert body["state"] == "ready" and body["source"] == "merged"


def test_temperature_chart_marks_the_anomalies(client, published):
    body = get(client, "/api/temperature-chart?cities=tokyo-jp&hours=48")
    [marks] = [t for t in body["data"] if t["name"] == "anomalies"]
    assert marks["x"] == ["2026-11-20 03:01:00"] and marks["y"] == [25.0]


def test_a_station_is_named_as_one_in_chart_legends(client, lake):
    rows = [data.observation("station-ws-0042", data.START, 1, city="Roof of the lab", schema_version=2,
                             station_id="ws-0042", source="station")]
    write_snapshot(lake, rows, cutoff=None, generated_at="2026-11-20T01:00:00Z")
    body = get(client, "/api/temperature-chart?cities=station-ws-0042")
    assert body["data"][0]["name"] == "Roof of the lab (station)"


def test_text_from_the_data_is_escaped_in_figures(client, lake):
    evil = "<img src=x onerror=alert(1)>"
    rows = [data.observation("evil-xx", data.START, 1, city=evil)]
    write_snapshot(lake, rows, cutoff=None, generated_at="2026-11-20T01:00:00Z")
    body = get(client, "/api/temperature-chart?cities=evil-xx")
    assert body["data"][0]["name"] == "&lt;img src=x onerror=alert(1)&gt;"
    assert get(client, "/api/current")["data"][0]["city"] == evil  # JSON carries the text as it is


# --- parameters -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "code", "fragment"),
    [
        ("/api/hourly-trends?hours=abc", "invalid_parameter", "hours must be an integer"),
        ("/api/hourly-trends?hours=0", "invalid_parameter", "from 1 to 2160"),
        ("/api/hourly-trends?hours=99999", "invalid_parameter", "from 1 to 2160"),
        ("/api/hourly-trends?hours=1&hours=2", "invalid_parameter", "given 2 times"),
        ("/api/hourly-trends?city=london-gb", "unknown_parameter", "unknown parameter 'city'"),
        ("/api/hourly-trends?cities=London", "invalid_parameter", "city ids"),
        ("/api/hourly-trends?cities=" + ",".join(f"c{i}-xx" for i in range(11)), "invalid_parameter", "at most 10"),
        ("/api/current?cities=a;drop", "invalid_parameter", "city ids"),
        ("/api/current?cities=" + ",".join(f"c{i}-xx" for i in range(101)), "invalid_parameter", "at most 100"),
        ("/api/daily-statistics?period=year", "invalid_parameter", "one of day, week, month"),
        ("/api/daily-statistics?limit=-1", "invalid_parameter", "limit"),
        ("/api/anomalies?severity=low", "invalid_parameter", "severity"),
        ("/api/anomalies?metric=rainfall", "invalid_parameter", "metric"),
        ("/api/anomalies?limit=1001", "invalid_parameter", "limit"),
        ("/api/raw-data?date=2026-13-01", "invalid_parameter", "a date like"),
        ("/api/raw-data?date=yesterday", "invalid_parameter", "a date like"),
        ("/api/pipeline?verbose=1", "unknown_parameter", "allowed: none"),
        ("/api/temperature-chart?hours=1.5", "invalid_parameter", "integer"),
        ("/?refresh=fast", "invalid_parameter", "refresh"),
    ],
)
def test_bad_parameters_get_a_400_json_error(client, url, code, fragment):
    body = get(client, url, 400)
    assert body["error"]["code"] == code
    assert fragment in body["error"]["message"]


def test_an_unknown_city_is_a_404(client, published):
    body = get(client, "/api/hourly-trends?cities=atlantis-xx", 404)
    assert body["error"] == {"code": "unknown_city",
                             "message": "unknown city id 'atlantis-xx' (GET /api/cities lists them)"}


def test_a_catalogue_city_without_data_is_empty_not_an_error(client, published):
    body = get(client, "/api/hourly-trends?cities=paris-fr")
    assert body["data"] == [] and body["state"] == "empty"


def test_unknown_routes_and_methods_are_json_errors(client):
    assert get(client, "/api/nothing-here", 404)["error"]["code"] == "not_found"
    response = client.post("/api/current")
    assert response.status_code == 405 and orjson.loads(response.data)["error"]["code"] == "method_not_allowed"


# --- reloading --------------------------------------------------------------------------------------


def test_a_new_run_and_a_new_snapshot_are_picked_up(client, lake, published, observations):
    first = get(client, "/api/health")["data_version"]
    assert get(client, "/api/health")["data_version"] == first  # nothing changed: same data, nothing re-read
    later = "2026-11-21T05:41:01Z"
    publish_view(lake, "hourly_trends", reference.hourly_trends(observations), cutoff=later,
                 run_id="20261121T010000Z-0002")
    body = get(client, "/api/hourly-trends?cities=london-gb&hours=1")
    assert body["cutoff"] == later and body["freshness"]["batch"]["run_id"] == "20261121T010000Z-0002"
    # The snapshot still covers from the old cutoff: its hours up to the new cutoff's are left out.
    assert body["data"][0]["record_count"] == 3 and body["data"][0]["layer"] == "batch"
    assert get(client, "/api/health")["data_version"] == first + 1


def test_the_store_reloads_in_the_background(settings, lake, observations):
    app = create_app(settings, {"RELOAD_SECONDS": 0})
    client = app.test_client()
    assert get(client, "/api/current")["data"] == []
    write_snapshot(lake, observations[:3], cutoff=None, generated_at="2026-11-20T00:30:00Z")
    store = app.extensions["weatherlake"]["store"]
    import time

    deadline = time.monotonic() + 10
    while not store.current().snapshot and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(get(client, "/api/current")["data"]) == 3


# --- pipeline, metrics, OpenAPI, dashboard ----------------------------------------------------------


def test_pipeline_reports_ingest_lag_dead_letters_runs_and_ages(client, lake, settings, published):
    lake.write_atomic(f"raw/_state/{settings.kafka_topic}+0.json", b'{"next_offset": 90, "pending": []}')
    lake.write_atomic(f"raw/_state/{settings.kafka_topic}+1.json", b'{"next_offset": 40, "pending": []}')
    lake.write_atomic("raw/_state/other-topic+0.json", b'{"next_offset": 5, "pending": []}')
    hour = [hour_text(datetime.now(UTC) - timedelta(hours=back)) for back in (30, 5, 0)]
    write_snapshot(lake, [], cutoff=CUTOFF, generated_at="2026-11-21T06:00:00Z", sequence=3, extra={
        "topic": settings.kafka_topic,
        "offsets": {"0": 100, "1": 38},
        "lag_by_hour": {hour[0]: {"sink": 90_000, "speed": 90_000, "samples": 60},  # over a day ago
                        hour[1]: {"sink": 41_250, "speed": 2, "samples": 60},
                        hour[2]: {"sink": None, "speed": 7, "samples": 3}},  # the sink's state unreadable
        "kafka": {"checked_at": "2026-11-21T06:00:00Z", "end_offsets": {"0": 95, "1": 41},
                  "dlq_topic": settings.kafka_dlq_topic, "dlq_end_offsets": {"0": 2, "1": 0, "2": 1}},
    })
    body = get(client, "/api/pipeline")
    assert body["ingest"]["partitions"] == [
        # partition 0's end offset reads below the speed layer's position (a lagging high watermark): 100, not 95
        {"partition": 0, "end_offset": 100, "lake_committed_offset": 90, "sink_lag": 10, "speed_offset": 100,
         "speed_lag": 0},
        {"partition": 1, "end_offset": 41, "lake_committed_offset": 40, "sink_lag": 1, "speed_offset": 38,
         "speed_lag": 3},
    ]
    assert body["ingest"]["lake_committed_total"] == 130
    assert body["ingest"]["lag_last_24h"] == {"sink_max": 41_250, "speed_max": 7, "by_hour": [
        {"hour": hour[1], "sink": 41_250, "speed": 2}, {"hour": hour[2], "sink": None, "speed": 7}]}
    assert body["ingest"]["dead_lettered"] == 3
    assert body["speed"]["state"] == "stale"  # written long ago
    assert body["batch"]["last_run"]["run_id"] == "20261121T000000Z-0001"
    assert body["batch"]["last_run"]["cutoff"] == CUTOFF
    hourly = body["batch"]["views"]["hourly_trends"]
    assert hourly["state"] == "ready" and hourly["rows"] == 90 and hourly["age_seconds"] > 0


def test_metrics_expose_requests_and_freshness(client, published):
    get(client, "/api/current")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'weatherlake_http_requests_total{endpoint="/api/current",method="GET",status="200"}' in text
    assert 'weatherlake_http_request_duration_seconds_bucket{endpoint="/api/current"' in text
    assert 'weatherlake_view_rows{view="hourly_trends"} 90.0' in text
    assert 'weatherlake_view_age_seconds{view="city_stats"}' in text
    assert "weatherlake_speed_cities 3.0" in text
    assert "weatherlake_lake_up 1.0" in text


def test_openapi_documents_every_route_and_parameter(app, client):
    doc = get(client, "/api/openapi.json")
    assert doc["openapi"].startswith("3.")
    routes = {re.sub(r"<(\w+)>", r"{\1}", rule.rule) for rule in app.url_map.iter_rules()
              if rule.endpoint != "static" and not rule.rule.startswith("/static/")}
    assert routes == set(doc["paths"])
    for ep in ENDPOINTS:
        documented = {p["name"] for p in doc["paths"][ep.rule]["get"]["parameters"]}
        assert documented == {p.name for p in ep.params}, ep.rule
    assert doc["paths"]["/api/hourly-trends"]["get"]["parameters"][1]["schema"] == {
        "type": "integer", "minimum": 1, "maximum": 2160, "default": 48}


def test_dashboard_page_and_local_plotly(client, settings):
    page = client.get("/?refresh=5")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert '"refreshSeconds": 5' in html
    assert f"/static/vendor/plotly.min.js?v={get_plotlyjs_version()}-basic" in html and "cdn" not in html.lower()
    js = client.get("/static/vendor/plotly.min.js")
    assert js.status_code == 200 and js.mimetype == "text/javascript"
    assert js.data == dashboard.PLOTLY_BASIC.read_bytes() and len(js.data) > 1_000_000
    assert client.get("/static/dashboard/dashboard.js").status_code == 200


def test_requests_do_not_touch_the_lake_between_reloads(settings, published):
    app = create_app(settings, {"RELOAD_SECONDS": 3600, "BACKGROUND_REFRESH": False})
    client = app.test_client()
    get(client, "/api/health")  # the first load
    store = app.extensions["weatherlake"]["store"]
    calls = []

    class Counting:
        def __init__(self, lake):
            self.lake = lake

        def __getattr__(self, name):
            calls.append(name)
            return getattr(self.lake, name)

    store._lake = Counting(store.lake)
    for url in ["/api/current", "/api/city-statistics", "/api/hourly-trends", "/api/anomalies", "/api/cities",
                "/api/daily-statistics", "/api/temperature-chart", "/api/pipeline", "/metrics"]:
        assert client.get(url).status_code == 200, url
    assert calls == []


def test_registered_stations_are_listed_and_marked_in_the_city_list(app, lake):
    from tests.stations.test_catalogue import station_reading
    from weatherlake.stations.catalogue import StationCatalogue

    client = app.test_client()
    assert get(client, "/api/stations")["state"] == "not_published"
    book = StationCatalogue()
    for minutes, station in ((0, "ws-2"), (5, "ws-1"), (65, "ws-1")):
        book.observe(station_reading(station, minutes, name=f"{station} roof"))
    book.save(lake)
    stations = get(client, "/api/stations")["data"]
    assert [(s["station_id"], s["first_seen"], s["last_seen"]) for s in stations] == [
        ("ws-1", "2026-12-06T12:05:00Z", "2026-12-06T13:05:00Z"), ("ws-2", "2026-12-06T12:00:00Z", "2026-12-06T12:00:00Z")]
    cities = {row["city_id"]: row for row in get(client, "/api/cities")["data"]}
    assert {k: cities["station-ws-1"][k] for k in ("city", "station", "station_id", "latitude")} == {
        "city": "ws-1 roof", "station": True, "station_id": "ws-1", "latitude": 51.5}
    assert cities["london-gb"]["station"] is False
