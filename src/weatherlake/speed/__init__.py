"""The speed layer: a live per-city view of everything observed since the last batch cutoff.

* :mod:`~weatherlake.speed.state` keeps, per city, the latest observation, running
  per-clock-hour aggregates and live anomaly flags, bounded in memory (pure, no I/O);
* :mod:`~weatherlake.speed.baseline` scores observations against the latest batch
  baseline (pure);
* :mod:`~weatherlake.speed.published` reads what the batch layer published and the
  snapshot, through the Lake interface;
* :mod:`~weatherlake.speed.layer` is the Kafka consumer loop (group ``weatherlake-speed``)
  that seeks to the cutoff and replaces ``speed/current.json`` every few seconds;
* :mod:`~weatherlake.speed.commands` is the ``weatherlake speed`` command.

Importing this package imports neither Kafka nor Flask.
"""

from __future__ import annotations

from weatherlake.config import Settings
from weatherlake.errors import ConfigError


def check_settings(settings: Settings) -> None:
    """Raise ConfigError for speed settings that cannot work (the message names the variable)."""
    if settings.speed_snapshot_seconds <= 0:
        raise ConfigError(f"SPEED_SNAPSHOT_SECONDS must be positive, got {settings.speed_snapshot_seconds}")
    if settings.speed_seek_margin_seconds < 0:
        raise ConfigError(f"SPEED_SEEK_MARGIN_SECONDS must not be negative, got {settings.speed_seek_margin_seconds}")
    if settings.speed_max_hours < 1:
        raise ConfigError(f"SPEED_MAX_HOURS must be at least 1, got {settings.speed_max_hours}")
