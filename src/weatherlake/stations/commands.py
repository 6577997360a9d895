"""``weatherlake bridge``: stations' own readings into the pipeline."""

from __future__ import annotations

import sys

import click

from weatherlake.config import Settings


@click.group()
def bridge() -> None:
    """Bring weather stations' readings into Kafka (docs/stations.md)."""


@bridge.command("mqtt")
@click.pass_obj
def bridge_mqtt(settings: Settings) -> None:
    """Subscribe to MQTT_TOPIC on MQTT_URL (QoS 1, persistent session) and produce each
    reading to the observation topic; invalid readings go to the dead-letter topic.

    A reading is acknowledged to MQTT only once Kafka has it. Stops cleanly on
    Ctrl-C/SIGTERM; exits 1 if Kafka refuses a reading.
    """
    from weatherlake import logs
    from weatherlake.ingest import kafka
    from weatherlake.stations.mqtt import MqttBridge

    kafka.ensure_topics(settings)
    sys.exit(MqttBridge(settings).run(logs.stop_event()))


@click.group()
def simulate() -> None:
    """Simulated data sources for demos and tests."""


@simulate.command("stations")
@click.option("--count", type=click.IntRange(min=1), default=50, show_default=True, help="How many stations.")
@click.option("--faulty", type=click.IntRange(min=0), default=3, show_default=True,
              help="How many of them are broken (wrong units, a fast clock, a stuck sensor, in turn).")
@click.option("--interval", default="1m", show_default=True, help="Time between two readings of a station, e.g. 30s.")
@click.option("--backfill", default="0s", show_default=True,
              help="First publish readings every --interval over this long back, at once, e.g. 6h.")
@click.option("--rounds", type=click.IntRange(min=0), help="Stop after this many live rounds (default: until Ctrl-C).")
@click.pass_obj
def simulate_stations(settings: Settings, count: int, faulty: int, interval: str, backfill: str,
                      rounds: int | None) -> None:
    """Publish realistic readings of COUNT weather stations over MQTT (MQTT_URL, MQTT_TOPIC).

    The stations stand near the CITIES and report their synthetic weather with biases of
    their own; the last --faulty are broken in the ways validation must catch. Run
    `weatherlake bridge mqtt` to bring the readings into the pipeline.
    """
    from weatherlake import logs
    from weatherlake.cli import parse_duration
    from weatherlake.stations.simulate import run_simulation

    if faulty > count:
        raise click.BadParameter(f"--faulty {faulty} is more than --count {count}")
    step = parse_duration(interval)
    if not step:
        raise click.BadParameter("--interval must be longer than 0s")
    published = run_simulation(settings, count, faulty, step, parse_duration(backfill), rounds, logs.stop_event())
    click.echo(f"Published {published} readings of {count} stations ({faulty} faulty).", err=True)
