"""``weatherlake speed``: the speed layer as a foreground service."""

from __future__ import annotations

import click

from weatherlake.config import Settings


@click.command()
@click.pass_obj
def speed(settings: Settings) -> None:
    """Keep the live per-city view since the last batch cutoff in speed/current.json.

    Reads the observation topic as consumer group weatherlake-speed, from the cutoff of
    the latest batch run (or the last SPEED_MAX_HOURS hours before the first run), and
    replaces the snapshot every SPEED_SNAPSHOT_SECONDS. Stops cleanly on Ctrl-C/SIGTERM
    after a last snapshot; a restart resumes from that snapshot.
    """
    from weatherlake import logs
    from weatherlake.lake import open_lake
    from weatherlake.speed.layer import SpeedLayer

    stop = logs.stop_event()
    with open_lake(settings) as lake:
        layer = SpeedLayer(settings, lake)
        layer.run(stop, connect_timeout=settings.kafka_connect_timeout_seconds)
    click.echo(
        f"Speed layer stopped: {layer.counters['consumed']} records read, {layer.snapshots_written} snapshots written.",
        err=True,
    )
