"""Apache Kafka (KRaft, one combined broker and controller) from the ``kafka_2.13`` jars.

The broker's settings are the compose cluster's (``docker/kafka/broker.env``, in the
apache/kafka image's variable form); only what names hosts, ports and directories is set
here. The log directory is formatted once with Kafka's own storage tool and then kept, so
topics and consumer offsets survive a stop and start.
"""

from __future__ import annotations

import logging
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

from weatherlake.engines import java
from weatherlake.engines.files import KAFKA_DIR, read_env_file
from weatherlake.errors import EngineError

warnings.filterwarnings("ignore", message="read_text is deprecated", category=DeprecationWarning)

log = logging.getLogger(__name__)

#: Properties that name hosts, ports or directories: compose sets them for containers,
#: this module for 127.0.0.1. Everything else comes from broker.env.
HOST_PROPERTIES = frozenset({
    "listeners", "advertised.listeners", "listener.security.protocol.map", "inter.broker.listener.name",
    "controller.quorum.voters", "log.dirs",
})

_NOT_PROPERTIES = frozenset({"CLUSTER_ID", "KAFKA_HEAP_OPTS", "KAFKA_OPTS", "KAFKA_JVM_PERFORMANCE_OPTS",
                             "KAFKA_LOG4J_OPTS", "KAFKA_GC_LOG_OPTS", "KAFKA_JMX_OPTS"})

LOG4J2 = """\
# Written by weatherlake engines: the broker logs to {log_dir}/kafka.log, warnings and up.
status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = {log_dir}/kafka.log
appender.file.filePattern = {log_dir}/kafka.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 10MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = {level}
rootLogger.appenderRef.file.ref = file
"""


def property_name(variable: str) -> str:
    """The apache/kafka image's rule: KAFKA_LOG_DIRS -> log.dirs ('__' -> '-', '___' -> '_')."""
    name = variable.removeprefix("KAFKA_").lower()
    return name.replace("___", "\0").replace("__", "-").replace("_", ".").replace("\0", "_")


def shared_properties(env_file: Path | None = None) -> tuple[dict[str, str], str]:
    """(broker properties, cluster id) from broker.env."""
    variables = read_env_file(env_file or KAFKA_DIR / "broker.env")
    try:
        cluster_id = variables["CLUSTER_ID"]
    except KeyError:
        raise EngineError("docker/kafka/broker.env must set CLUSTER_ID") from None
    properties = {property_name(k): v for k, v in variables.items()
                  if k.startswith("KAFKA_") and k not in _NOT_PROPERTIES}
    return properties, cluster_id


@dataclass(frozen=True)
class KafkaEngine:
    home: Path
    port: int
    controller_port: int
    heap: str = "1g"
    log_level: str = "WARN"

    @property
    def daemon(self) -> java.Daemon:
        return java.Daemon("kafka", self.home)

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def properties(self) -> dict[str, str]:
        properties, _ = shared_properties()
        clash = HOST_PROPERTIES & properties.keys()
        if clash:
            raise EngineError(f"docker/kafka/broker.env must not set host-specific {', '.join(sorted(clash))}")
        return {
            **properties,
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.quorum.voters": f"{properties.get('node.id', '1')}@127.0.0.1:{self.controller_port}",
            "log.dirs": str(self.home.resolve() / "data" / "kafka"),
        }

    def classpath(self) -> str:
        return java.resolve_classpath(KAFKA_DIR / "pom.xml", self.home / "classpath")

    def start(self, timeout: float = 90.0) -> None:
        """Start the broker (formatting its log directory the first time); wait until usable."""
        classpath = self.classpath()
        conf = self.home / "conf" / "kafka"
        conf.mkdir(parents=True, exist_ok=True)
        log_dir = (self.home / "logs").resolve()
        log_dir.mkdir(parents=True, exist_ok=True)
        properties = self.properties()
        (conf / "server.properties").write_text(
            "# Written by weatherlake engines from docker/kafka/broker.env; edit that file, not this one.\n"
            + "".join(f"{k}={v}\n" for k, v in sorted(properties.items()))
        )
        (conf / "log4j2.properties").write_text(LOG4J2.format(log_dir=log_dir, level=self.log_level))
        jvm = [f"-Xmx{self.heap}", f"-Xms{self.heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
               "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={conf.resolve() / 'log4j2.properties'}",
               f"-Dkafka.logs.dir={log_dir}"]
        data = Path(properties["log.dirs"])
        if not (data / "meta.properties").exists():
            self._format(jvm, classpath, conf / "server.properties")
        for port in (self.port, self.controller_port):
            if java.port_open(port):
                raise EngineError(f"cannot start Kafka: port {port} on 127.0.0.1 is already in use")
        self.daemon.start(jvm, classpath, "kafka.Kafka", str((conf / "server.properties").resolve()))
        java.wait_until(self._usable, f"Kafka on {self.bootstrap_servers}", self.daemon, timeout, interval=0.5)

    def _format(self, jvm: list[str], classpath: str, server_properties: Path) -> None:
        _, cluster_id = shared_properties()
        command = [java.java_binary(), *jvm, "-cp", classpath, "kafka.tools.StorageTool", "format",
                   "-t", cluster_id, "-c", str(server_properties.resolve())]
        result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise EngineError(f"Kafka's storage tool could not format {server_properties}: "
                              f"{(result.stderr or result.stdout).strip()[-400:]}")
        log.info("formatted Kafka's log directory (cluster id %s)", cluster_id)

    def _usable(self) -> bool:
        """The broker answers metadata and has a controller: topics can be created."""
        if not java.port_open(self.port):
            return False
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        try:
            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap_servers, bootstrap_timeout_ms=3000,
                                     request_timeout_ms=5000)
        except KafkaError:
            return False
        try:
            cluster = admin.describe_cluster()
            return bool(cluster.get("brokers")) and cluster.get("controller_id", -1) != -1
        except KafkaError:
            return False
        finally:
            admin.close()
