"""HDFS (a NameNode and a DataNode) from the ``hadoop-hdfs`` jars.

The daemons' settings are the compose cluster's (``docker/hadoop/hdfs.env``, in the
apache/hadoop image's variable form); only what names hosts, ports and directories is set
here. The DataNode advertises 127.0.0.1, so WebHDFS redirects reads and writes to an
address local clients reach. The NameNode is formatted once; a restart keeps the files.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import requests

from weatherlake.engines import java
from weatherlake.engines.files import HADOOP_DIR, read_env_file
from weatherlake.errors import EngineError

log = logging.getLogger(__name__)

#: Properties that name hosts, ports or directories: compose sets them for containers,
#: this module for 127.0.0.1. Everything else comes from hdfs.env.
HOST_PROPERTIES = frozenset({
    "fs.defaultFS", "dfs.namenode.rpc-address", "dfs.namenode.rpc-bind-host", "dfs.namenode.http-address",
    "dfs.namenode.name.dir", "dfs.datanode.data.dir", "dfs.datanode.address", "dfs.datanode.http.address",
    "dfs.datanode.ipc.address", "dfs.datanode.hostname",
})

# The java.base packages Hadoop's daemons reach into by reflection: closed by default since Java 17.
JAVA17_OPENS = [f"--add-opens=java.base/{package}=ALL-UNNAMED" for package in (
    "java.io", "java.lang", "java.lang.reflect", "java.math", "java.net", "java.nio", "java.text", "java.util",
    "java.util.concurrent", "java.util.zip", "sun.nio.ch", "sun.security.util", "sun.security.x509",
)]

LOG4J = """\
# Written by weatherlake engines: each daemon logs to its own file, warnings and up.
log4j.rootLogger={level}, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=${{hadoop.log.dir}}/${{hadoop.log.file}}
log4j.appender.file.MaxFileSize=10MB
log4j.appender.file.MaxBackupIndex=3
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=%d{{ISO8601}} %p %c{{2}}: %m%n
# The daemons log their start-up banner and state changes at INFO: keep those.
log4j.logger.org.apache.hadoop.hdfs.server.namenode.NameNode=INFO
log4j.logger.org.apache.hadoop.hdfs.server.datanode.DataNode=INFO
log4j.logger.org.apache.hadoop.hdfs.StateChange=INFO
# ... but not a line for every block a client reads or writes.
log4j.logger.org.apache.hadoop.hdfs.server.datanode.DataNode.clienttrace=WARN
"""


def shared_properties(env_file: Path | None = None) -> dict[str, dict[str, str]]:
    """{'core-site': {...}, 'hdfs-site': {...}} from hdfs.env."""
    files: dict[str, dict[str, str]] = {"core-site": {}, "hdfs-site": {}}
    for variable, value in read_env_file(env_file or HADOOP_DIR / "hdfs.env").items():
        prefix, sep, name = variable.partition(".XML_")
        if not sep or prefix.lower() not in files:
            raise EngineError(f"docker/hadoop/hdfs.env: {variable} is not CORE-SITE.XML_<name> or HDFS-SITE.XML_<name>")
        files[prefix.lower()][name] = value
    return files


def site_xml(properties: dict[str, str]) -> str:
    body = "".join(f"  <property><name>{escape(k)}</name><value>{escape(v)}</value></property>\n"
                   for k, v in sorted(properties.items()))
    return ('<?xml version="1.0"?>\n<!-- Written by weatherlake engines from docker/hadoop/hdfs.env; '
            f"edit that file, not this one. -->\n<configuration>\n{body}</configuration>\n")


@dataclass(frozen=True)
class HdfsEngine:
    home: Path
    rpc_port: int
    http_port: int
    datanode_port: int
    datanode_http_port: int
    datanode_ipc_port: int
    heap: str = "512m"
    lake_root: str = "/weather_data"
    lake_user: str = "hadoop"
    log_level: str = "WARN"

    @property
    def url(self) -> str:
        return f"hdfs://127.0.0.1:{self.rpc_port}"

    @property
    def webhdfs_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def namenode(self) -> java.Daemon:
        return java.Daemon("namenode", self.home)

    @property
    def datanode(self) -> java.Daemon:
        return java.Daemon("datanode", self.home)

    def daemons(self) -> list[java.Daemon]:
        return [self.namenode, self.datanode]

    @property
    def conf_dir(self) -> Path:
        return self.home.resolve() / "conf" / "hadoop"

    def properties(self) -> dict[str, dict[str, str]]:
        files = shared_properties()
        clash = HOST_PROPERTIES & (files["core-site"].keys() | files["hdfs-site"].keys())
        if clash:
            raise EngineError(f"docker/hadoop/hdfs.env must not set host-specific {', '.join(sorted(clash))}")
        data = self.home.resolve() / "data"
        files["core-site"]["fs.defaultFS"] = self.url
        files["hdfs-site"].update({
            "dfs.namenode.rpc-address": f"127.0.0.1:{self.rpc_port}",
            "dfs.namenode.rpc-bind-host": "127.0.0.1",
            "dfs.namenode.http-address": f"127.0.0.1:{self.http_port}",
            "dfs.namenode.name.dir": str(data / "namenode"),
            "dfs.datanode.data.dir": str(data / "datanode"),
            "dfs.datanode.address": f"127.0.0.1:{self.datanode_port}",
            "dfs.datanode.http.address": f"127.0.0.1:{self.datanode_http_port}",
            "dfs.datanode.ipc.address": f"127.0.0.1:{self.datanode_ipc_port}",
            # WebHDFS redirects to this name: the address local clients reach.
            "dfs.datanode.hostname": "127.0.0.1",
        })
        return files

    def _jvm(self, daemon: java.Daemon) -> list[str]:
        return [f"-Xmx{self.heap}", "-Djava.net.preferIPv4Stack=true", *JAVA17_OPENS,
                f"-Dhadoop.log.dir={(self.home / 'logs').resolve()}", f"-Dhadoop.log.file={daemon.name}.log",
                "-Dhadoop.id.str=" + getpass.getuser(), f"-Dhadoop.home.dir={self.home.resolve()}",
                f"-Dlog4j.configuration=file:{self.conf_dir / 'log4j.properties'}"]

    def classpath(self) -> str:
        """The jars, behind the conf directory: Hadoop reads its *-site.xml from the classpath."""
        return f"{self.conf_dir}:{java.resolve_classpath(HADOOP_DIR / 'pom.xml', self.home / 'classpath')}"

    def start(self, timeout: float = 120.0) -> None:
        """Start whichever daemon is not running (formatting the NameNode the first time).

        Returns once HDFS is usable: out of safe mode, a live DataNode, a WebHDFS round trip.
        """
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        for name, properties in self.properties().items():
            (self.conf_dir / f"{name}.xml").write_text(site_xml(properties))
        (self.conf_dir / "log4j.properties").write_text(LOG4J.format(level=self.log_level))
        classpath = self.classpath()
        name_dir = self.home.resolve() / "data" / "namenode"
        if not (name_dir / "current" / "VERSION").exists():
            self._format(classpath)
        if not self.namenode.pid():
            self._check_free(self.rpc_port, self.http_port)
            self.namenode.start(self._jvm(self.namenode), classpath, "org.apache.hadoop.hdfs.server.namenode.NameNode")
            java.wait_until(lambda: self._jmx("NameNodeInfo") is not None, "the NameNode", self.namenode, timeout)
        if not self.datanode.pid():
            self._check_free(self.datanode_port, self.datanode_http_port, self.datanode_ipc_port)
            self.datanode.start(self._jvm(self.datanode), classpath, "org.apache.hadoop.hdfs.server.datanode.DataNode")
        java.wait_until(self._live_datanodes, "a live DataNode", self.datanode, timeout)
        java.wait_until(self._out_of_safe_mode, "the NameNode to leave safe mode", self.namenode, timeout)
        self._prepare_lake_root()
        java.wait_until(self._round_trip, "a WebHDFS write and read", self.datanode, timeout)
        log.info("HDFS ready: %s (WebHDFS %s)", self.url, self.webhdfs_url)

    def safe_mode(self, action: str) -> str:
        """``hdfs dfsadmin -safemode enter|leave|get`` as HDFS's superuser; its answer."""
        command = [java.java_binary(), *self._jvm(java.Daemon("dfsadmin", self.home)), "-cp", self.classpath(),
                   "org.apache.hadoop.hdfs.tools.DFSAdmin", "-safemode", action]
        result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
        if result.returncode != 0:
            raise EngineError(f"dfsadmin -safemode {action} failed: {(result.stderr or result.stdout).strip()[-400:]}")
        return result.stdout.strip()

    @staticmethod
    def _check_free(*ports: int) -> None:
        for port in ports:
            if java.port_open(port):
                raise EngineError(f"cannot start HDFS: port {port} on 127.0.0.1 is already in use")

    def _format(self, classpath: str) -> None:
        command = [java.java_binary(), *self._jvm(java.Daemon("format", self.home)), "-cp", classpath,
                   "org.apache.hadoop.hdfs.server.namenode.NameNode", "-format", "-nonInteractive",
                   "-clusterid", "weatherlake"]
        result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise EngineError(f"formatting the NameNode failed: {(result.stderr or result.stdout).strip()[-400:]}")
        log.info("formatted the NameNode's directory")

    def _jmx(self, bean: str) -> dict | None:
        try:
            answer = requests.get(f"{self.webhdfs_url}/jmx", params={"qry": f"Hadoop:service=NameNode,name={bean}"},
                                  timeout=5)
            beans = answer.json()["beans"] if answer.ok else []
        except (requests.RequestException, ValueError, KeyError):
            return None
        return beans[0] if beans else None

    def _live_datanodes(self) -> int:
        state = self._jmx("FSNamesystemState")
        return int(state.get("NumLiveDataNodes", 0)) if state else 0

    def _out_of_safe_mode(self) -> bool:
        info = self._jmx("NameNodeInfo")
        return info is not None and not info.get("Safemode")

    def _webhdfs(self, method: str, path: str, user: str, **params) -> requests.Response:
        return requests.request(method, f"{self.webhdfs_url}/webhdfs/v1{path}",
                                params={"user.name": user, **params}, timeout=10)

    def _prepare_lake_root(self) -> None:
        """LAKE_ROOT exists, belongs to the lake's user and is snapshottable (backups), as the
        compose cluster's hdfs-init makes it."""
        superuser = getpass.getuser()
        for method, params in (("PUT", {"op": "MKDIRS", "permission": "755"}),
                               ("PUT", {"op": "SETOWNER", "owner": self.lake_user}),
                               ("PUT", {"op": "ALLOWSNAPSHOT"})):
            answer = self._webhdfs(method, self.lake_root, superuser, **params)
            if not answer.ok:
                raise EngineError(f"preparing {self.lake_root} on HDFS failed: HTTP {answer.status_code} {answer.text[:200]}")

    def _round_trip(self) -> bool:
        """A file written and read back through WebHDFS (and so through the DataNode)."""
        path = f"{self.lake_root}/.engines-check-{uuid.uuid4().hex}"
        payload = b"weatherlake engines check\n"
        try:
            created = requests.put(f"{self.webhdfs_url}/webhdfs/v1{path}", data=payload, timeout=10, params={
                "op": "CREATE", "user.name": self.lake_user, "overwrite": "true"})
            if created.status_code != 201:
                return False
            read = self._webhdfs("GET", path, self.lake_user, op="OPEN")
            return read.ok and read.content == payload
        except requests.RequestException:
            return False
        finally:
            with contextlib.suppress(requests.RequestException):
                self._webhdfs("DELETE", path, self.lake_user, op="DELETE")
