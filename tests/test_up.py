"""`weatherlake up --demo`: the whole pipeline on one machine, end to end, and a clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port
from tests.ingest.test_pipeline import wait_for
from weatherlake.config import DEFAULT_CITIES
from weatherlake.ingest.broker import port_open

pytestmark = [pytest.mark.slow, pytest.mark.broker, pytest.mark.spark]


def processes_with(marker: str) -> list[int]:
    """PIDs of live processes whose environment carries ``marker`` (every descendant of up does)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def cities_in(base: str, path: str) -> set[str]:
    try:
        answer = requests.get(base + path, timeout=5)
    except requests.RequestException:
        return set()
    if answer.status_code != 200:
        return set()
    return {row["city_id"] for row in answer.json()["data"]}


def test_up_demo_serves_every_view_for_every_city_then_stops_everything(tmp_path):
    marker = f"WEATHERLAKE_TEST_RUN={uuid.uuid4().hex}"
    web_port, kafka_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "LAKE_", "SINK_", "WEB_", "CITIES"))}
    env.update(
        EMBEDDED_KAFKA_PORT=str(kafka_port),
        WEB_PORT=str(web_port),
        LAKE_URL=(tmp_path / "lake").as_uri(),
        WEATHER_SOURCE="synthetic",
        SINK_MAX_AGE_SECONDS="3",
        POLL_INTERVAL_SECONDS="30",
    )
    key, value = marker.split("=")
    env[key] = value
    log_path = tmp_path / "up.log"
    with open(log_path, "wb") as log:
        up = subprocess.Popen(
            [sys.executable, "-m", "weatherlake", "up", "--demo", "--analytics-every", "1m"],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    base = f"http://127.0.0.1:{web_port}"
    expected = set(DEFAULT_CITIES)
    try:
        for path in ("/api/city-statistics", "/api/hourly-trends?hours=168", "/api/anomalies"):
            wait_for(lambda p=path: cities_in(base, p) >= expected, 600, f"{path} for every city",
                     interval=2.0)
        assert requests.get(base + "/", timeout=5).status_code == 200
    except AssertionError:
        print(log_path.read_text()[-6000:])
        raise
    finally:
        up.send_signal(signal.SIGINT)  # Ctrl-C
        code = up.wait(180)
    assert code == 0, log_path.read_text()[-3000:]
    assert processes_with(marker) == [], "a process started by `weatherlake up` outlived it"
    assert not port_open("127.0.0.1", web_port) and not port_open("127.0.0.1", kafka_port)
