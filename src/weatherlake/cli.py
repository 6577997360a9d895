"""The ``weatherlake`` command: one subcommand per component, a thin shell over the library.

Every command runs in the foreground, logs to stderr, stops cleanly on SIGTERM/Ctrl-C,
and turns a WeatherlakeError into one ``Error: ...`` line and exit code 1.
"""

from __future__ import annotations

import re
import sys
from datetime import timedelta

import click
from dotenv import load_dotenv

from weatherlake import __version__, logs
from weatherlake.config import Settings
from weatherlake.errors import WeatherlakeError


class Group(click.Group):
    """A click group that reports weatherlake's own errors in one line."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except WeatherlakeError as error:
            click.echo(f"Error: {error}", err=True)
            sys.exit(1)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="weatherlake")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """weatherlake: city weather through Kafka, a date-partitioned lake, Spark and Flask.

    Settings come from environment variables (and a .env file in the current
    directory); see .env.example for every one of them.
    """
    load_dotenv(".env", override=False)
    try:
        settings = Settings.from_env()
    except WeatherlakeError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(1)
    logs.configure(settings.log_level)
    ctx.obj = settings


def parse_duration(text: str) -> timedelta:
    """'90s', '15m', '36h', '7d' -> timedelta."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text)
    if not match:
        raise click.BadParameter(f"{text!r} is not a duration like 30s, 15m, 36h or 7d")
    amount, unit = int(match[1]), match[2]
    return timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[unit]: amount})


class Duration(click.ParamType):
    name = "duration"

    def convert(self, value, param, ctx):
        return value if isinstance(value, timedelta) else parse_duration(value)


@cli.command()
@click.option("--port", type=int, help="Port of the embedded broker [default: EMBEDDED_KAFKA_PORT].")
@click.pass_obj
def broker(settings: Settings, port: int | None) -> None:
    """Run the embedded Kafka-protocol broker (Tansu) on 127.0.0.1 and create the topics.

    With KAFKA_BOOTSTRAP_SERVERS set, nothing is started: the topics are created on that
    Kafka when missing, and the command exits.
    """
    from dataclasses import replace

    from weatherlake.ingest import kafka
    from weatherlake.ingest.broker import EmbeddedBroker

    if not settings.embedded_broker:
        created = kafka.ensure_topics(settings)
        click.echo(f"Using the Kafka at {settings.bootstrap_servers}; topics ready ({len(created)} created).", err=True)
        return
    if port:
        settings = replace(settings, embedded_kafka_port=port)
    stop = logs.stop_event()
    with EmbeddedBroker(settings.embedded_kafka_port) as embedded:
        kafka.ensure_topics(settings)
        click.echo(f"Embedded Kafka broker ready on {embedded.bootstrap_servers} (Ctrl-C stops it; data is in memory only).", err=True)
        while not stop.wait(0.5):
            if embedded._process.poll() is not None:
                raise WeatherlakeError(f"the embedded broker exited unexpectedly (code {embedded._process.returncode})")


@cli.command()
@click.option("--source", type=click.Choice(["auto", "openweathermap", "open-meteo", "synthetic", "replay"]),
              help="Where weather comes from [default: WEATHER_SOURCE].")
@click.option("--replay-file", type=click.Path(exists=True, dir_okay=False), help="JSON Lines file for --source replay.")
@click.option("--cities", help="Comma-separated city ids [default: CITIES].")
@click.option("--backfill", type=Duration(), help="First produce hourly history for this long back, e.g. 7d.")
@click.option("--cycles", type=click.IntRange(min=0), help="Stop after this many polling cycles (0: backfill only).")
@click.option("--interval", type=float, help="Seconds between polling cycles [default: POLL_INTERVAL_SECONDS].")
@click.option("--inject-anomalies", type=click.IntRange(min=0), default=0,
              help="Known temperature anomalies per city in the backfill (synthetic weather only).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes sharing the backfill's cities (one producer process uses one core).")
@click.pass_obj
def produce(settings: Settings, source, replay_file, cities, backfill, cycles, interval, inject_anomalies,
            workers) -> None:
    """Pull weather for the configured cities into Kafka, keyed by city_id."""
    from dataclasses import replace

    from weatherlake.ingest.producer import run_producer

    changes = {k: v for k, v in {"weather_source": source, "replay_file": replay_file,
                                  "poll_interval_seconds": interval}.items() if v is not None}
    if cities:
        changes["cities"] = tuple(c.strip() for c in cities.split(",") if c.strip())
    run_producer(replace(settings, **changes), backfill=backfill, cycles=cycles, stop=logs.stop_event(),
                 inject_anomalies=inject_anomalies, workers=workers)


@cli.command()
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Sink processes in the consumer group (useful up to the topic's partition count).")
@click.pass_obj
def consume(settings: Settings, workers: int) -> None:
    """Write the observation topic into the lake's date partitions, exactly once."""
    from weatherlake.ingest.sink import run_sink
    from weatherlake.workers import run_processes

    stop = logs.stop_event()
    if workers == 1:
        committed, dead = run_sink(settings, stop=stop)
    else:
        counts = run_processes("sink", run_sink, [(settings,)] * workers, stop=stop, log_level=settings.log_level)
        committed, dead = (sum(column) for column in zip(*counts, strict=True))
    click.echo(f"Sink stopped: {committed} records committed, {dead} dead-lettered.", err=True)


@cli.command()
@click.option("--date", "dates", multiple=True, required=True, type=click.DateTime(["%Y-%m-%d"]),
              help="UTC date whose files to merge (repeatable).")
@click.option("--target-mb", type=click.IntRange(min=1), default=128, show_default=True,
              help="Largest merged file.")
@click.pass_obj
def compact(settings: Settings, dates, target_mb: int) -> None:
    """Merge a day's small lake files into few large ones (crash-safe, exactly-once)."""
    from weatherlake.ingest.compact import compact_date
    from weatherlake.lake import open_lake

    lake = open_lake(settings)
    for day in dates:
        result = compact_date(lake, day.date().isoformat(), target_bytes=target_mb << 20)
        click.echo(f"{day.date()}: merged {result.input_files} files into {result.merged_files}"
                   f"{' (finished an interrupted compaction)' if result.recovered else ''}")


@cli.command()
@click.pass_obj
def cities(settings: Settings) -> None:
    """List the bundled city catalogue (ids for CITIES); * marks the configured ones."""
    from weatherlake.cities import catalogue

    chosen = set(settings.cities)
    for city in catalogue().values():
        mark = "*" if city.id in chosen else " "
        click.echo(f"{mark} {city.id:<22} {city.name}, {city.country}  ({city.latitude:.2f}, {city.longitude:.2f})")


@cli.command()
@click.option("--demo", is_flag=True, help="Backfill a week of history first so every view has data at once.")
@click.option("--duration", type=Duration(), help="Stop by itself after this long (default: until Ctrl-C).")
@click.option("--local-spark", is_flag=True,
              help="Run the analytics in local mode (SPARK_MASTER) instead of a standalone master and worker.")
@click.option("--analytics-every", type=Duration(), default="5m", show_default=True,
              help="How often the scheduler recomputes the batch views.")
@click.option("--engines", "engines", type=click.Choice(["embedded", "apache"]), default="embedded",
              show_default=True,
              help="embedded: Tansu and a local lake; apache: Apache Kafka and HDFS from their Maven jars "
                   "(`weatherlake engines start`).")
@click.pass_obj
def up(settings: Settings, demo: bool, duration: timedelta | None, local_spark: bool,
       analytics_every: timedelta, engines: str) -> None:
    """Run the whole pipeline on this machine, each component a supervised process.

    The embedded broker (unless KAFKA_BOOTSTRAP_SERVERS is set), a Spark standalone
    master and worker (Spark UI on 8080), the producer, the sink, the speed layer, the
    web server and the analytics scheduler, all on the configured lake. With
    --engines apache, Apache Kafka and HDFS take the place of the embedded broker and
    the local lake (started unless they already run; stopped again at the end if
    started here). Logs are prefixed per component; Ctrl-C stops everything.
    """
    from weatherlake.up import run_pipeline, using_engines

    with using_engines(settings, engines == "apache") as (settings, children_env):
        run_pipeline(settings, demo=demo, duration=duration, stop=logs.stop_event(),
                     standalone_spark=not local_spark, analytics_every=analytics_every, env=children_env)


@cli.group()
def engines() -> None:
    """Apache Kafka and HDFS on this machine, from their Maven Central jars (no Docker).

    The releases and settings of the compose cluster's images, run as Java processes in
    the background on 127.0.0.1, with data and logs under ENGINES_DIR (var/engines).
    """


@engines.command("start")
@click.pass_obj
def engines_start(settings: Settings) -> None:
    """Start the engines (fetching the jars with Maven the first time) and wait until usable.

    Prints the settings that point weatherlake at them as KEY=VALUE lines on stdout, e.g.
    `export $(weatherlake engines start)`. When they already run, prints theirs.
    """
    from weatherlake.engines import Engines

    started = Engines.from_settings(settings).start()
    for key, value in started.items():
        click.echo(f"{key}={value}")


@engines.command("stop")
@click.pass_obj
def engines_stop(settings: Settings) -> None:
    """Stop Kafka, the DataNode and the NameNode (their data stays under ENGINES_DIR)."""
    from weatherlake.engines import Engines

    stopped = Engines.from_settings(settings).stop()
    click.echo(f"Stopped {', '.join(stopped)}." if stopped else "No engines were running.", err=True)


@engines.command("status")
@click.pass_obj
def engines_status(settings: Settings) -> None:
    """Say which engines run, with their PIDs and addresses; exit 1 unless all run."""
    from weatherlake.engines import Engines

    states = Engines.from_settings(settings).status()
    for state in states:
        click.echo(state.line())
    if not all(state.pid for state in states):
        sys.exit(1)


def _add_layer_commands() -> None:
    """Commands of layers that live in their own packages."""
    from weatherlake.alerts.commands import alerts
    from weatherlake.backup.commands import backup, restore
    from weatherlake.batch.commands import analytics, scheduler
    from weatherlake.report.commands import report
    from weatherlake.speed.commands import speed
    from weatherlake.stations.commands import bridge, simulate
    from weatherlake.web.commands import serve

    for command in (analytics, scheduler, speed, serve, alerts, bridge, simulate, backup, restore, report):
        cli.add_command(command)


_add_layer_commands()


def main() -> None:
    cli(prog_name="weatherlake")

