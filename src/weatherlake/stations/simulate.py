"""``weatherlake simulate stations``: realistic station readings published over MQTT.

Each simulated station stands near a catalogue city (within about 15 km) and reports
that city's synthetic weather (:class:`~weatherlake.sources.SyntheticSource`) with a
bias of its own, as a neighbourhood's station would. The last ``faulty`` stations are
broken the way real ones break, so validation and the views have something to catch:

* ``units``: temperature in °F and pressure in Pa (out of range: dead-lettered);
* ``clock``: a clock two hours fast (readings from the future: dead-lettered);
* ``stuck``: a sensor that repeats its first values forever (valid readings; a flat line).

The readings go to ``MQTT_TOPIC`` with its ``+`` level set to the station id, QoS 1.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
import paho.mqtt.client as mqtt

from weatherlake.cities import City
from weatherlake.config import Settings
from weatherlake.sources import SyntheticSource
from weatherlake.stations.mqtt import new_client

log = logging.getLogger(__name__)

FAULTS = ("units", "clock", "stuck")
_KEPT = ("temperature", "humidity", "pressure", "wind_speed", "wind_direction", "rainfall")


@dataclass
class SimulatedStation:
    id: str
    name: str
    city: City
    latitude: float
    longitude: float
    bias: float  # °C, this station's own warmth
    fault: str | None = None
    stuck: dict | None = field(default=None, repr=False)


def make_stations(count: int, faulty: int, cities: Sequence[City], seed: int = 7) -> list[SimulatedStation]:
    """``count`` stations spread over ``cities``, the last ``faulty`` of them broken (see FAULTS)."""
    rng = random.Random(seed)
    stations = []
    for i in range(count):
        city = cities[i % len(cities)]
        fault = FAULTS[(i - (count - faulty)) % len(FAULTS)] if i >= count - faulty else None
        stations.append(SimulatedStation(
            id=f"sim-{i:03d}", name=f"{city.name} station {i // len(cities) + 1}", city=city,
            latitude=round(city.latitude + rng.uniform(-0.12, 0.12), 4),
            longitude=round(city.longitude + rng.uniform(-0.12, 0.12), 4),
            bias=round(rng.uniform(-1.0, 1.0), 2), fault=fault,
        ))
    return stations


def reading(station: SimulatedStation, moment: datetime, source: SyntheticSource) -> dict:
    """What ``station`` publishes for ``moment``."""
    weather = source.observe(station.city, moment)
    values = {name: weather[name] for name in _KEPT if weather.get(name) is not None}
    values["temperature"] = round(values["temperature"] + station.bias, 2)
    if station.fault == "stuck":
        station.stuck = station.stuck or values
        values = station.stuck
    elif station.fault == "units":
        values = {**values, "temperature": round(values["temperature"] * 1.8 + 32, 1),
                  "pressure": round(values["pressure"] * 100)}
    if station.fault == "clock":
        moment += timedelta(hours=2)
    return {"station_id": station.id, "latitude": station.latitude, "longitude": station.longitude,
            "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), **values,
            "metadata": {"name": station.name, "simulated": True}}


def moments(backfill: timedelta, interval: timedelta, rounds: int | None, now=lambda: datetime.now(UTC),
            wait=time.sleep) -> Iterator[datetime]:
    """The times readings are taken: every ``interval`` over the last ``backfill`` (at once),
    then one round per ``interval`` as time passes; ``rounds`` live rounds at most.
    ``wait(seconds)`` sleeps between rounds; a true answer ends the rounds (a stop event's wait)."""
    start = now().replace(microsecond=0)
    moment = start - backfill
    while moment < start:
        yield moment
        moment += interval
    done = 0
    while rounds is None or done < rounds:
        current = now().replace(microsecond=0)
        yield current
        done += 1
        if rounds is not None and done >= rounds:
            return
        if wait(max(0.0, (current + interval - now()).total_seconds())):
            return


def run_simulation(settings: Settings, count: int, faulty: int, interval: timedelta, backfill: timedelta,
                   rounds: int | None, stop: threading.Event, seed: int = 7) -> int:
    """Publish until ``rounds`` live rounds are done or ``stop`` is set; return the readings published."""
    from weatherlake.cities import resolve

    stations = make_stations(count, faulty, resolve(settings.cities), seed)
    source = SyntheticSource(settings.synthetic_seed)
    client = _connect(settings)
    published = 0
    try:
        for moment in moments(backfill, interval, rounds, wait=stop.wait):
            if stop.is_set():
                break
            sent = [client.publish(topic_of(settings.mqtt_topic, s.id), orjson.dumps(reading(s, moment, source)), qos=1)
                    for s in stations]
            for info in sent:
                info.wait_for_publish(30)
            published += len(sent)
            log.info("simulate: %d readings of %d stations for %s (%d in all)", len(sent), len(stations),
                     moment.strftime("%Y-%m-%dT%H:%M:%SZ"), published)
    finally:
        client.disconnect()
        client.loop_stop()
    return published


def topic_of(topic_filter: str, station_id: str) -> str:
    """The topic ``station_id`` publishes to under ``topic_filter``: its ``+`` (or a final ``#``) set to the id."""
    levels = topic_filter.split("/")
    if "+" in levels:
        return "/".join(station_id if level == "+" else level for level in levels)
    return "/".join(levels[:-1] + [station_id]) if levels[-1] == "#" else topic_filter


def _connect(settings: Settings) -> mqtt.Client:
    client, (host, port) = new_client(settings, f"weatherlake-simulator-{uuid.uuid4().hex[:6]}")
    client.connect(host, port)
    client.loop_start()
    return client
