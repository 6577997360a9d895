"""``weatherlake up``: the whole pipeline on one machine, as supervised child processes.

Each component is the same command a cluster runs as a service (``weatherlake <command>``,
Spark's own master and worker); here they are children of one process, their log lines
prefixed with the component's name. Ctrl-C (or SIGTERM) stops them in reverse order of
start, so the producer flushes before the sink commits, and the sink commits before the
broker goes away.

Weather stations have their part when an MQTT broker is at hand (:func:`start_stations`):
Mosquitto on 127.0.0.1:1883 if it is installed and nothing listens there, the bridge,
and with ``--demo`` simulated stations.

Everything listens on 127.0.0.1 only, Spark's web UIs included, and a child sees only the
secrets it needs (:data:`SECRETS_NEEDED`): the weather API key reaches the producer alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import fields, replace
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from weatherlake.config import Secret, Settings
from weatherlake.errors import WeatherlakeError
from weatherlake.ingest import kafka
from weatherlake.ingest.broker import port_open
from weatherlake.ingest.sink import RAW
from weatherlake.lake import Lake, join, open_lake
from weatherlake.lake.layout import live_files

log = logging.getLogger(__name__)

#: The components that need each secret setting; every other component gets it blank.
SECRETS_NEEDED = {"OPENWEATHER_API_KEY": ("producer",), "ALERT_WEBHOOK_URL": ("alerts",), "SMTP_URL": ("alerts",),
                  "WEATHERLAKE_API_TOKEN": ("web",), "MQTT_URL": ("bridge", "stations")}
#: Every secret setting (a Settings field holding a Secret), by environment variable.
SECRETS = tuple(f.metadata["env"] for f in fields(Settings) if isinstance(f.default, Secret))
#: Spark binds its web UIs (master, worker, each application's) to SPARK_LOCAL_IP, else to every interface.
LOOPBACK_SPARK = {"SPARK_LOCAL_IP": "127.0.0.1"}


class Supervisor:
    """Starts child processes, prefixes their output, and stops every one of them."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}

    def start(self, name: str, *args: str) -> subprocess.Popen:
        """Start ``weatherlake <args>`` as the component ``name``."""
        return self.start_command(name, [sys.executable, "-m", "weatherlake", *args])

    def child_env(self, name: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of the component ``name``: secrets it does not need are blank
        (not absent: a child's own .env file could then bring them back)."""
        env = {**self.env, **(extra or {})}
        for variable in SECRETS:
            if name not in SECRETS_NEEDED.get(variable, ()):
                env[variable] = ""
        return env

    def start_command(self, name: str, command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        """Start ``command`` as the component ``name``, with ``env`` added to its environment."""
        child = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=self.child_env(name, env), start_new_session=True,
        )
        threading.Thread(target=self._relay, args=(name, child), daemon=True).start()
        self.children.append((name, child))
        log.info("started %s (pid %d): %s", name, child.pid, " ".join(command[2:] if command[0] == sys.executable else command))
        return child

    @staticmethod
    def _relay(name: str, child: subprocess.Popen) -> None:
        width = 9
        for line in child.stdout:
            sys.stderr.write(f"{name:<{width}}| {line.decode(errors='replace')}")
        child.stdout.close()

    def exited(self) -> list[tuple[str, int]]:
        return [(name, child.returncode) for name, child in self.children if child.poll() is not None]

    def stop_all(self, timeout: float = 30.0) -> None:
        """SIGTERM each child's process group, newest first; SIGKILL what outlives ``timeout``."""
        for name, child in reversed(self.children):
            if child.poll() is None:
                _signal_group(child.pid, signal.SIGTERM)
                try:
                    child.wait(timeout)
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop within %.0f s; killing it", name, timeout)
                    _signal_group(child.pid, signal.SIGKILL)
                    child.wait()
            # Whatever the child started and left behind (executors, workers) goes too.
            _signal_group(child.pid, signal.SIGKILL)
            log.info("%s stopped (exit code %s)", name, child.returncode)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


class LakeCounter:
    """Counts committed records in the raw lake; committed files never change, so each is read once."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._lines: dict[str, int] = {}

    def summary(self) -> tuple[int, int, int]:
        dates = files = records = 0
        for directory in self.lake.list(RAW):
            if not directory.startswith("date="):
                continue
            dates += 1
            for name in live_files(self.lake.list(join(RAW, directory))):
                path = join(RAW, directory, name)
                if path not in self._lines:
                    self._lines[path] = self.lake.read(path).count(b"\n")
                files += 1
                records += self._lines[path]
        return dates, files, records


SPARK_MASTER_PORT = 7077
SPARK_MASTER_UI_PORT = 8080
SPARK_WORKER_UI_PORT = 8081
# The scheduler starts when the first records are in the lake, or after this long.
SCHEDULER_PATIENCE_SECONDS = 180


def run_pipeline(
    settings: Settings,
    *,
    demo: bool,
    duration: timedelta | None,
    stop: threading.Event,
    standalone_spark: bool = True,
    analytics_every: timedelta = timedelta(minutes=5),
    env: dict[str, str] | None = None,
) -> None:
    """Start every component, report what lands, stop them all on ``stop`` or after ``duration``.

    ``env`` is added to every component's environment.
    """
    lake = open_lake(settings)
    supervisor = Supervisor(pipeline_env(settings, standalone_spark, env))
    counter = LakeCounter(lake)
    deadline = time.monotonic() + duration.total_seconds() if duration else None
    try:
        if settings.embedded_broker:
            supervisor.start("broker", "broker")
            _wait_for_port(settings.embedded_kafka_port, supervisor, "the embedded broker")
        else:
            created = kafka.ensure_topics(settings)  # as `weatherlake broker` does on a given Kafka
            if created:
                log.info("created the topics %s on %s", ", ".join(created), settings.bootstrap_servers)
        if standalone_spark:
            start_spark(supervisor)
        supervisor.start("sink", "consume")
        supervisor.start("producer", "produce", *(["--backfill", "7d", "--inject-anomalies", "2"] if demo else []))
        supervisor.start("speed", "speed")
        supervisor.start("alerts", "alerts")
        supervisor.start("web", "serve")
        stations = start_stations(supervisor, settings, demo)
        _announce(settings, lake, standalone_spark, stations)
        minutes = max(1, int(analytics_every.total_seconds() // 60))
        scheduler_due = time.monotonic() + SCHEDULER_PATIENCE_SECONDS
        scheduler_started = False
        last_report = None
        while not stop.wait(2.0):
            if deadline and time.monotonic() > deadline:
                break
            dead = supervisor.exited()
            if dead:
                name, code = dead[0]
                raise WeatherlakeError(f"{name} exited with code {code}; stopping the pipeline")
            report = counter.summary()
            if report != last_report:
                log.info("lake: %s records in %d files across %d dates", f"{report[2]:,}", report[1], report[0])
                last_report = report
            # The first analytics run waits for data in the lake, so its views are not empty.
            if not scheduler_started and (report[2] > 0 or time.monotonic() > scheduler_due):
                supervisor.start("scheduler", "scheduler", "--every", f"{minutes}m")
                scheduler_started = True
    finally:
        supervisor.stop_all()
        dates, files, records = counter.summary()
        print(f"Lake {lake.url}: {records:,} records in {files} files across {dates} dates.", flush=True)


def pipeline_env(settings: Settings, standalone_spark: bool, env: dict[str, str] | None = None) -> dict[str, str]:
    """What every component gets in its environment on top of ``env`` (and this process's)."""
    children_env = dict(env or {})
    if standalone_spark:
        children_env["SPARK_MASTER"] = f"spark://127.0.0.1:{SPARK_MASTER_PORT}"
    if standalone_spark or settings.spark_master.startswith("local"):
        # The UI of each batch run (its driver) on loopback too; a remote master needs a reachable driver.
        children_env.update(LOOPBACK_SPARK)
    return children_env


@contextlib.contextmanager
def using_engines(settings: Settings, apache: bool) -> Iterator[tuple[Settings, dict[str, str]]]:
    """(settings, environment) for the pipeline: as given, or on Apache Kafka and HDFS.

    With ``apache``, the engines under ENGINES_DIR are started unless they already run,
    and stopped on the way out only if they were started here.
    """
    if not apache:
        yield settings, {}
        return
    from weatherlake.engines import Engines

    engines = Engines.from_settings(settings)
    already_running = all(status.pid for status in engines.status())
    client = engines.start()
    try:
        yield replace(settings, kafka_bootstrap_servers=client["KAFKA_BOOTSTRAP_SERVERS"], lake_url=client["LAKE_URL"],
                      webhdfs_url=client["WEBHDFS_URL"], hdfs_user=client["HDFS_USER"]), client
    finally:
        if not already_running:
            engines.stop()


def start_spark(
    supervisor: Supervisor,
    *,
    master_port: int = SPARK_MASTER_PORT,
    master_ui_port: int = SPARK_MASTER_UI_PORT,
    worker_ui_port: int = SPARK_WORKER_UI_PORT,
    worker_cores: int | None = None,
    worker_memory: str = "2g",
) -> str:
    """A standalone Spark master and worker from the virtualenv's pyspark (the cluster's Spark).

    The worker offers ``worker_cores`` (default: every core) and ``worker_memory``; returns
    the master's URL once it listens (the worker registers on its own, soon after).
    """
    from weatherlake.batch.submit import bundled_spark_submit

    spark_class = str(Path(bundled_spark_submit()).with_name("spark-class"))
    master_url = f"spark://127.0.0.1:{master_port}"
    supervisor.start_command("spark-mst", [
        spark_class, "org.apache.spark.deploy.master.Master",
        "--host", "127.0.0.1", "--port", str(master_port), "--webui-port", str(master_ui_port),
    ], env=LOOPBACK_SPARK)
    _wait_for_port(master_port, supervisor, "the Spark master")
    supervisor.start_command("spark-wkr", [
        spark_class, "org.apache.spark.deploy.worker.Worker", master_url,
        "--host", "127.0.0.1", "--webui-port", str(worker_ui_port),
        "--cores", str(worker_cores or os.cpu_count() or 2), "--memory", worker_memory,
    ], env=LOOPBACK_SPARK)
    return master_url


def start_stations(supervisor: Supervisor, settings: Settings, demo: bool) -> str | None:
    """The stations bridge, and what it needs on this machine; the MQTT broker's address, or None.

    With ``MQTT_URL`` on this machine and nothing listening there, Mosquitto is started
    on its port (loopback only) when it is installed; ``--demo`` adds simulated stations.
    """
    url = urlsplit(settings.mqtt_url.reveal())
    host, port = url.hostname, url.port or 1883
    if host in ("127.0.0.1", "localhost") and not port_open("127.0.0.1", port):
        binary = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
        if binary is None:
            log.info("stations: no MQTT broker on 127.0.0.1:%d and no mosquitto to start (apt-get install mosquitto); "
                     "the stations bridge is not started", port)
            return None
        supervisor.start_command("mosquitto", [binary, "-p", str(port)])  # 2.x binds -p to loopback only
        _wait_for_port(port, supervisor, "mosquitto")
    supervisor.start("bridge", "bridge", "mqtt")
    if demo:
        supervisor.start("stations", "simulate", "stations", "--count", "20", "--interval", "10m", "--backfill", "1d")
    return f"mqtt://{host}:{port}"


def _announce(settings: Settings, lake: Lake, standalone_spark: bool, stations: str | None = None) -> None:
    lines = [
        f"dashboard and API  http://127.0.0.1:{settings.web_port}/",
        f"Kafka              {settings.bootstrap_servers}",
        f"lake               {lake.url}",
    ]
    if stations:
        lines.append(f"MQTT (stations)    {stations} (topic {settings.mqtt_topic})")
    if settings.lake_url.startswith("hdfs://"):
        lines.append(f"HDFS NameNode UI   {settings.webhdfs_url}/")
    if standalone_spark:
        lines.append(f"Spark master UI    http://127.0.0.1:{SPARK_MASTER_UI_PORT}/")
    log.info("weatherlake is up (Ctrl-C stops everything):\n  %s", "\n  ".join(lines))


def _wait_for_port(port: int, supervisor: Supervisor, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not port_open("127.0.0.1", port):
        if supervisor.exited() or time.monotonic() > deadline:
            raise WeatherlakeError(f"{what} did not come up on 127.0.0.1:{port}")
        time.sleep(0.1)
