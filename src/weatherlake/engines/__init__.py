"""The real engines on one machine: Apache Kafka and HDFS as Java processes from Maven jars.

``weatherlake engines start`` resolves the jars (once), starts HDFS (a NameNode and a
DataNode) and Kafka (KRaft) in the background on 127.0.0.1, waits until each is usable,
and prints the settings that point weatherlake at them. Data and logs live under
``ENGINES_DIR`` (``var/engines``) and survive a stop and start. These are the releases
and settings of the compose cluster's images, so what runs here is what a cluster runs.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from weatherlake.config import Settings
from weatherlake.engines import java
from weatherlake.engines.hdfs import HdfsEngine
from weatherlake.engines.kafka import KafkaEngine

log = logging.getLogger(__name__)

__all__ = ["Engines", "Status"]


@dataclass(frozen=True)
class Status:
    name: str
    pid: int | None
    address: str

    def line(self) -> str:
        state = f"running (pid {self.pid})" if self.pid else "stopped"
        return f"{self.name:<9} {state:<22} {self.address}"


@dataclass(frozen=True)
class Engines:
    """Kafka and HDFS under one directory; ``start``, ``stop`` and ``status`` are idempotent."""

    home: Path
    kafka: KafkaEngine
    hdfs: HdfsEngine

    @classmethod
    def from_settings(cls, settings: Settings, home: Path | None = None) -> Engines:
        home = (home or Path(settings.engines_dir)).resolve()
        return cls(
            home=home,
            kafka=KafkaEngine(home, settings.engines_kafka_port, settings.engines_kafka_controller_port,
                              heap=settings.engines_kafka_heap),
            hdfs=HdfsEngine(home, settings.engines_namenode_port, settings.engines_namenode_http_port,
                            settings.engines_datanode_port, settings.engines_datanode_http_port,
                            settings.engines_datanode_ipc_port, heap=settings.engines_hdfs_heap,
                            lake_root=settings.lake_root, lake_user=settings.hdfs_user),
        )

    @property
    def state_file(self) -> Path:
        return self.home / "run" / "engines.json"

    def running(self) -> Engines:
        """These engines as they were started (ports from the state file), if any run."""
        try:
            state = json.loads(self.state_file.read_text())
            return Engines(self.home, KafkaEngine(**{**state["kafka"], "home": self.home}),
                           HdfsEngine(**{**state["hdfs"], "home": self.home}))
        except (OSError, ValueError, KeyError, TypeError):
            return self

    def start(self) -> dict[str, str]:
        """Start what is not running yet, wait until all is usable; the client settings.

        While some of them run, the rest start on the ports those were started with.
        """
        current = self.running()
        running = [daemon.pid() is not None for daemon in current.daemons()]
        if all(running):
            log.info("the engines already run under %s", self.home)
            return current.client_settings()
        engines = current if any(running) else self
        engines._save_state()
        if not all(daemon.pid() for daemon in engines.hdfs.daemons()):
            engines.hdfs.start()
        if not engines.kafka.daemon.pid():
            engines.kafka.start()
        return engines.client_settings()

    def _save_state(self) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps({
            "kafka": {k: v for k, v in asdict(self.kafka).items() if k != "home"},
            "hdfs": {k: v for k, v in asdict(self.hdfs).items() if k != "home"},
        }, indent=2))

    def stop(self) -> list[str]:
        """Stop Kafka, then the DataNode, then the NameNode; the names of those that ran."""
        current = self.running()
        stopped = [daemon.name for daemon in reversed(current.daemons()) if daemon.stop()]
        for daemon in current.daemons():
            address_ports = current.ports()[daemon.name]
            busy = [port for port in address_ports if java.port_open(port)]
            if busy:
                log.warning("%s stopped but ports %s are still in use", daemon.name, busy)
        return stopped

    def status(self) -> list[Status]:
        current = self.running()
        addresses = {
            "namenode": f"{current.hdfs.url}  web {current.hdfs.webhdfs_url}",
            "datanode": f"127.0.0.1:{current.hdfs.datanode_port}  web http://127.0.0.1:{current.hdfs.datanode_http_port}",
            "kafka": current.kafka.bootstrap_servers,
        }
        return [Status(d.name, d.pid(), addresses[d.name]) for d in current.daemons()]

    def daemons(self) -> list[java.Daemon]:
        """In start order."""
        return [*self.hdfs.daemons(), self.kafka.daemon]

    def ports(self) -> dict[str, list[int]]:
        return {"namenode": [self.hdfs.rpc_port, self.hdfs.http_port],
                "datanode": [self.hdfs.datanode_port, self.hdfs.datanode_http_port, self.hdfs.datanode_ipc_port],
                "kafka": [self.kafka.port, self.kafka.controller_port]}

    def client_settings(self) -> dict[str, str]:
        """What to set for weatherlake (and Spark's Hadoop client) to use these engines."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers,
            "LAKE_URL": self.hdfs.url,
            "WEBHDFS_URL": self.hdfs.webhdfs_url,
            "HDFS_USER": self.hdfs.lake_user,
            "HADOOP_USER_NAME": self.hdfs.lake_user,
            # Spark's Hadoop client reads the daemons' own core-site.xml and hdfs-site.xml
            # (one replica, the DataNode's address): what a cluster's clients do too.
            "HADOOP_CONF_DIR": str(self.hdfs.conf_dir),
        }
