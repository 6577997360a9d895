"""Security headers, bounded metric labels, no internals in answers, the debugger kept on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import orjson
import pytest
import requests
from click.testing import CliRunner

from tests.conftest import free_port
from weatherlake.config import Settings
from weatherlake.errors import ConfigError, LakeError
from weatherlake.lake import LocalLake
from weatherlake.web import create_app
from weatherlake.web.commands import serve


def boom():
    raise RuntimeError("failed at /srv/weatherlake/secret/place.py line 7 on host db.internal")


@pytest.fixture
def app(settings):
    app = create_app(settings, {"TESTING": False, "RELOAD_SECONDS": 0, "BACKGROUND_REFRESH": False})
    app.add_url_rule("/boom", view_func=boom)
    return app


# --- headers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [("GET", "/", 200), ("GET", "/api/health", 200), ("GET", "/api/current", 200), ("GET", "/api/openapi.json", 200),
     ("GET", "/metrics", 200), ("GET", "/static/vendor/plotly.min.js", 200),
     ("GET", "/static/dashboard/dashboard.js", 200), ("GET", "/static/dashboard/nothing.css", 404),
     ("GET", "/api/nothing-here", 404), ("POST", "/api/current", 405), ("GET", "/api/hourly-trends?hours=0", 400),
     ("GET", "/boom", 500)],
)
def test_every_response_carries_the_security_headers(client, method, url, status):
    response = client.open(url, method=method)
    assert response.status_code == status
    csp = response.headers.get("Content-Security-Policy", "")
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-eval" not in csp and "script-src 'self' 'unsafe-inline'" not in csp
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("X-Frame-Options") == "DENY"
    assert response.headers.get("Referrer-Policy") == "no-referrer"


def test_the_page_has_no_inline_script_to_allow(client):
    html = client.get("/").get_data(as_text=True)
    assert "onsubmit" not in html and "onclick" not in html and "javascript:" not in html
    # The one inline <script> is data (type application/json), which a CSP does not run.
    assert html.count("<script") == 3 and html.count('type="application/json"') == 1


# --- metric labels ------------------------------------------------------------------------------------


def test_unknown_methods_and_paths_do_not_mint_metric_series(client):
    for method in ("BREW", "PROPFIND", "X" * 40, "get"):
        client.open("/api/current", method=method)
    for i in range(5):
        client.get(f"/no/such/path/{i}")
    text = client.get("/metrics").get_data(as_text=True)
    series = [line for line in text.splitlines() if line.startswith("weatherlake_http_requests_total{")]
    methods = {line.split('method="')[1].split('"')[0] for line in series}
    endpoints = {line.split('endpoint="')[1].split('"')[0] for line in series}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}, methods
    assert "other" in methods
    assert not any(e.startswith("/no/") for e in endpoints) and "unmatched" in endpoints


# --- what answers show ---------------------------------------------------------------------------------


class UnreadableRaw(LocalLake):
    """A lake whose raw partitions cannot be listed; the error names the path, as real ones do."""

    def sizes(self, directory):
        raise LakeError(f"WebHDFS refused sizes {directory} at http://namenode.internal:9870: AccessControlException "
                        f"under {self.root}")


def test_a_lake_error_answer_names_no_host_or_path(app, lake, settings):
    lake.write("raw/date=2026-11-20/weather.observations+0+0000000000+0000000000.jsonl", b"{}\n")
    client = app.test_client()
    client.get("/api/health")
    app.extensions["weatherlake"]["store"]._lake = UnreadableRaw(lake.root)
    response = client.get("/api/raw-data")
    assert response.status_code == 503
    body = response.get_data(as_text=True)
    assert orjson.loads(body)["error"]["code"] == "lake_unavailable"
    assert "namenode.internal" not in body and str(lake.root) not in body and "raw/" not in body


def test_an_internal_error_shows_no_details(app):
    response = app.test_client().get("/boom")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert orjson.loads(body)["error"]["code"] == "internal_error"
    assert "/srv" not in body and "db.internal" not in body and "Traceback" not in body


def test_health_and_pipeline_name_no_host_or_path(make_settings, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the lake should be")
    app = create_app(make_settings(lake_url=blocker.as_uri()), {"RELOAD_SECONDS": 0, "BACKGROUND_REFRESH": False})
    client = app.test_client()
    health = client.get("/api/health")
    pipeline = client.get("/api/pipeline")
    assert health.status_code == 503 and orjson.loads(health.data)["lake"]["state"] == "error"
    assert orjson.loads(pipeline.data)["lake"]["error"]
    for body in (health.get_data(as_text=True), pipeline.get_data(as_text=True)):
        assert str(tmp_path) not in body and "file://" not in body and "Errno" not in body


def test_pipeline_says_what_kind_of_lake_not_where(client):
    lake = orjson.loads(client.get("/api/pipeline").data)["lake"]
    assert lake["kind"] == "local" and "url" not in lake


# --- serve --dev ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "example.com"])
def test_serve_dev_refuses_anything_but_loopback(host):
    result = CliRunner().invoke(serve, ["--dev", "--host", host], obj=Settings.from_env({}))
    assert isinstance(result.exception, ConfigError)
    assert "loopback" in str(result.exception) and "--dev" in str(result.exception)


def test_serve_dev_refuses_a_non_loopback_web_host_from_the_environment():
    result = CliRunner().invoke(serve, ["--dev"], obj=Settings.from_env({"WEB_HOST": "0.0.0.0"}))
    assert isinstance(result.exception, ConfigError)


@pytest.mark.slow
def test_serve_dev_runs_its_debugger_on_loopback(make_settings):
    settings = make_settings()
    port = free_port()
    env = {**os.environ, "LAKE_URL": settings.lake_url, "WEB_PORT": str(port), "WEB_HOST": "127.0.0.1"}
    process = subprocess.Popen([sys.executable, "-m", "weatherlake", "serve", "--dev"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/?__debugger__=yes&cmd=resource&f=debugger.js", timeout=5)
                break
            except requests.ConnectionError:
                assert process.poll() is None and time.monotonic() < deadline, "the dev server did not come up"
                time.sleep(0.2)
        assert answer.status_code == 200 and "debugger" in answer.text.lower()  # the debugger, on loopback only
    finally:
        process.terminate()
        process.wait(30)
