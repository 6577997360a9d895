"""Java daemons from Maven Central jars: resolve a classpath once, start, find and stop a JVM.

A classpath is resolved by Maven from a pom kept in the repository (``docker/<engine>/pom.xml``)
and cached beside the engine's data, keyed by the pom's digest: the first start downloads
the jars into the local Maven repository (``~/.m2``), every later one reads the cached
list and works offline.

A daemon is a background JVM in its own session whose PID is kept in a file. Its command
line carries ``-Dweatherlake.daemon=<name>@<home>``, and a PID is trusted only while the
process behind it still carries that mark, so a stale PID file never leads to signalling
an unrelated process.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from weatherlake.errors import EngineError

log = logging.getLogger(__name__)


def resolve_classpath(pom: Path, cache_dir: Path) -> str:
    """The runtime classpath of ``pom``'s dependencies, resolved by Maven on first use."""
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:16]
    cached = cache_dir / f"{pom.parent.name}-{digest}.classpath"
    if cached.exists():
        classpath = cached.read_text().strip()
        if all(Path(jar).exists() for jar in classpath.split(os.pathsep)):
            return classpath
    mvn = shutil.which("mvn")
    if not mvn:
        raise EngineError("Maven (mvn) is needed to fetch the engines' jars; install it (apt-get install maven)")
    cache_dir.mkdir(parents=True, exist_ok=True)
    log.info("resolving %s's jars with Maven (the first time downloads them)", pom.parent.name)
    output = cache_dir / f"{pom.parent.name}-{digest}.tmp"
    command = [mvn, "-B", "-q", "-f", str(pom), "dependency:build-classpath",
               "-Dmdep.includeScope=runtime", f"-Dmdep.outputFile={output}"]
    result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        detail = next((line for line in result.stdout.splitlines() if "[ERROR]" in line), result.stderr.strip())
        raise EngineError(f"Maven could not resolve {pom}: {detail[:400]}")
    output.replace(cached)
    return cached.read_text().strip()


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout):
            return True
    except OSError:
        return False


def java_binary() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and Path(java_home, "bin", "java").exists():
        return str(Path(java_home, "bin", "java"))
    java = shutil.which("java")
    if not java:
        raise EngineError("Java 17 or newer is needed to run the engines; install it (apt-get install openjdk-17-jre-headless)")
    return java


@dataclass(frozen=True)
class Daemon:
    """One background JVM: ``name`` (e.g. ``namenode``) under ``home`` (the engines' directory)."""

    name: str
    home: Path

    @property
    def pid_file(self) -> Path:
        return self.home / "run" / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        """What the JVM prints to stdout/stderr (its own logs go to logs/<name>.log)."""
        return self.home / "logs" / f"{self.name}.out"

    @property
    def mark(self) -> str:
        return f"-Dweatherlake.daemon={self.name}@{self.home.resolve()}"

    def pid(self) -> int | None:
        """The PID of this daemon if it runs (checked against the process's command line)."""
        try:
            pid = int(self.pid_file.read_text())
        except (OSError, ValueError):
            return None
        for _ in range(40):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                return None
            if state == "Z":
                return None
            if cmdline:
                return pid if self.mark.encode() in cmdline.split(b"\0") else None
            # An empty command line: the process is between exec calls (the java launcher
            # re-executes itself as it starts). Look again in a moment.
            time.sleep(0.025)
        return None

    def start(self, jvm_options: list[str], classpath: str, main_class: str, *args: str) -> int:
        """Start the JVM in the background, in its own session; returns its PID."""
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        command = [java_binary(), self.mark, *jvm_options, "-cp", classpath, main_class, *args]
        with open(self.log_file, "ab") as output:
            process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True, cwd=self.home)
        self.pid_file.write_text(f"{process.pid}\n")
        log.info("started %s (pid %d), log %s", self.name, process.pid, self.log_file)
        return process.pid

    def exited_with(self) -> str:
        """Why the daemon is not running: the last lines of its output."""
        try:
            tail = self.log_file.read_text(errors="replace").strip().splitlines()[-3:]
        except OSError:
            tail = []
        return " | ".join(line.strip() for line in tail) or "no output"

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM the daemon, SIGKILL it after ``timeout``; True if it was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.pid() is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.pid() is not None:
            log.warning("%s (pid %d) did not stop within %.0f s; killing it", self.name, pid, timeout)
            os.kill(pid, signal.SIGKILL)
            while self.pid() is not None:
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        log.info("stopped %s (pid %d)", self.name, pid)
        return True

    def kill(self) -> None:
        """SIGKILL the daemon at once (a crash, for fault tests)."""
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            while self.pid() is not None:
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)


def wait_until(check, what: str, daemon: Daemon, timeout: float, interval: float = 0.25):
    """Call ``check()`` until it returns something truthy; fail early if ``daemon`` died."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if daemon.pid() is None:
            raise EngineError(f"{daemon.name} exited while waiting for {what}: {daemon.exited_with()}")
        if time.monotonic() > deadline:
            raise EngineError(f"{daemon.name}: gave up after {timeout:.0f} s waiting for {what} (log: {daemon.log_file})")
        time.sleep(interval)
