"""The dashboard in a real headless Chromium (Debian's ``chromium``), against the running app.

Playwright drives the system browser (``executable_path``); its own browser download is
never used. Screenshots land in test-artifacts/ (gitignored).
"""

from __future__ import annotations

import shutil
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.request import urlopen

import orjson
import pytest
from werkzeug.serving import make_server

from tests.stations.test_catalogue import station_reading
from tests.web import data
from tests.web.conftest import CUTOFF
from tests.web.lakedata import write_snapshot
from weatherlake.lake import injected
from weatherlake.sources import Anomaly
from weatherlake.stations.catalogue import StationCatalogue
from weatherlake.timefmt import hour_text
from weatherlake.web import create_app

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"]
CHARTS = ("chart-temperature", "chart-humidity", "chart-pressure-wind")
EVIL = '<img src=x onerror="window.__xss=1">'
#: Records every Content-Security-Policy violation the page reports (runs before the page's own scripts).
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + e.sourceFile));
"""


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Debian's chromium is needed for this test: scripts/bootstrap.sh --test installs it"
    return path


@pytest.fixture
def server(settings, published):
    app = create_app(settings, {"RELOAD_SECONDS": 0.2})
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(10)


@pytest.fixture
def browser(tmp_path):
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=chromium_path(),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        context.add_init_script(RECORD_CSP_VIOLATIONS)
        try:
            yield context
        finally:
            context.close()


def wait_until(page, expression: str, timeout: float = 20.0) -> None:
    """Poll ``expression`` from outside the page until it is truthy. (page.wait_for_function
    compiles its predicate inside the page with eval, which the dashboard's CSP refuses.)"""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        page.wait_for_timeout(50)


def refresh_count(page) -> int:
    return int(page.evaluate("document.body.dataset.refreshCount"))


def test_the_dashboard_renders_every_part_and_refreshes_itself(server, browser, lake):
    # A live city whose name is markup: it must show as text and run nothing.
    live = data.after(data.observations(), CUTOFF) + [data.observation("evil-xx", data.START, 7, city=EVIL, timestamp="2026-11-21T05:50:00Z")]
    station = {**station_reading("ws-1", 0, name="Roof"), "timestamp": "2026-11-21T05:40:00Z"}  # a live station
    live.append(station)
    stall = {hour_text(datetime.now(UTC)): {"sink": 41250, "speed": 3, "samples": 1}}  # earlier this hour
    write_snapshot(lake, live, cutoff=CUTOFF, generated_at="2026-11-21T06:00:00Z", extra={"lag_by_hour": stall})
    injected.record(lake, [Anomaly("tokyo-jp", datetime(2026, 11, 20, 3, tzinfo=UTC), "temperature", 12.0)])
    stations = StationCatalogue()
    stations.observe(station)
    stations.save(lake)

    page = browser.new_page()
    problems = []
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}"))

    answer = page.goto(server + "/?refresh=1")
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    wait_until(page, "Number(document.body.dataset.refreshCount) >= 1")

    for chart in CHARTS:
        points = page.evaluate(
            "id => (document.getElementById(id).data || []).reduce((n, t) => n + (t.x ? t.x.length : 0), 0)", chart)
        assert points > 0, chart
    legend = page.evaluate("() => [...document.querySelectorAll('#chart-temperature .legendtext')].map(e => e.textContent)")
    assert {"London", "Tokyo", "Dubai"} <= set(legend)
    assert page.locator("#stats-table tbody tr").count() == 5
    assert page.locator("#anomalies-table tbody tr").count() == 1
    assert "Tokyo" in page.locator("#anomalies-table tbody").inner_text()
    assert page.locator("#anomalies-table tbody .tag").inner_text() == "injected"
    assert page.locator("#current-cards .card").count() == 3  # the configured cities, not every city
    assert page.locator("#health .card").count() >= 5
    assert "at most 41250 in 24 h" in page.locator("#health").inner_text()  # a stall that is over still shows
    assert page.locator("#panel-temperature .badge").inner_text() == "merged"
    # The map: the app's own coastlines, every located city and the station.
    traces = page.evaluate("() => document.getElementById('location-map').data.map(t => [t.name, t.x.length])")
    cities = [r for r in orjson.loads(urlopen(server + "/api/cities").read())["data"] if r.get("latitude") is not None]
    assert traces[0][0] == "land" and traces[0][1] > 5000
    assert traces[1:] == [["Cities", len(cities) - 1], ["Stations", 1]]
    assert page.locator("#panel-map .state").inner_text() == f"{len(cities)} locations"
    assert "Roof (station)" in page.locator("#city-select").inner_text()

    # The markup in the city name is shown as text and never runs.
    assert EVIL in page.locator("#stats-table").text_content()
    assert page.evaluate("window.__xss") is None
    assert page.locator("#stats-table img").count() == 0

    # An auto-refresh cycle picks up a new snapshot without a reload.
    before = refresh_count(page)
    newer = data.observation("london-gb", data.START, 1, timestamp="2026-11-21T06:10:00Z", temperature=23.0)
    write_snapshot(lake, live + [newer], cutoff=CUTOFF, generated_at="2026-11-21T06:10:05Z", sequence=2)
    wait_until(page, "() => document.getElementById('current-cards').innerText.includes('23.0 °C')")
    wait_until(page, f"Number(document.body.dataset.refreshCount) > {before}")

    # The evil city chosen: its card and Plotly's legend show the name as text.
    page.select_option("#city-select", "evil-xx")
    wait_until(page, "() => [...document.querySelectorAll('#chart-temperature .legendtext')].some(e => e.textContent.includes('<img'))")
    wait_until(page, "() => document.getElementById('current-cards').textContent.includes('<img')")
    assert EVIL in page.locator("#current-cards").text_content()
    assert page.evaluate("window.__xss") is None
    assert page.locator("main img").count() == 0

    ARTIFACTS.mkdir(exist_ok=True)
    page.select_option("#city-select", "")
    wait_until(page, "() => document.querySelectorAll('#chart-temperature .legendtext').length >= 3")
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1  # no sideways scrolling on a phone
    page.select_option("#city-select", "tokyo-jp")  # choosing, hovering, zooming: everything Plotly draws
    wait_until(page, "() => document.querySelectorAll('#chart-humidity .legendtext').length === 1")
    page.hover("#chart-temperature .nsewdrag")
    page.keyboard.press("Enter")  # in the form: must not submit it
    assert page.evaluate("window.__cspViolations") == []
    assert not problems, problems


def test_the_empty_dashboard_says_what_to_do(settings, browser):
    app = create_app(settings, {"RELOAD_SECONDS": 0.2})
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"http://127.0.0.1:{httpd.server_port}/?refresh=0")
        wait_until(page, "Number(document.body.dataset.refreshCount) >= 1")
        assert "weatherlake analytics" in page.locator("#panel-temperature .state").inner_text()
        assert "not published" in page.locator("#health").inner_text()
        assert page.locator("#pause-button").inner_text() == "Resume"  # refresh=0 starts paused
        assert page.evaluate("window.__cspViolations") == []
        assert not errors
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-empty.png"), full_page=True)
    finally:
        httpd.shutdown()



@pytest.mark.broker
def test_alerts_are_listed_counted_and_acknowledged_from_the_dashboard(broker, make_settings, lake, browser):
    from kafka import KafkaConsumer

    from tests.web.test_alerts_api import TOKEN, write_alerts
    from weatherlake.config import Secret
    from weatherlake.ingest import kafka

    write_alerts(lake)  # London's heat firing (critical), Tokyo's wind acknowledged, Dubai's silence resolved
    servers = []

    def serve(settings) -> str:
        httpd = make_server("127.0.0.1", 0, create_app(settings, {"RELOAD_SECONDS": 0.2}), threaded=True)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_port}/?refresh=0"

    readonly = make_settings(broker, cities=("london-gb", "tokyo-jp", "dubai-ae"))
    writable = make_settings(broker, cities=("london-gb", "tokyo-jp", "dubai-ae"), api_token=Secret(TOKEN))
    kafka.ensure_topics(writable)
    try:
        page = browser.new_page()
        page.goto(serve(readonly))
        wait_until(page, "Number(document.body.dataset.refreshCount) >= 1")
        assert page.locator("#alert-counts").inner_text() == "1 firing · 1 acknowledged"
        assert "critical" in page.locator("#alert-counts").get_attribute("class")
        states = page.eval_on_selector_all("#alerts-table tbody tr", "rows => rows.map(r => r.dataset.state)")
        assert states == ["firing", "acknowledged", "resolved"]  # open first, by severity
        assert page.locator("#alerts-table button").count() == 0 and page.locator("#alert-auth").is_hidden()

        page = browser.new_page()
        page.goto(serve(writable))
        wait_until(page, "Number(document.body.dataset.refreshCount) >= 1")
        first = page.locator("#alerts-table tbody tr").first
        assert first.locator("button").all_inner_texts() == ["Acknowledge", "Resolve"]
        first.locator("button.ack").click()  # without the token: asked for, nothing sent
        assert "API token" in page.locator("#panel-alerts .state").inner_text()
        page.fill("#alert-token", TOKEN)
        page.fill("#alert-by", "ana")
        first.locator("button.ack").click()
        wait_until(page, "() => document.querySelector('#alerts-table tbody tr').dataset.state === 'acknowledged'")
        assert "acknowledged by ana" in page.locator("#panel-alerts .state").inner_text()
        assert page.evaluate("window.__cspViolations") == []
    finally:
        for httpd in servers:
            httpd.shutdown()
    consumer = KafkaConsumer(writable.alert_topic, bootstrap_servers=writable.bootstrap_servers,
                             auto_offset_reset="earliest", consumer_timeout_ms=10_000)
    try:
        [event] = [orjson.loads(m.value) for m in consumer]
    finally:
        consumer.close()
    assert (event["type"], event["alert_id"], event["by"]) == ("acknowledged", "heat.london-gb.20261125T070000Z", "ana")
