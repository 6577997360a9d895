"""`weatherlake engines start|stop|status` as a user runs it: a fresh directory, free ports.

start waits until both engines are usable and prints the settings; a second start starts
nothing; stop leaves no process and no port behind; a later start finds the topics'
messages and the lake's files where they were.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer

from tests.conftest import HDFS_USER, free_port
from weatherlake.config import Settings
from weatherlake.engines.java import port_open
from weatherlake.ingest import kafka
from weatherlake.lake import WebHdfsLake

pytestmark = pytest.mark.slow

PORT_VARIABLES = ("ENGINES_KAFKA_PORT", "ENGINES_KAFKA_CONTROLLER_PORT", "ENGINES_NAMENODE_PORT",
                  "ENGINES_NAMENODE_HTTP_PORT", "ENGINES_DATANODE_PORT", "ENGINES_DATANODE_HTTP_PORT",
                  "ENGINES_DATANODE_IPC_PORT")


def engines(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "weatherlake", "engines", *args], env=env, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=300)


def settings_printed(result: subprocess.CompletedProcess) -> dict[str, str]:
    assert result.returncode == 0, result.stderr[-2000:]
    return dict(line.split("=", 1) for line in result.stdout.splitlines())


def with_mark(home) -> list[int]:
    """PIDs of live processes carrying an engines daemon mark for ``home``."""
    mark = f"@{home}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                cmdline = open(f"/proc/{entry.name}/cmdline", "rb").read()  # noqa: SIM115
            except OSError:
                continue
            if b"-Dweatherlake.daemon=" in cmdline and mark in cmdline:
                found.append(int(entry.name))
    return found


def test_start_status_stop_and_start_again_keeps_the_data(tmp_path):
    home = tmp_path / "engines"
    ports = {name: free_port() for name in PORT_VARIABLES}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "LAKE_", "ENGINES_", "HDFS_"))}
    env.update({name: str(port) for name, port in ports.items()}, ENGINES_DIR=str(home), HDFS_USER=HDFS_USER,
               ENGINES_KAFKA_HEAP="512m", ENGINES_HDFS_HEAP="256m")
    topic, payload = f"engines-{uuid.uuid4().hex[:8]}", b"kept across a restart"
    try:
        printed = settings_printed(engines(env, "start"))
        assert printed == {
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{ports['ENGINES_KAFKA_PORT']}",
            "LAKE_URL": f"hdfs://127.0.0.1:{ports['ENGINES_NAMENODE_PORT']}",
            "WEBHDFS_URL": f"http://127.0.0.1:{ports['ENGINES_NAMENODE_HTTP_PORT']}",
            "HDFS_USER": HDFS_USER,
            "HADOOP_USER_NAME": HDFS_USER,
            "HADOOP_CONF_DIR": str(home.resolve() / "conf" / "hadoop"),
        }
        status = engines(env, "status")
        assert status.returncode == 0 and [line.split()[:2] for line in status.stdout.splitlines()] == [
            ["namenode", "running"], ["datanode", "running"], ["kafka", "running"]]
        pids = sorted(with_mark(home.resolve()))
        assert len(pids) == 3

        # A second start reports the running engines and starts nothing.
        assert settings_printed(engines(env, "start")) == printed
        assert sorted(with_mark(home.resolve())) == pids
        assert "already run" in engines(env, "start").stderr

        # Something in each: a message in a topic and a file in the lake.
        kafka.ensure_topics(Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": printed["KAFKA_BOOTSTRAP_SERVERS"],
                                               "KAFKA_TOPIC": topic}))
        producer = KafkaProducer(bootstrap_servers=printed["KAFKA_BOOTSTRAP_SERVERS"])
        producer.send(topic, payload).get(timeout=30)
        producer.close()
        with WebHdfsLake(printed["WEBHDFS_URL"], HDFS_USER, "/weather_data") as lake:
            lake.write("raw/kept.txt", payload)

        stopped = engines(env, "stop")
        assert stopped.returncode == 0 and "Stopped kafka, datanode, namenode." in stopped.stderr
        assert with_mark(home.resolve()) == []
        assert [port for port in ports.values() if port_open(port)] == []
        status = engines(env, "status")
        assert status.returncode == 1 and all(line.split()[1] == "stopped" for line in status.stdout.splitlines())
        assert "No engines were running." in engines(env, "stop").stderr

        assert settings_printed(engines(env, "start")) == printed
        consumer = KafkaConsumer(topic, bootstrap_servers=printed["KAFKA_BOOTSTRAP_SERVERS"],
                                 auto_offset_reset="earliest", consumer_timeout_ms=20_000)
        try:
            assert [message.value for message in consumer] == [payload]
        finally:
            consumer.close()
        with WebHdfsLake(printed["WEBHDFS_URL"], HDFS_USER, "/weather_data") as lake:
            assert lake.read("raw/kept.txt") == payload
    finally:
        engines(env, "stop")
    assert with_mark(home.resolve()) == []
    assert (home / "logs" / "kafka.log").exists() and (home / "logs" / "namenode.log").exists()


def test_a_bad_port_setting_stops_the_command_with_one_line_naming_it(tmp_path):
    env = {**os.environ, "ENGINES_DIR": str(tmp_path), "ENGINES_KAFKA_PORT": "ninety"}
    result = engines(env, "status")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("Error:") and "ENGINES_KAFKA_PORT" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
