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
