"""`weatherlake up --demo --engines apache`: the whole pipeline on Apache Kafka and HDFS.

The engines already run (the session's), so `up` uses them and leaves them running. The
sink writes through WebHDFS, the Spark jobs on the standalone cluster read and write
``hdfs://``, the speed layer and the web server read the views from HDFS.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid

import pytest
import requests

from tests.conftest import free_port, hdfs_lake_root
from tests.ingest.test_pipeline import wait_for
from tests.lakeview import committed
from tests.test_up import cities_in, processes_with
from weatherlake.batch import VIEWS
from weatherlake.config import DEFAULT_CITIES
from weatherlake.ingest.broker import port_open
from weatherlake.lake import WebHdfsLake
from weatherlake.up import SPARK_MASTER_UI_PORT

pytestmark = [pytest.mark.slow, pytest.mark.spark]


def test_up_on_the_engines_serves_every_view_from_hdfs_and_leaves_the_engines_running(engines, tmp_path):
    marker = f"WEATHERLAKE_TEST_RUN={uuid.uuid4().hex}"
    web_port, lake_root, topic = free_port(), hdfs_lake_root(), f"obs-{uuid.uuid4().hex[:10]}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KAFKA_", "LAKE_", "SINK_", "WEB_", "CITIES", "HDFS_", "HADOOP_", "ENGINES_"))}
    env.update(
        ENGINES_DIR=str(engines.home),
        LAKE_ROOT=lake_root,
        KAFKA_TOPIC=topic,
        KAFKA_DLQ_TOPIC=f"{topic}.dlq",
        WEB_PORT=str(web_port),
        WEATHER_SOURCE="synthetic",
        SINK_MAX_AGE_SECONDS="3",
        POLL_INTERVAL_SECONDS="30",
    )
    key, value = marker.split("=")
    env[key] = value
    pids_before = [daemon.pid() for daemon in engines.daemons()]
    log_path = tmp_path / "up.log"
    with open(log_path, "wb") as log:
        up = subprocess.Popen(
            [sys.executable, "-m", "weatherlake", "up", "--demo", "--engines", "apache", "--analytics-every", "1m"],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    base = f"http://127.0.0.1:{web_port}"
    expected = set(DEFAULT_CITIES)
    try:
        for path in ("/api/city-statistics", "/api/hourly-trends?hours=168", "/api/anomalies"):
            wait_for(lambda p=path: cities_in(base, p) >= expected, 600, f"{path} for every city", interval=2.0)
        assert requests.get(base + "/", timeout=5).status_code == 200
        # The UIs `up` announces: the NameNode's (with its web resources) and Spark's.
        assert f"HDFS NameNode UI   {engines.hdfs.webhdfs_url}/" in log_path.read_text()
        namenode_ui = requests.get(f"{engines.hdfs.webhdfs_url}/dfshealth.html", timeout=5)
        assert namenode_ui.status_code == 200 and "dfshealth" in namenode_ui.text
        spark = requests.get(f"http://127.0.0.1:{SPARK_MASTER_UI_PORT}/json/", timeout=5).json()
        assert spark["aliveworkers"] == 1 and spark["completedapps"], spark
    except AssertionError:
        print(log_path.read_text()[-6000:])
        raise
    finally:
        up.send_signal(signal.SIGINT)
        code = up.wait(180)
    assert code == 0, log_path.read_text()[-3000:]
    assert processes_with(marker) == [], "a process started by `weatherlake up` outlived it"
    assert not port_open("127.0.0.1", web_port)
    # The engines were running before: still running, the same processes.
    assert [daemon.pid() for daemon in engines.daemons()] == pids_before
    # Everything landed on HDFS: the raw records and every view with its _LATEST.
    with WebHdfsLake(engines.hdfs.webhdfs_url, engines.hdfs.lake_user, lake_root) as lake:
        landed = {record["city_id"] for _, _, record in committed(lake)}
        assert {c for c in landed if not c.startswith("station-")} == expected
        assert {c for c in landed if c.startswith("station-")}  # the demo's simulated stations, through Mosquitto
        for view in VIEWS:
            assert lake.read_atomic(f"analytics/{view}/_LATEST") is not None, view
