"""``weatherlake analytics`` and ``weatherlake scheduler``: thin shells over spark-submit.

Both receive the :class:`~weatherlake.config.Settings` as click's ``obj``; failures are
:class:`~weatherlake.batch.BatchError`, which the ``weatherlake`` group prints as one
``Error: ...`` line with exit code 1.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import click
import orjson

from weatherlake.batch import VIEWS, BatchError
from weatherlake.batch.scheduler import STATUS_PATH, Scheduler, parse_every
from weatherlake.batch.submit import (
    JobRequest,
    SparkSubmit,
    build_command,
    describe,
    spark_log_file,
    submit_environment,
)
from weatherlake.config import Settings
from weatherlake.errors import WeatherlakeError
from weatherlake.timefmt import utc_now_seconds

log = logging.getLogger(__name__)
spark_log = logging.getLogger("weatherlake.batch.spark")

JOBS = (*VIEWS, "all")
#: Runs kept in the scheduler's status file (analytics/_scheduler.json), newest last.
RUNS_KEPT = 200


class Interval(click.ParamType):
    name = "interval"

    def convert(self, value, param, ctx):
        if isinstance(value, float):
            return value
        try:
            return parse_every(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)


def spark_options(command):
    """The options both commands share: what to run and how to size the driver."""
    options = [
        click.option("--job", type=click.Choice(JOBS), default="all", show_default=True,
                     help="Which view to recompute; 'all' reads the raw data once for every view."),
        click.option("--from", "date_from", type=click.DateTime(["%Y-%m-%d"]), metavar="YYYY-MM-DD",
                     help="First UTC date of raw data to read (default: the oldest)."),
        click.option("--to", "date_to", type=click.DateTime(["%Y-%m-%d"]), metavar="YYYY-MM-DD",
                     help="Last UTC date of raw data to read (default: the newest)."),
        click.option("--keep-runs", type=click.IntRange(min=1), default=3, show_default=True,
                     help="Run directories kept per view; older ones are deleted."),
        click.option("--driver-memory", metavar="SIZE",
                     help="spark-submit --driver-memory, e.g. 4g (in local mode it is all the memory Spark gets)."),
        click.option("--conf", "conf", multiple=True, metavar="KEY=VALUE",
                     help="Extra Spark configuration, passed to spark-submit (repeatable)."),
        click.option("--spark-submit", "spark_submit", metavar="PATH", hidden=True,
                     help="The spark-submit to run (default: the one bundled with pyspark)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _request(job, date_from, date_to, keep_runs, driver_memory, conf, spark_submit) -> JobRequest:
    if date_from and date_to and date_from > date_to:
        raise click.BadParameter("--from must not be after --to", param_hint="--from/--to")
    return JobRequest(
        job=job,
        date_from=date_from.date().isoformat() if date_from else None,
        date_to=date_to.date().isoformat() if date_to else None,
        keep_runs=keep_runs,
        driver_memory=driver_memory,
        conf=tuple(conf),
        spark_submit=spark_submit,
    )


@click.command("analytics")
@spark_options
@click.pass_obj
def analytics(settings: Settings, job, date_from, date_to, keep_runs, driver_memory, conf, spark_submit) -> None:
    """Recompute the batch views with spark-submit on SPARK_MASTER.

    Reads the raw lake under LAKE_URL/LAKE_ROOT (all of it unless --from/--to narrow
    it), writes analytics/<view>/run=<id>/ and then points each view's _LATEST at it.
    The job's progress and Spark's warnings go to stderr, Spark's whole log to
    ANALYTICS_LOG_DIR/spark.log; the run's figures are printed at the end.
    """
    request = _request(job, date_from, date_to, keep_runs, driver_memory, conf, spark_submit)
    argv = build_command(settings, request)
    file_log = spark_log_file(settings.analytics_log_dir)
    click.echo(f"Running {job} on {settings.spark_master} over {settings.lake_uri}"
               + (f" (Spark's full log: {file_log.path})" if file_log else ""), err=True)
    result = SparkSubmit(argv, submit_environment(os.environ)).run(
        on_line=lambda line: click.echo(line, err=True), file_log=file_log)
    click.echo(describe(result))


@click.command("scheduler")
@click.option("--every", type=Interval(), default="60m", show_default=True,
              help="How often to run, e.g. 15m, 1h, 1h30m.")
@click.option("--run-now/--wait-first", default=True, show_default=True,
              help="Run once at start, or only after the first interval.")
@click.option("--report-daily/--no-report-daily", default=None,
              help="Make yesterday's health report once a day (default: REPORT_DAILY).")
@click.option("--backup-every", metavar="INTERVAL", default=None,
              help="Back the lake up this often, the first after one interval (default: BACKUP_EVERY; 0: never).")
@click.option("--compact-every", metavar="INTERVAL", default=None,
              help="Merge the small files of closed days this often, the first at once "
                   "(default: COMPACT_EVERY; 0: never).")
@spark_options
@click.pass_obj
def scheduler(settings: Settings, every, run_now, report_daily, backup_every, compact_every, job, date_from, date_to,
              keep_runs, driver_memory, conf, spark_submit) -> None:
    """Run the analytics every --every, one run at a time, back the lake up every
    --backup-every and compact closed days every --compact-every, until SIGTERM or Ctrl-C.

    A run that fails is logged and the schedule goes on; a run still going when the
    stop signal arrives is cancelled (its unpublished output is pruned by a later run).
    Each backup's outcome is recorded in the lake (`weatherlake backup list` shows it).
    """
    request = _request(job, date_from, date_to, keep_runs, driver_memory, conf, spark_submit)
    argv = build_command(settings, request)  # fails now, not at the first tick, if spark-submit is missing
    env = submit_environment(os.environ)
    stop = threading.Event()
    current: list[SparkSubmit] = []

    file_log = spark_log_file(settings.analytics_log_dir)

    # An analytics run and a compaction never overlap here: Spark lists the raw files
    # before it reads them, and a compaction deletes the files it merged.
    reading = threading.Lock()

    def run_once() -> None:
        job_run = SparkSubmit(argv, env)
        current[:] = [job_run]
        with reading:
            if stop.is_set():
                return
            log.info("analytics run starting: %s on %s%s", request.job, settings.spark_master,
                     f" (Spark's full log: {file_log.path})" if file_log else "")
            started = utc_now_seconds()
            try:
                result = job_run.run(on_line=lambda line: spark_log.info("%s", line), file_log=file_log)
            except BatchError as error:
                if not stop.is_set():
                    _record_run(settings, started, error)
                raise
            _record_run(settings, started, None)
        log.info("analytics %s", describe(result))

    def on_signal(signum, _frame) -> None:
        log.info("%s received; stopping the scheduler", signal.Signals(signum).name)
        stop.set()
        for job_run in current:
            job_run.cancel()

    backups = _backup_loop(settings, backup_every, stop)
    compactions = _compaction_loop(settings, compact_every, stop, reading)
    reports = _report_loop(settings, settings.report_daily if report_daily is None else report_daily, stop)
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        log.info("scheduler: %s every %s on %s", request.job, _human(every), settings.spark_master)
        loop = Scheduler(run_once, every, stop)
        loop.run(run_at_start=run_now)
    finally:
        stop.set()
        # A backup, compaction or report still going gets a moment to finish; what they
        # write is atomic, an unfinished backup is deleted by a later one, and an
        # interrupted compaction finished by the next.
        for thread, grace in ((backups, 30.0), (compactions, 30.0), (reports, 10.0)):
            if thread is not None:
                thread.join(grace)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("scheduler stopped after %d run(s), %d failed", loop.runs, loop.failures)


def _interval(text: str, option: str) -> float | None:
    """An interval option's seconds, or None for "" or 0 (never)."""
    if text.strip() in ("", "0"):
        return None
    try:
        return parse_every(text)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint=option) from None


def _beside(name: str, action: Callable[[], None], every: float, stop: threading.Event,
            run_at_start: bool) -> threading.Thread:
    """``action`` every ``every`` seconds in a thread of its own, beside the analytics."""
    thread = threading.Thread(target=Scheduler(action, every, stop, name=name).run,
                              kwargs={"run_at_start": run_at_start}, name=f"weatherlake-{name}", daemon=True)
    thread.start()
    return thread


def _backup_loop(settings: Settings, every_text: str | None, stop: threading.Event) -> threading.Thread | None:
    """A thread backing the lake up every ``every_text`` (BACKUP_EVERY by default; 0: never), or None."""
    every = _interval(settings.backup_every if every_text is None else every_text, "--backup-every")
    if every is None:
        return None

    def backup_once() -> None:
        from weatherlake.backup.core import create_backup
        from weatherlake.lake import open_lake, open_location

        try:
            with open_lake(settings) as lake:
                target = open_location(settings, settings.backup_copy_to, "BACKUP_COPY_TO") \
                    if settings.backup_copy_to else None
                manifest = create_backup(lake, keep=settings.backup_keep, copy_to=target)
            log.info("backup %s: %d files, %d bytes", manifest.id, len(manifest.files), manifest.bytes)
        except (WeatherlakeError, OSError) as error:  # recorded in the lake by create_backup; the schedule goes on
            log.error("backup failed: %s", error)

    log.info("scheduler: a backup every %s", _human(every))
    return _beside("backups", backup_once, every, stop, run_at_start=False)


def _compaction_loop(settings: Settings, every_text: str | None, stop: threading.Event,
                     reading: threading.Lock) -> threading.Thread | None:
    """A thread merging the small files of the closed days that need it
    (:func:`~weatherlake.ingest.compact.due_dates`) every ``every_text`` (COMPACT_EVERY by
    default; 0: never), the first time at once, never while ``reading`` is held; or None."""
    every = _interval(settings.compact_every if every_text is None else every_text, "--compact-every")
    if every is None:
        return None

    def compact_once() -> None:
        from weatherlake.ingest.compact import CompactionRunning, compact_date, due_dates
        from weatherlake.lake import open_lake

        try:
            with reading, open_lake(settings) as lake:
                for day in due_dates(lake, datetime.now(UTC).date().isoformat()):
                    if stop.is_set():
                        return
                    try:
                        compact_date(lake, day)  # logs what it merged
                    except CompactionRunning:
                        log.info("compaction of %s: another run holds it; trying again next time", day)
        except (WeatherlakeError, OSError) as error:  # an interrupted compaction is finished by the next
            log.error("compaction failed: %s", error)

    log.info("scheduler: compaction of closed days every %s", _human(every))
    return _beside("compaction", compact_once, every, stop, run_at_start=True)


def _report_loop(settings: Settings, daily: bool, stop: threading.Event) -> threading.Thread | None:
    """A thread that makes yesterday's report (UTC) when it is not in the lake yet, checking every hour."""
    if not daily:
        return None

    def report_once() -> None:
        from weatherlake.lake import open_lake
        from weatherlake.report import render
        from weatherlake.report.commands import make_report, yesterday

        day = yesterday()
        try:
            with open_lake(settings) as lake:
                if lake.exists(render.path(day.isoformat(), "json")):
                    return
            make_report(settings, day, email=settings.report_email)
        except (WeatherlakeError, OSError) as error:
            log.error("the report of %s failed: %s", day, error)

    log.info("scheduler: yesterday's report, once a day")
    return _beside("reports", report_once, 3600.0, stop, run_at_start=True)


def _record_run(settings: Settings, started: str, error: BatchError | None) -> None:
    """Keep the run's outcome in the lake (scheduler.STATUS_PATH) for the alert rules."""
    from weatherlake.lake import open_lake

    status = {"started_at": started, "finished_at": utc_now_seconds(), "ok": error is None,
              "error": None if error is None else str(error).splitlines()[0][:300]}
    try:
        with open_lake(settings) as lake:
            try:  # the last run's fields at the top (the alert rules read them), and a history of runs
                runs = orjson.loads(lake.read_atomic(STATUS_PATH) or b"{}").get("runs", [])
            except (orjson.JSONDecodeError, AttributeError):
                runs = []
            lake.write_atomic(STATUS_PATH, orjson.dumps({**status, "runs": [*runs, status][-RUNS_KEPT:]}))
    except (WeatherlakeError, OSError) as error:
        log.warning("cannot record the run's outcome in the lake (%s)", error)


def _human(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"

