"""`weatherlake up --demo`: the whole pipeline on one machine, end to end, and a clean stop;
what each child process may see and where Spark listens."""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port
from tests.ingest.test_pipeline import wait_for
from weatherlake.batch.submit import bundled_spark_submit
from weatherlake.config import DEFAULT_CITIES, Settings
from weatherlake.ingest.broker import port_open
from weatherlake.up import Supervisor, pipeline_env, start_spark


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


def injected_metrics(base: str) -> set[str]:
    """The metrics of the anomalies one web worker marks as injected by the demo."""
    rows = requests.get(base + "/api/anomalies?limit=1000", timeout=10).json()["data"]
    return {row["metric"] for row in rows if row.get("injected")}


def listening(port: int) -> set[str]:
    """The local addresses a TCP socket listens on at ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(address)
                # /proc prints each 32-bit word in host (little-endian) order.
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                address = ipaddress.ip_address(words)
                found.add(str(getattr(address, "ipv4_mapped", None) or address))  # Java binds ::ffff:127.0.0.1
    return found


def environment_of(pid: int) -> dict[str, str]:
    """The environment a live process was started with ({} once it is gone)."""
    try:
        entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return {}
    return dict(entry.decode(errors="replace").split("=", 1) for entry in entries if b"=" in entry)


def command_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_each_component_is_given_only_the_secrets_it_needs(tmp_path, monkeypatch, capfd):
    secrets = {"OPENWEATHER_API_KEY": "owm-secret-4711", "ALERT_WEBHOOK_URL": "https://user:hook-secret@hooks.test/x",
               "SMTP_URL": "smtp://user:mail-secret@127.0.0.1:25?from=a@b.c&to=d@e.f",
               "WEATHERLAKE_API_TOKEN": "api-token-secret", "MQTT_URL": "mqtt://user:mqtt-secret@127.0.0.1:1883"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    # Every command loads a .env from its working directory: that must not bring them back.
    (tmp_path / ".env").write_text("".join(f"{name}=from-dotenv\n" for name in secrets))
    monkeypatch.chdir(tmp_path)
    show = ("import os; from dotenv import load_dotenv; load_dotenv('.env', override=False); "
            f"print('SECRETS=' + ','.join(n for n in {sorted(secrets)!r} if os.environ.get(n)))")
    supervisor = Supervisor()
    names = ("producer", "sink", "speed", "alerts", "web", "scheduler", "broker", "spark-mst", "spark-wkr",
             "mosquitto", "bridge", "stations")
    for name in names:
        supervisor.start_command(name, [sys.executable, "-c", show]).wait(30)
    seen: dict[str, str] = {}
    output = ""
    deadline = time.monotonic() + 30
    while len(seen) < len(names) and time.monotonic() < deadline:  # the relay threads print as they read
        output += capfd.readouterr().err
        seen = {line.split("|")[0].strip(): line.split("SECRETS=", 1)[1] for line in output.splitlines()
                if "SECRETS=" in line}
        time.sleep(0.05)
    supervisor.stop_all(timeout=5)
    needing = {"producer": "OPENWEATHER_API_KEY", "alerts": "ALERT_WEBHOOK_URL,SMTP_URL", "web": "WEATHERLAKE_API_TOKEN",
               "bridge": "MQTT_URL", "stations": "MQTT_URL"}
    assert seen == {name: needing.get(name, "") for name in names}


DRIVER = """
import time
from pyspark import SparkContext
SparkContext(appName="weatherlake-ui-check")
time.sleep(300)
"""


@pytest.mark.slow
@pytest.mark.spark
def test_spark_uis_listen_on_loopback_only(tmp_path):
    """The master's, the worker's and a batch run's (its driver's) web UI, started as `up` starts them."""
    env = pipeline_env(Settings.from_env({}), standalone_spark=True,
                       env={"SPARK_WORKER_DIR": str(tmp_path / "work"), "SPARK_LOG_DIR": str(tmp_path / "logs")})
    supervisor = Supervisor(env)
    master_ui, worker_ui, driver_ui = free_port(), free_port(), free_port()
    (tmp_path / "driver.py").write_text(DRIVER)
    try:
        master = start_spark(supervisor, master_port=free_port(), master_ui_port=master_ui, worker_ui_port=worker_ui,
                             worker_cores=1, worker_memory="512m")
        supervisor.start_command("scheduler", [bundled_spark_submit(), "--master", master, "--conf",
                                               f"spark.ui.port={driver_ui}", str(tmp_path / "driver.py")])
        for port in (master_ui, worker_ui, driver_ui):
            wait_for(lambda p=port: port_open("127.0.0.1", p), 180, f"a Spark UI on port {port}")
            assert listening(port) == {"127.0.0.1"}, port
    finally:
        supervisor.stop_all(timeout=30)


@pytest.mark.slow
@pytest.mark.broker
@pytest.mark.spark
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
        OPENWEATHER_API_KEY="owm-key-for-the-producer-only",
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
        # The demo's injected anomalies are found and marked as such; the alert service runs.
        # (Waited for: each web worker loads a new run on its own refresh, a second or two apart.)
        wait_for(lambda: injected_metrics(base) == {"temperature"}, 60,
                 "the injected temperature anomalies, marked")
        wait_for(lambda: requests.get(base + "/api/alerts", timeout=5).json()["state"] != "not_published", 60,
                 "the alert service's first write")
        # Simulated stations through Mosquitto and the bridge: registered, on the city list.
        wait_for(lambda: len(requests.get(base + "/api/stations", timeout=5).json()["data"]) >= 18, 120,
                 "the simulated stations registered")
        assert listening(1883) and listening(1883) <= {"127.0.0.1", "::1"}  # the demo's Mosquitto, loopback only
        holding_the_key = [command_of(pid) for pid in processes_with(marker)
                           if pid != up.pid and environment_of(pid).get("OPENWEATHER_API_KEY")]
        assert len(holding_the_key) == 1 and " produce " in holding_the_key[0], holding_the_key
        for port in (8080, 8081):  # the Spark master's and worker's UIs
            assert listening(port) == {"127.0.0.1"}, port
    except AssertionError:
        print(log_path.read_text()[-6000:])
        raise
    finally:
        up.send_signal(signal.SIGINT)  # Ctrl-C
        code = up.wait(180)
    assert code == 0, log_path.read_text()[-3000:]
    assert processes_with(marker) == [], "a process started by `weatherlake up` outlived it"
    assert not port_open("127.0.0.1", web_port) and not port_open("127.0.0.1", kafka_port)
