"""Real hourly weather for the tests and evaluations that need history: NREL's typical
meteorological years (TMY3) of Greensboro, NC (723170) and Sand Point, AK (703165), as
pvlib ships them in its wheel. A TMY year is twelve months of real hourly observations
from different years (each month's hours are consecutive). The wheel is downloaded once
(``pip download``, no install) into var/history; scripts/bootstrap.sh --test does it."""

from __future__ import annotations

import csv
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

PVLIB = "pvlib==0.16.1"
STATIONS = {"greensboro-us": "723170TYA.CSV", "sand-point-us": "703165TY.csv"}
METRICS = ("temperature", "humidity", "pressure", "wind_speed")
COLUMNS = {"temperature": "Dry-bulb (C)", "humidity": "RHum (%)", "pressure": "Pressure (mbar)",
           "wind_speed": "Wspd (m/s)"}
CACHE = Path(__file__).resolve().parents[1] / "var" / "history"
#: Each station's year is laid out as one year's hours from here.
START = datetime(2025, 1, 1, tzinfo=UTC)


def wheel() -> Path:
    found = sorted(CACHE.glob("pvlib-*.whl"))
    if not found:
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", PVLIB, "-d", str(CACHE)],
                       check=True)
        found = sorted(CACHE.glob("pvlib-*.whl"))
    return found[-1]


def tmy_history() -> dict[str, list[dict]]:
    """Per station, its 8,760 hours of {metric: value} in order."""
    series = {}
    with zipfile.ZipFile(wheel()) as archive:
        for city, name in STATIONS.items():
            lines = archive.read(f"pvlib/data/{name}").decode("latin-1").splitlines()[1:]  # line 1: the station
            series[city] = [{m: float(row[COLUMNS[m]]) for m in METRICS} for row in csv.DictReader(lines)]
    return series
