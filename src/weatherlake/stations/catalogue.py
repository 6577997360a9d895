"""The stations' catalogue: every station that sent a valid reading, in the lake.

``stations/catalogue.json`` holds one entry per station: its id, ``city_id``, name and
position (from its newest reading), and when it was first and last seen (reading
times). The speed layer registers a station on its first valid reading, within a
snapshot period, and keeps the file up to date; the web app serves it
(``/api/stations``) and marks stations in the city list.

An entry is a function of the readings themselves (the earliest and the newest), not of
how often they were read, so the speed layer re-reading a stretch of the topic after a
restart or a new batch run changes nothing.
"""

from __future__ import annotations

import logging

import orjson

from weatherlake.errors import LakeError, WeatherlakeError
from weatherlake.lake import Lake

log = logging.getLogger(__name__)

PATH = "stations/catalogue.json"
FORMAT = 1


class StationCatalogue:
    def __init__(self, stations: dict[str, dict] | None = None) -> None:
        self.stations = stations or {}
        self.dirty = False

    @classmethod
    def load(cls, lake: Lake) -> StationCatalogue:
        data = lake.read_atomic(PATH)
        if not data:
            return cls()
        try:
            return cls(parse(data))
        except (orjson.JSONDecodeError, KeyError, TypeError) as error:
            raise WeatherlakeError(f"{PATH} in the lake is unreadable ({error}); move it away to rebuild it "
                                   "from the readings") from None

    def observe(self, record: dict) -> None:
        """Register or update the station of ``record`` (a no-op for a city's observation)."""
        station_id = record.get("station_id")
        if station_id is None:
            return
        moment = record["timestamp"]
        entry = self.stations.get(station_id)
        if entry is None:
            entry = self.stations[station_id] = {"station_id": station_id, "first_seen": moment, "last_seen": ""}
            log.info("station %s registered (first reading %s)", station_id, moment)
        if moment < entry["first_seen"]:
            entry["first_seen"] = moment
            self.dirty = True
        if moment > entry["last_seen"]:
            entry.update(city_id=record["city_id"], name=record["city"], latitude=record["latitude"],
                         longitude=record["longitude"], sender=record.get("sender"), last_seen=moment)
            self.dirty = True

    def to_bytes(self) -> bytes:
        return orjson.dumps({"format": FORMAT, "stations": [self.stations[s] for s in sorted(self.stations)]})

    def save(self, lake: Lake) -> None:
        """Write the catalogue if it changed; on a lake error, try again at the next call."""
        if not self.dirty:
            return
        try:
            lake.write_atomic(PATH, self.to_bytes())
        except (LakeError, OSError) as error:
            log.warning("cannot write %s (%s); trying again at the next tick", PATH, error)
            return
        self.dirty = False


def parse(data: bytes) -> dict[str, dict]:
    """station_id -> entry, from the catalogue file's bytes."""
    return {entry["station_id"]: entry for entry in orjson.loads(data)["stations"]}


def read(lake: Lake) -> list[dict] | None:
    """The catalogue's stations, or None when no station was ever seen."""
    data = lake.read_atomic(PATH)
    return list(parse(data).values()) if data else None
