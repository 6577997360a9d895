"""Weather sources: where observation records come from.

Every source implements :class:`Source` (``name``, ``current(cities)``,
``history(cities, start, end)``) and builds records with
:func:`weatherlake.records.make_record`; the producer validates them.

* :class:`OpenWeatherMapSource`: current weather with an API key (history via Open-Meteo);
* :class:`OpenMeteoSource`: current weather and history, no key, many cities a request;
* :class:`SyntheticSource`: seeded, deterministic, offline; :class:`Anomaly` injects
  known anomalies;
* :class:`ReplaySource`: a JSON Lines file; undecodable lines come out as :class:`RawLine`;
* :class:`FallbackSource`: a real provider with synthetic data standing in while it is
  unreachable (``WEATHER_SOURCE=auto``).

:func:`open_source` builds the one the settings name; :func:`backfill` fetches a period
with progress reports. See ``docs/sources.md``.
"""

from weatherlake.sources.auto import FallbackSource, history_with_fallback, open_source
from weatherlake.sources.backfill import BackfillProgress, backfill
from weatherlake.sources.base import Source
from weatherlake.sources.open_meteo import OpenMeteoSource, describe_weather_code
from weatherlake.sources.openweathermap import OpenWeatherMapSource
from weatherlake.sources.replay import RawLine, ReplaySource
from weatherlake.sources.synthetic import Anomaly, SyntheticSource

__all__ = [
    "Anomaly",
    "BackfillProgress",
    "FallbackSource",
    "OpenMeteoSource",
    "OpenWeatherMapSource",
    "RawLine",
    "ReplaySource",
    "Source",
    "SyntheticSource",
    "backfill",
    "describe_weather_code",
    "history_with_fallback",
    "open_source",
]
