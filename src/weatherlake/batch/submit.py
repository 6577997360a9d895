"""Run the batch jobs through ``spark-submit``: build the command line, stream its output.

The command is the one documented in weatherlake.batch.jobs::

    <pyspark>/bin/spark-submit --master SPARK_MASTER --name weatherlake-analytics-<job>
        [--driver-memory M] [--conf K=V ...] <weatherlake>/batch/driver/analytics.py
        --lake-uri <LAKE_URL + LAKE_ROOT> --job <job> [--from D] [--to D] --keep-runs N

spark-submit is the one bundled with the installed pyspark, so the client, the driver's
Spark and (in the cluster, where workers run the project image) the executors' Spark are
the same version. The driver is this Python, so it imports the weatherlake installed
there, the one running this code (``pip install -e .`` in a checkout, ``pip install`` in
the image); executors never run Python (see jobs.py), so a cluster needs no ``--py-files``.

Nothing here imports pyspark: starting the CLI stays quick.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import logging.handlers
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from weatherlake.batch import BatchError
from weatherlake.config import Settings

log = logging.getLogger(__name__)

RESULT_MARKER = "WEATHERLAKE_RESULT "  # the same as weatherlake.batch.jobs.RESULT_MARKER
#: The file spark-submit runs: it calls weatherlake.batch.jobs.main().
DRIVER_SCRIPT = Path(__file__).parent / "driver" / "analytics.py"


def bundled_spark_submit() -> str:
    """The spark-submit script inside the installed pyspark package."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise BatchError("pyspark is not installed in this Python environment")
    script = Path(next(iter(spec.submodule_search_locations))) / "bin" / "spark-submit"
    if not script.exists():
        raise BatchError(f"pyspark has no spark-submit at {script}")
    return str(script)


@dataclass(frozen=True)
class JobRequest:
    """What to run: the arguments of ``weatherlake analytics``."""

    job: str = "all"
    date_from: str | None = None
    date_to: str | None = None
    keep_runs: int = 3
    driver_memory: str | None = None
    conf: tuple[str, ...] = ()
    spark_submit: str | None = None
    extra_args: tuple[str, ...] = field(default=())


GC_OPTIONS = "-XX:+UseParallelGC"


def build_command(settings: Settings, request: JobRequest) -> list[str]:
    """The spark-submit argv for ``request`` against the lake and master in ``settings``."""
    argv = [
        request.spark_submit or bundled_spark_submit(),
        "--master",
        settings.spark_master,
        "--name",
        f"weatherlake-analytics-{request.job}",
        # Plain log lines rather than Spark 4's JSON ones: they are streamed to a person.
        "--conf",
        "spark.log.structuredLogging.enabled=false",
    ]
    # The throughput collector: the jobs are batch work, and G1's concurrent marking
    # competes with the tasks for the cores (measured with benchmarks/bench_batch.py:
    # all views 230 s instead of 239 s on a machine that ran the plain scan 19% slower).
    # defaultJavaOptions, so a user's extraJavaOptions add to it rather than replace it.
    for side in ("driver", "executor"):
        argv += ["--conf", f"spark.{side}.defaultJavaOptions={GC_OPTIONS}"]
    if request.driver_memory:
        argv += ["--driver-memory", request.driver_memory]
    for item in request.conf:
        if "=" not in item:
            raise BatchError(f"--conf takes KEY=VALUE, got {item!r}")
        argv += ["--conf", item]
    argv += [
        str(DRIVER_SCRIPT),
        "--lake-uri",
        settings.lake_uri,
        "--job",
        request.job,
        "--keep-runs",
        str(request.keep_runs),
        "--log-level",
        settings.log_level.upper(),
    ]
    if request.date_from:
        argv += ["--from", request.date_from]
    if request.date_to:
        argv += ["--to", request.date_to]
    return argv + list(request.extra_args)


def submit_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The child's environment: ours, with this Python as the driver's."""
    env = dict(environ)
    # The driver must be this interpreter (it has pyspark and weatherlake); executors use
    # PYSPARK_PYTHON, which in the cluster is the same path inside the same image.
    env.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    return env


#: Spark's own log lines (log4j's default layout): ``26/12/02 10:25:40 INFO SparkContext: ...``.
_SPARK_LOG_LINE = re.compile(r"\d\d/\d\d/\d\d \d\d:\d\d:\d\d (TRACE|DEBUG|INFO|WARN|ERROR|FATAL) ")


def for_the_console(line: str) -> bool:
    """Whether a line of spark-submit's output is worth a person's attention.

    Spark's INFO chatter (block managers, executors, transport clients) is not; its
    warnings and errors are, and so is everything that is not Spark's log: the job's own
    log lines, a Python traceback, spark-submit's usage errors.
    """
    match = _SPARK_LOG_LINE.match(line)
    return match is None or match[1] in ("WARN", "ERROR", "FATAL")


def spark_log_file(directory: str) -> logging.Logger | None:
    """A logger that keeps spark-submit's whole output in ``<directory>/spark.log``.

    Rotated at 10 MB, three files kept. None if the directory cannot be written: then
    the console gets every line, as without a file.
    """
    path = Path(directory) / "spark.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=10 << 20, backupCount=3, encoding="utf-8")
    except OSError as error:
        log.warning("cannot keep Spark's log in %s (%s); it goes to the console", path, error.strerror)
        return None
    handler.setFormatter(logging.Formatter("%(message)s"))
    file_log = logging.getLogger(f"weatherlake.spark-file.{path.resolve()}")
    file_log.handlers[:] = [handler]
    file_log.setLevel(logging.INFO)
    file_log.propagate = False
    file_log.path = path  # type: ignore[attr-defined]
    return file_log


class SparkSubmit:
    """One spark-submit child: started, streamed line by line, cancellable from a signal handler."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str]) -> None:
        self.argv = list(argv)
        self.env = dict(env)
        self._process: subprocess.Popen | None = None
        self._cancelled = threading.Event()

    def run(self, on_line: Callable[[str], None], file_log: logging.Logger | None = None) -> dict | None:
        """Run to the end, passing output lines to ``on_line``; return the job's result.

        With ``file_log`` every line goes there and ``on_line`` gets only those
        :func:`for_the_console`; without it, ``on_line`` gets them all. Raise
        :class:`BatchError` if spark-submit cannot start, fails, or was cancelled.
        """
        if file_log is not None:
            show = on_line

            def on_line(line: str) -> None:
                file_log.info("%s", line)
                if for_the_console(line):
                    show(line)

        log.debug("running %s", " ".join(self.argv))
        try:
            # Its own process group: cancel() stops spark-submit's JVM and the Python driver it started.
            self._process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=self.env,
                text=True,
                errors="replace",
                bufsize=1,
                start_new_session=True,
            )
        except OSError as error:
            raise BatchError(f"cannot run {self.argv[0]}: {error.strerror}") from None
        result = None
        assert self._process.stdout is not None
        with self._process.stdout:
            for line in self._process.stdout:
                line = line.rstrip("\n")
                if line.startswith(RESULT_MARKER):
                    try:
                        result = json.loads(line[len(RESULT_MARKER) :])
                    except ValueError:
                        on_line(line)
                else:
                    on_line(line)
        code = self._process.wait()
        where = getattr(file_log, "path", None) or "above"
        if self._cancelled.is_set():
            raise BatchError("the analytics run was cancelled")
        if code != 0:
            raise BatchError(f"spark-submit exited with code {code} (its log: {where})")
        if result is None:
            raise BatchError(f"spark-submit finished without reporting a result (its log: {where})")
        return result

    def cancel(self, grace_seconds: float = 20.0) -> None:
        """Stop the child: SIGTERM to its process group, SIGKILL after ``grace_seconds``."""
        self._cancelled.set()
        process = self._process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return

        def kill_later() -> None:
            try:
                process.wait(grace_seconds)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)

        threading.Thread(target=kill_later, name="spark-submit-reaper", daemon=True).start()


def describe(result: dict) -> str:
    """One line of figures for a finished run."""
    if result.get("status") != "published":
        return f"run {result.get('run_id')}: no raw data in the window, nothing published ({result.get('duration_seconds', 0):.1f} s)"
    stats = result["input"]
    views = ", ".join(f"{name} {info['rows']:,} rows" for name, info in result["views"].items())
    return (
        f"run {result['run_id']}: {views}; from {stats['records']:,} records "
        f"({stats['accepted']:,} accepted, {stats['malformed']:,} malformed, {stats['impossible']:,} impossible, "
        f"{stats['duplicates']:,} duplicates), cutoff {result['cutoff']}, {result['duration_seconds']:.1f} s"
    )
