"""The CLI edge: command lines, output streaming, errors, and the scheduler's loop and signals.

spark-submit itself is replaced here by small executable scripts that behave like it
(print lines, print the result marker, fail, or hang); the real one runs in
test_end_to_end.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from weatherlake.batch import BatchError, scheduler, submit
from weatherlake.batch.commands import analytics
from weatherlake.batch.commands import scheduler as scheduler_command
from weatherlake.config import Settings

RESULT = {
    "run_id": "20261123T100000Z-abcd",
    "status": "published",
    "cutoff": "2026-11-23T09:00:00Z",
    "duration_seconds": 12.5,
    "input": {"records": 10, "accepted": 7, "malformed": 1, "impossible": 1, "duplicates": 1, "rejected": 2, "dates": 1},
    "views": {"city_stats": {"rows": 5, "path": "analytics/city_stats/run=x", "seconds": 1.0, "published": True}},
}


@pytest.fixture
def settings(tmp_path):
    return Settings.from_env({"LAKE_URL": tmp_path.as_uri(), "SPARK_MASTER": "local[2]", "LOG_LEVEL": "DEBUG",
                              "ANALYTICS_LOG_DIR": str(tmp_path / "logs")})


@pytest.fixture
def fake_spark_submit(tmp_path):
    """An executable standing in for spark-submit; FAKE_MODE picks its behaviour."""
    script = tmp_path / "fake-spark-submit"
    script.write_text(
        f"#!{sys.executable}\n"
        + textwrap.dedent(
            f"""
            import json, os, sys, time
            mode = os.environ.get("FAKE_MODE", "ok")
            with open(os.environ["FAKE_LOG"], "a") as log:
                log.write(json.dumps({{"pid": os.getpid(), "argv": sys.argv[1:], "start": time.time()}}) + "\\n")
            print("26/11/23 10:00:00 WARN NativeCodeLoader: whatever", flush=True)
            print("26/11/23 10:00:01 INFO BlockManagerMasterEndpoint: chatter", flush=True)
            print("weatherlake.batch.jobs: run x: reading 1 date directories", file=sys.stderr, flush=True)
            if mode == "fail":
                sys.exit(3)
            if mode == "slow":
                time.sleep(float(os.environ.get("FAKE_SECONDS", "60")))
            print("WEATHERLAKE_RESULT " + {json.dumps(json.dumps(RESULT))}, flush=True)
            """
        )
    )
    script.chmod(0o755)
    return script


@pytest.fixture
def fake_env(monkeypatch, tmp_path):
    log = tmp_path / "fake.log"
    monkeypatch.setenv("FAKE_LOG", str(log))
    return log


def calls(log) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_the_driver_script_runs_alone_in_its_directory_with_the_installed_package():
    """Python puts a script's directory first on sys.path: nothing else may be there, and
    weatherlake must import from the driver's Python itself, without a path added for it."""
    neighbours = {p.name for p in submit.DRIVER_SCRIPT.parent.iterdir() if p.name != "__pycache__"}
    assert neighbours == {submit.DRIVER_SCRIPT.name}
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = subprocess.run([sys.executable, str(submit.DRIVER_SCRIPT), "--help"], cwd="/", env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--lake-uri" in done.stdout and "--job" in done.stdout


@pytest.mark.parametrize("command", [analytics, scheduler_command])
def test_every_command_has_help(command):
    result = CliRunner().invoke(command, ["--help"])
    assert result.exit_code == 0 and command.help and len(result.output) > 200


def test_the_command_line_is_spark_submit_on_the_configured_master_and_lake(settings):
    request = submit.JobRequest(job="anomalies", date_from="2026-11-01", date_to="2026-11-23", keep_runs=5,
                                driver_memory="4g", conf=("spark.sql.shuffle.partitions=8",))
    argv = submit.build_command(settings, request)
    assert argv[0].endswith("pyspark/bin/spark-submit") and os.access(argv[0], os.X_OK)
    assert argv[argv.index("--master") + 1] == "local[2]"
    assert argv[argv.index("--driver-memory") + 1] == "4g"
    assert "spark.sql.shuffle.partitions=8" in argv
    script = argv.index(str(submit.DRIVER_SCRIPT))
    assert argv[script + 1:] == [
        "--lake-uri", settings.lake_uri, "--job", "anomalies", "--keep-runs", "5", "--log-level", "DEBUG",
        "--from", "2026-11-01", "--to", "2026-11-23",
    ]
    env = submit.submit_environment({"PYTHONPATH": "/elsewhere"})
    assert env["PYTHONPATH"] == "/elsewhere", "weatherlake comes from the driver's Python, not a path added here"
    assert env["PYSPARK_DRIVER_PYTHON"] == sys.executable


def test_analytics_streams_progress_and_prints_the_figures(settings, fake_spark_submit, fake_env):
    result = CliRunner().invoke(analytics, ["--job", "city_stats", "--from", "2026-11-23",
                                            "--spark-submit", str(fake_spark_submit)], obj=settings)
    assert result.exit_code == 0, result.output
    assert "reading 1 date directories" in result.output and "NativeCodeLoader" in result.output
    # Spark's INFO chatter stays out of the console, in the log file the console names.
    spark_log = Path(settings.analytics_log_dir) / "spark.log"
    assert "BlockManagerMasterEndpoint" not in result.output and f"Spark's full log: {spark_log}" in result.output
    assert "BlockManagerMasterEndpoint: chatter" in spark_log.read_text()
    assert "reading 1 date directories" in spark_log.read_text()
    assert result.stdout.strip().splitlines()[-1] == (
        "run 20261123T100000Z-abcd: city_stats 5 rows; from 10 records (7 accepted, 1 malformed, "
        "1 impossible, 1 duplicates), cutoff 2026-11-23T09:00:00Z, 12.5 s"
    )
    (call,) = calls(fake_env)
    assert call["argv"][call["argv"].index("--job") + 1] == "city_stats"
    assert call["argv"][call["argv"].index("--from") + 1] == "2026-11-23"


def test_a_failed_spark_submit_is_one_error(settings, fake_spark_submit, fake_env, monkeypatch):
    monkeypatch.setenv("FAKE_MODE", "fail")
    result = CliRunner().invoke(analytics, ["--spark-submit", str(fake_spark_submit)], obj=settings)
    assert isinstance(result.exception, BatchError)
    assert "exited with code 3" in str(result.exception)


def test_the_weatherlake_group_prints_one_line_for_it(fake_spark_submit, fake_env, monkeypatch, tmp_path):
    cli = pytest.importorskip("weatherlake.cli").cli
    monkeypatch.setenv("FAKE_MODE", "fail")
    monkeypatch.chdir(tmp_path)  # no .env from the repository
    result = CliRunner().invoke(cli, ["analytics", "--spark-submit", str(fake_spark_submit)],
                                env={"LAKE_URL": tmp_path.as_uri()})
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1].startswith("Error: spark-submit exited with code 3")


def test_bad_arguments_are_usage_errors(settings):
    result = CliRunner().invoke(analytics, ["--from", "2026-11-23", "--to", "2026-11-01"], obj=settings)
    assert result.exit_code == 2 and "--from must not be after --to" in result.output
    result = CliRunner().invoke(analytics, ["--job", "weekly"], obj=settings)
    assert result.exit_code == 2
    result = CliRunner().invoke(scheduler_command, ["--every", "soon"], obj=settings)
    assert result.exit_code == 2 and "not an interval" in result.output


@pytest.mark.parametrize(
    "text, seconds",
    [("60m", 3600), ("1h", 3600), ("1h30m", 5400), ("90s", 90), ("1d", 86400), ("45", 45), (" 2H ", 7200)],
)
def test_intervals(text, seconds):
    assert scheduler.parse_every(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "0m", "1x", "1h 30", "-5m"])
def test_bad_intervals(text):
    with pytest.raises(ValueError):
        scheduler.parse_every(text)


def test_the_scheduler_never_runs_two_at_once_and_skips_what_it_overran():
    stop = threading.Event()
    active, overlaps, starts = [0], [0], []

    def run_once():
        active[0] += 1
        overlaps[0] = max(overlaps[0], active[0])
        starts.append(time.monotonic())
        time.sleep(0.25 if len(starts) == 2 else 0.02)  # the second run overruns two ticks
        active[0] -= 1
        if len(starts) == 4:
            stop.set()

    loop = scheduler.Scheduler(run_once, every=0.1, stop=stop)
    loop.run()
    assert loop.runs == 4 and overlaps[0] == 1
    assert loop.skipped >= 2
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert all(gap >= 0.05 for gap in gaps)


def test_a_failed_run_does_not_stop_the_schedule():
    stop = threading.Event()
    outcomes = iter([BatchError("boom"), None, None])

    def run_once():
        outcome = next(outcomes)
        if outcome is None:
            stop.set()
            return
        raise outcome

    loop = scheduler.Scheduler(run_once, every=0.01, stop=stop)
    loop.run()
    assert (loop.runs, loop.failures) == (2, 1)


def test_sigterm_stops_the_scheduler_and_its_running_job(settings, fake_spark_submit, fake_env, tmp_path):
    env = {**os.environ, "FAKE_MODE": "slow", "FAKE_SECONDS": "120"}
    code = textwrap.dedent(
        f"""
        import logging, sys
        logging.basicConfig(level=logging.INFO, stream=sys.stderr)
        from weatherlake.batch.commands import scheduler
        from weatherlake.config import Settings
        settings = Settings.from_env({{"LAKE_URL": {tmp_path.as_uri()!r}, "SPARK_MASTER": "local[2]"}})
        scheduler.main(["--every", "1h", "--spark-submit", {str(fake_spark_submit)!r}], obj=settings)
        """
    )
    process = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not calls(fake_env) and time.monotonic() < deadline:
            time.sleep(0.1)
        (call,) = calls(fake_env)
        time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    stderr = process.stderr.read()
    assert "SIGTERM received" in stderr and "scheduler stopped after 1 run(s)" in stderr
    with pytest.raises(ProcessLookupError):
        os.kill(call["pid"], 0)  # the spark-submit stand-in went with it


@pytest.mark.parametrize(("line", "shown"), [
    ("26/12/02 10:25:40 INFO SparkContext: Running Spark version 4.0.1", False),
    ("26/12/02 10:25:40 DEBUG Utils: x", False),
    ("26/12/02 10:25:40 WARN Utils: Your hostname resolves to a loopback address", True),
    ("26/12/02 10:25:40 ERROR Executor: Exception in task 0.0", True),
    ("2026-12-02 10:27:09,123 INFO    weatherlake.batch.jobs: run x: published", True),
    ("Traceback (most recent call last):", True),
    ("Error: Unrecognized option: --bogus", True),
])
def test_the_console_gets_the_jobs_lines_and_sparks_warnings(line, shown):
    assert submit.for_the_console(line) is shown


def test_an_unwritable_log_directory_sends_everything_to_the_console(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert submit.spark_log_file(str(blocker / "logs")) is None
