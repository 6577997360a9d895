"""``weatherlake up``: the whole pipeline on one machine, as supervised child processes.

Each component is the same ``weatherlake <command>`` a cluster runs as a service; here
they are children of one process, their log lines prefixed with the component's name.
Ctrl-C (or SIGTERM) stops them in reverse order of start, so the producer flushes
before the sink commits, and the sink commits before the broker goes away.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

from weatherlake.config import Settings
from weatherlake.errors import WeatherlakeError
from weatherlake.ingest.broker import port_open
from weatherlake.ingest.compact import live_files
from weatherlake.ingest.sink import RAW
from weatherlake.lake import Lake, join, open_lake

log = logging.getLogger(__name__)


class Supervisor:
    """Starts child processes, prefixes their output, and stops every one of them."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen:
        command = [sys.executable, "-m", "weatherlake", *args]
        child = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True,
        )
        threading.Thread(target=self._relay, args=(name, child), daemon=True).start()
        self.children.append((name, child))
        log.info("started %s (pid %d): weatherlake %s", name, child.pid, " ".join(args))
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
        for name, child in reversed(self.children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
                try:
                    child.wait(timeout)
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop within %.0f s; killing it", name, timeout)
                    os.killpg(child.pid, signal.SIGKILL)
                    child.wait()
            log.info("%s stopped (exit code %s)", name, child.returncode)


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


def run_pipeline(settings: Settings, *, demo: bool, duration: timedelta | None, stop: threading.Event) -> None:
    lake = open_lake(settings)
    supervisor = Supervisor()
    counter = LakeCounter(lake)
    deadline = time.monotonic() + duration.total_seconds() if duration else None
    try:
        if settings.embedded_broker:
            supervisor.start("broker", "broker")
            _wait_for_port(settings.embedded_kafka_port, supervisor)
        supervisor.start("sink", "consume")
        producer_args = ["produce", *(["--backfill", "7d"] if demo else [])]
        supervisor.start("producer", *producer_args)
        log.info("pipeline running: Kafka %s -> lake %s (Ctrl-C stops it)", settings.bootstrap_servers, lake.url)
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
    finally:
        supervisor.stop_all()
        dates, files, records = counter.summary()
        print(f"Lake {lake.url}: {records:,} records in {files} files across {dates} dates.", flush=True)


def _wait_for_port(port: int, supervisor: Supervisor, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not port_open("127.0.0.1", port):
        if supervisor.exited() or time.monotonic() > deadline:
            raise WeatherlakeError(f"the embedded broker did not come up on 127.0.0.1:{port}")
        time.sleep(0.1)
