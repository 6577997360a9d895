"""What a worker keeps in memory: the views cut to what the API can show, a cache bounded in bytes."""

from __future__ import annotations

import tracemalloc
from datetime import datetime, timedelta

import orjson
import pytest

from tests.web import data
from tests.web.lakedata import publish_view, write_snapshot
from weatherlake.web import create_app, merge
from weatherlake.web.cache import BoundedCache, approximate_size
from weatherlake.web.params import HOURS, PERIODS_LIMIT

CUTOFF = "2026-11-21T05:21:00Z"


def hourly_rows(city_id: str, hours: int, end: str = "2026-11-21T05:00:00Z") -> list[dict]:
    """``hours`` consecutive hourly_trends rows of one city, oldest first, the last at ``end``."""
    last = datetime.fromisoformat(end)
    rows = []
    for h in range(hours - 1, -1, -1):
        t = round(10 + (h * 7) % 13 / 3, 4)
        rows.append({"city_id": city_id, "city": city_id.split("-")[0].title(),
                     "hour": (last - timedelta(hours=h)).strftime("%Y-%m-%dT%H:00:00Z"), "record_count": 3,
                     "avg_temperature": t, "min_temperature": t - 1, "max_temperature": t + 1, "avg_humidity": 60.0,
                     "avg_pressure": 1012.0, "avg_wind_speed": 3.0, "total_rainfall": 0.0,
                     "rolling_24h_avg_temperature": t, "rolling_24h_record_count": 72})
    return rows


def make_app(settings, **config):
    return create_app(settings, {"TESTING": True, "RELOAD_SECONDS": 0, "BACKGROUND_REFRESH": False, **config})


def loaded_of(app):
    return app.extensions["weatherlake"]["store"].current()


def get(client, url):
    response = client.get(url)
    assert response.status_code == 200, (url, response.get_data(as_text=True)[:300])
    return orjson.loads(response.data)


# --- the size estimate -------------------------------------------------------------------------------


def allocated(build) -> tuple[object, int]:
    tracemalloc.start()
    try:
        value = build()
        return value, tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("kind", ["rows", "figure", "encoded"])
def test_the_size_estimate_is_close_to_what_python_allocates(kind):
    lines = [orjson.dumps(row) for row in hourly_rows("london-gb", 2000)]
    if kind == "rows":
        value, size = allocated(lambda: [orjson.loads(line) for line in lines])
    elif kind == "figure":
        body = orjson.dumps({"data": [{"x": [r["hour"] for r in map(orjson.loads, lines)],
                                       "y": [r["avg_temperature"] for r in map(orjson.loads, lines)]}],
                             "layout": {"title": {"text": "t"}}})
        value, size = allocated(lambda: orjson.loads(body))
    else:
        value, size = allocated(lambda: (b"".join(lines), len(lines), "batch"))
    assert 0.75 * size <= approximate_size(value) <= 1.25 * size, (approximate_size(value), size)


def test_a_bounded_cache_keeps_the_most_recently_used_within_its_bytes():
    cache = BoundedCache(1000)
    for key in "abcd":
        cache.put(key, key, size=300)
    assert cache.get("a") is None and cache.bytes == 900  # the oldest made room for "d"
    cache.get("b")  # now the most recently used
    cache.put("e", "e", size=300)
    assert [key for key, _, _ in cache.items()] == ["d", "b", "e"]
    cache.put("huge", "x", size=1001)  # bigger than the whole budget: not kept, nothing dropped for it
    assert cache.get("huge") is None and cache.bytes == 900


# --- the response cache --------------------------------------------------------------------------------


def test_the_response_cache_stays_within_its_byte_budget(settings, lake, published):
    app = make_app(settings, CACHE_BYTES=400_000)
    client = app.test_client()
    for hours in range(1, 120):
        get(client, f"/api/hourly-trends?hours={hours}")
        get(client, f"/api/anomalies?hours={hours}")
        get(client, f"/api/daily-statistics?limit={hours}")
    loaded = loaded_of(app)
    held = sum(approximate_size(value) for _, value, _ in loaded.cache.items())
    assert held <= 400_000 and loaded.cache.bytes <= 400_000
    # Still answered right after evictions: the same as a fresh worker answers.
    url = "/api/hourly-trends?cities=london-gb&hours=30"
    assert get(client, url)["data"] == get(make_app(settings).test_client(), url)["data"]


def test_the_cache_budget_comes_from_web_cache_mb(make_settings):
    app = create_app(make_settings(web_cache_mb=3), {"TESTING": True})
    assert app.config["CACHE_BYTES"] == 3 * 1024 * 1024


# --- the views: only what the API can show -------------------------------------------------------------


def test_only_the_hours_a_request_can_reach_are_kept_of_a_long_history(settings, lake, observations):
    rows = hourly_rows("london-gb", 3000) + hourly_rows("tokyo-jp", 100)
    publish_view(lake, "hourly_trends", rows, cutoff=CUTOFF)
    app = make_app(settings)
    client = app.test_client()
    longest = get(client, f"/api/hourly-trends?cities=london-gb&hours={HOURS.maximum}")
    kept = loaded_of(app).views["hourly_trends"].by_city
    assert len(kept["london-gb"]) == HOURS.maximum + 23 and len(kept["tokyo-jp"]) == 100
    assert [r["hour"] for r in longest["data"]] == [r["hour"] for r in rows[3000 - HOURS.maximum:3000]]
    assert loaded_of(app).views["hourly_trends"].row_count == 3100  # the published run's size

    # With live hours merged in (the rolling average recomputed over the cut), the same
    # answer as a merge over the whole history.
    write_snapshot(lake, data.after(observations, CUTOFF), cutoff=CUTOFF, generated_at="2026-11-21T06:00:00Z")
    live = loaded_of(app).speed_cities["london-gb"]["hours"]
    whole = merge.merge_hourly(rows[:3000], live, CUTOFF, CUTOFF, city_id="london-gb", city="London")
    answer = get(client, f"/api/hourly-trends?cities=london-gb&hours={HOURS.maximum}")
    assert answer["data"] == whole[-HOURS.maximum:]


def test_the_newest_periods_a_request_can_reach_are_kept(settings, lake):
    def stats(period, start, count):
        return {"city_id": "london-gb", "city": "London", "period": period, "period_start": start,
                "record_count": count, "avg_temperature": 10.0, "min_temperature": 5.0, "max_temperature": 15.0,
                "stddev_temperature": 1.0, "avg_humidity": 60.0, "avg_wind_speed": 3.0, "total_rainfall": 0.0,
                "avg_pressure": 1012.0, "first_timestamp": start + "T00:00:00Z", "last_timestamp": start + "T23:00:00Z"}

    days = [stats("day", (data.START - timedelta(days=d)).date().isoformat(), 24) for d in range(500)]
    whole = {**stats(None, "2025-07-08", 12000), "period": None}
    publish_view(lake, "city_stats", [whole, *days, stats("month", "2026-11-01", 480)], cutoff=CUTOFF)
    app = make_app(settings)
    answer = get(app.test_client(), f"/api/daily-statistics?cities=london-gb&limit={PERIODS_LIMIT.maximum}")
    assert [r["period_start"] for r in answer["data"]] == [r["period_start"] for r in days[:PERIODS_LIMIT.maximum]]
    kept = loaded_of(app).views["city_stats"].by_city["london-gb"]
    assert len(kept) == 1 + PERIODS_LIMIT.maximum + 1


def test_a_view_no_endpoint_shows_is_not_loaded(client, published):
    pipeline = get(client, "/api/pipeline")
    assert pipeline["batch"]["views"]["diurnal_profile"]["rows"] == 72  # from its pointer
    assert loaded_of(client.application).views["diurnal_profile"].by_city == {}
    assert 'weatherlake_view_rows{view="diurnal_profile"} 72.0' in client.get("/metrics").get_data(as_text=True)


def test_loading_a_long_history_never_holds_all_of_it(settings, lake):
    rows = [row for i in range(8) for row in hourly_rows(f"city{i}-xx", 4000)]
    publish_view(lake, "hourly_trends", rows, cutoff=CUTOFF)
    app = make_app(settings)
    tracemalloc.start()
    try:
        loaded_of(app)
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(map(len, loaded_of(app).views["hourly_trends"].by_city.values())) == 8 * (HOURS.maximum + 23)
    # Reading the run's file whole, then all its rows, peaked at 1.35 times what was kept.
    assert peak < 1.15 * kept, f"peak {peak:,} bytes, {kept:,} kept"
