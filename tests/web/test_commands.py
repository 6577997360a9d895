"""The `weatherlake speed` and `weatherlake serve` commands: help, settings checks, gunicorn."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests
from click.testing import CliRunner

from tests.conftest import free_port
from tests.web.lakedata import write_snapshot
from weatherlake.config import Settings
from weatherlake.errors import ConfigError
from weatherlake.speed.commands import speed
from weatherlake.web.commands import gunicorn_options, serve


@pytest.mark.parametrize("command", [speed, serve])
def test_commands_have_help(command):
    result = CliRunner().invoke(command, ["--help"], obj=Settings.from_env({}))
    assert result.exit_code == 0
    assert len(result.output.split("\n\n")[1].strip()) > 20


@pytest.mark.parametrize(
    ("environ", "message"),
    [({"WEB_THREADS": "0"}, "WEB_THREADS must be at least 1"),
     ({"WEB_RELOAD_SECONDS": "-1"}, "WEB_RELOAD_SECONDS must not be negative")],
)
def test_serve_refuses_bad_settings(environ, message):
    result = CliRunner().invoke(serve, [], obj=Settings.from_env(environ))
    assert isinstance(result.exception, ConfigError) and message in str(result.exception)


@pytest.mark.parametrize(
    ("environ", "message"),
    [({"SPEED_SNAPSHOT_SECONDS": "0"}, "SPEED_SNAPSHOT_SECONDS must be positive"),
     ({"SPEED_MAX_HOURS": "0"}, "SPEED_MAX_HOURS must be at least 1")],
)
def test_speed_refuses_bad_settings(environ, message, tmp_path):
    settings = Settings.from_env({**environ, "LAKE_URL": tmp_path.as_uri()})
    result = CliRunner().invoke(speed, [], obj=settings)
    assert isinstance(result.exception, ConfigError) and message in str(result.exception)


def test_serve_rejects_a_bad_port_as_a_usage_error():
    result = CliRunner().invoke(serve, ["--port", "70000"], obj=Settings.from_env({}))
    assert result.exit_code == 2 and "70000" in result.output


def test_gunicorn_options_follow_the_settings():
    options = gunicorn_options(Settings.from_env({"WEB_HOST": "0.0.0.0", "WEB_PORT": "8080", "WEB_WORKERS": "3",
                                                  "WEB_THREADS": "2"}))
    assert (options["bind"], options["workers"], options["threads"], options["worker_class"]) == (
        "0.0.0.0:8080", 3, 2, "gthread")


@pytest.mark.slow
def test_serve_runs_gunicorn_and_stops_on_sigterm(make_settings, lake_dir):
    settings = make_settings()
    from weatherlake.lake import open_lake

    with open_lake(settings) as lake:
        write_snapshot(lake, [], cutoff=None, generated_at="2026-11-21T06:00:00Z")
    port = free_port()
    env = {**os.environ, "LAKE_URL": settings.lake_url, "WEB_PORT": str(port), "WEB_WORKERS": "2",
           "KAFKA_TOPIC": settings.kafka_topic}
    code = "from weatherlake.config import Settings; from weatherlake.web.commands import serve; " \
           "serve.main(args=[], obj=Settings.from_env(), prog_name='weatherlake serve')"
    process = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                health = requests.get(base + "/api/health", timeout=2)
                break
            except requests.ConnectionError:
                assert process.poll() is None, process.stdout.read().decode()
                assert time.monotonic() < deadline, "gunicorn did not come up"
                time.sleep(0.2)
        assert health.status_code == 200 and health.json()["speed"] == "stale"
        for _ in range(10):
            assert requests.get(base + "/api/current", timeout=5).status_code == 200
        # Two workers, one scrape: the counts of both are summed (prometheus multiprocess mode).
        metrics = requests.get(base + "/metrics", timeout=5).text
        line = next(line for line in metrics.splitlines()
                    if line.startswith('weatherlake_http_requests_total{endpoint="/api/current"'))
        assert float(line.rsplit(" ", 1)[1]) == 10.0
        assert "weatherlake_lake_up 1.0" in metrics
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()
    assert process.returncode == 0, output
    assert "Booting worker" in output
