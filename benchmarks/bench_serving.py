"""Serving benchmark: `weatherlake serve` (gunicorn) under a steady request rate, and the dashboard.

    .venv/bin/python benchmarks/bench_serving.py [--cities 5,1000] [--rate 200] [--seconds 15]

For each city count it writes a lake with every batch view (``--hours`` hours of hourly
trends per city, daily statistics, diurnal profiles, a few anomalies) and a speed
snapshot, starts ``weatherlake serve`` as deployed (gunicorn, WEB_WORKERS x WEB_THREADS,
default 2 x 4) on 127.0.0.1, and while a separate process replaces the speed snapshot
every 5 s (as the speed layer does, so every worker keeps reloading it; by default every
city's live data changes each time, the worst case; ``--changed-cities N`` changes N):

* an open-loop load generator sends ``--rate`` requests/s for ``--seconds`` s to each of
  /api/current, /api/hourly-trends and /api/city-statistics (default parameters, as the
  dashboard asks) over keep-alive connections; latency is measured from when a request
  was *due*, so a server that falls behind shows it (no coordinated omission);
* a closed loop with 8 connections measures the most requests/s the server gives;
* headless Chromium (Debian's) loads the dashboard 3 times and times it until every
  panel has rendered;
* then every city's longest series and chart are asked for, 10 cities at a time, to fill
  each worker's cache, and each worker's resident memory is printed (now, and its peak). ``--memory-only`` does just that:

    .venv/bin/python benchmarks/bench_serving.py --memory-only --snapshot-every 0 --cities 10000
    .venv/bin/python benchmarks/bench_serving.py --memory-only --snapshot-every 0 --cities 1000 --hours 8760

Only 127.0.0.1 is ever contacted; every loop is bounded in count and time. Figures, not
assertions: the machine is shared, so compare runs, not single numbers.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import free_port  # noqa: E402

from weatherlake.config import Settings  # noqa: E402
from weatherlake.lake import open_lake  # noqa: E402
from weatherlake.speed.published import SNAPSHOT_PATH, encode_snapshot  # noqa: E402

ENDPOINTS = ("/api/current", "/api/hourly-trends", "/api/city-statistics")
END = datetime(2026, 11, 23, 12, tzinfo=UTC)
CONFIGURED = ("london-gb", "new-york-us", "tokyo-jp", "sydney-au", "dubai-ae")


def city_ids(count: int) -> list[str]:
    ids = list(CONFIGURED[:count])
    ids += [f"city{i:04d}-xx" for i in range(count - len(ids))]
    return ids


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_lake(lake, cities: list[str], hours: int) -> str:
    """Batch views up to the cutoff and a speed snapshot after it; returns the cutoff.

    Written a city at a time into part files of PART_BYTES, so a year of hourly data for
    1,000 cities (8.76 million rows) never sits in this process's memory.
    """
    rng = random.Random(7)
    cutoff_moment = END - timedelta(minutes=40)
    cutoff = iso(cutoff_moment)
    views = {view: ViewWriter(lake, view) for view in ("hourly_trends", "city_stats", "diurnal_profile", "anomalies")}
    hourly, stats, diurnal, anomalies = views.values()
    for city_id in cities:
        name = city_id.split("-")[0].title()
        base = rng.uniform(-5, 30)
        for h in range(hours, 0, -1):
            hour = cutoff_moment.replace(minute=0) - timedelta(hours=h - 1)
            t = base + 5 * ((hour.hour - 12) / 12) + rng.gauss(0, 1)
            hourly.add({"city_id": city_id, "city": name, "hour": iso(hour), "record_count": 1,
                        "avg_temperature": round(t, 4), "min_temperature": round(t, 2), "max_temperature": round(t, 2),
                        "avg_humidity": 60.0, "avg_pressure": 1012.0, "avg_wind_speed": 3.0, "total_rainfall": 0.0,
                        "rolling_24h_avg_temperature": round(base, 4), "rolling_24h_record_count": 24})
        common = {"city_id": city_id, "city": name, "avg_temperature": round(base, 4), "min_temperature": base - 8,
                  "max_temperature": base + 8, "stddev_temperature": 3.1, "avg_humidity": 60.0, "avg_wind_speed": 3.0,
                  "total_rainfall": 12.0, "avg_pressure": 1012.0, "first_timestamp": iso(END - timedelta(hours=hours)),
                  "last_timestamp": cutoff}
        stats.add({**common, "record_count": hours})
        for d in range(hours // 24 + 1):
            day = (cutoff_moment - timedelta(days=d)).date().isoformat()
            stats.add({**common, "record_count": 24, "period": "day", "period_start": day})
        for h in range(24):
            diurnal.add({"city_id": city_id, "city": name, "hour_of_day": h, "record_count": hours // 24,
                         "avg_temperature": base, "avg_humidity": 60.0, "avg_wind_speed": 3.0, "avg_pressure": 1012.0})
        anomalies.add({"city_id": city_id, "city": name, "timestamp": iso(cutoff_moment - timedelta(hours=30)),
                       "metric": "temperature", "value": base + 12, "baseline": base, "score": 6.5,
                       "severity": "severe", "method": "seasonal_mad_local_context"})
    for writer in views.values():
        writer.publish(cutoff, records=hourly.rows)
    write_snapshot(lake, cities, cutoff, 1)
    return cutoff


PART_BYTES = 64 * 1024 * 1024


class ViewWriter:
    """One view's run as Spark writes it (part files of JSON Lines, ``_SUCCESS``), then its
    ``_LATEST`` pointer (the fields of tests/web/lakedata.py's publish_view)."""

    def __init__(self, lake, view: str, run_id: str = "20261123T120000Z-0001") -> None:
        self.lake, self.view, self.run_id = lake, view, run_id
        self.path = f"analytics/{view}/run={run_id}"
        self.lines: list[bytes] = []
        self.size = self.parts = self.rows = 0

    def add(self, row: dict) -> None:
        line = orjson.dumps(row) + b"\n"
        self.lines.append(line)
        self.size += len(line)
        self.rows += 1
        if self.size >= PART_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self.lines:
            self.lake.write(f"{self.path}/part-{self.parts:05d}-bench-c000.json", b"".join(self.lines))
            self.parts += 1
            self.lines, self.size = [], 0

    def publish(self, cutoff: str, records: int) -> None:
        self._flush()
        self.lake.write(f"{self.path}/_SUCCESS", b"")
        pointer = {"view": self.view, "run_id": self.run_id, "path": self.path, "format": "jsonl", "rows": self.rows,
                   "cutoff": cutoff, "window": {"from": None, "to": None},
                   "input": {"dates": 1, "records": records, "accepted": records, "rejected": 0, "malformed": 0,
                             "impossible": 0, "duplicates": 0},
                   "started_at": iso(END), "published_at": iso(END), "duration_seconds": 5.0}
        self.lake.write_atomic(f"analytics/{self.view}/_LATEST", orjson.dumps(pointer))


def write_snapshot(lake, cities: list[str], cutoff: str, sequence: int, temperatures: dict | None = None) -> None:
    """The speed snapshot; every city's latest temperature changes with ``sequence`` unless
    ``temperatures`` gives them (then only the cities whose entry the caller changed differ)."""
    moment = datetime.fromisoformat(cutoff) + timedelta(minutes=5)
    city_data = {}
    for city_id in cities:
        record = {"city_id": city_id, "city": city_id.split("-")[0].title(), "country": "XX", "latitude": 1.0,
                  "longitude": 2.0, "timestamp": iso(moment), "ingested_at": iso(moment), "source": "synthetic",
                  "temperature": temperatures[city_id] if temperatures else 12.5 + sequence % 3, "feels_like": 12.0, "humidity": 60.0, "pressure": 1012.0,
                  "wind_speed": 3.0, "rainfall": 0.0}
        hours = [{"hour": iso(moment.replace(minute=0) + timedelta(hours=h)), "record_count": 2,
                  "sum_temperature": 25.0, "sum_sq_temperature": 312.6, "min_temperature": 12.3, "max_temperature": 12.7,
                  "sum_humidity": 120.0, "sum_pressure": 2024.0, "sum_wind_speed": 6.0, "total_rainfall": 0.0,
                  "first_timestamp": iso(moment), "last_timestamp": iso(moment)} for h in range(2)]
        city_data[city_id] = {"city": record["city"], "country": "XX", "latest": record, "hours": hours,
                              "anomalies": []}
    snapshot = {"format": 1, "sequence": sequence, "generated_at": iso(datetime.now(UTC)), "topic": "bench",
                "cutoff": cutoff, "offsets": {}, "kafka": {}, "stats": {}, "limits": {"snapshot_seconds": 5.0},
                "cities": city_data}
    lake.write_atomic(SNAPSHOT_PATH, encode_snapshot(snapshot))


def speed_layer(lake_url: str, cities: list[str], cutoff: str, every: float, changed: int, stop) -> None:
    """Replace the snapshot every ``every`` s until ``stop`` is set: ``changed`` cities'
    live data change each time, round robin (0: every city's)."""
    lake = open_lake(Settings.from_env({}, lake_url=lake_url))
    sequence = 2
    # Starting from the first snapshot's values (sequence 1, written with the lake).
    temperatures = dict.fromkeys(cities, 12.5 + 1 % 3) if changed else None
    while every > 0 and not stop.wait(every):
        for i in range(changed):
            city_id = cities[(sequence * changed + i) % len(cities)]
            temperatures[city_id] += 0.1
        write_snapshot(lake, cities, cutoff, sequence, temperatures)
        sequence += 1


class Server:
    """`weatherlake serve` in a child process (gunicorn), on 127.0.0.1."""

    def __init__(self, lake_url: str, port: int) -> None:
        env = {**os.environ, "LAKE_URL": lake_url, "WEB_PORT": str(port), "WEB_HOST": "127.0.0.1",
               "LOG_LEVEL": "WARNING"}
        code = ("from weatherlake.config import Settings; from weatherlake.web.commands import serve; "
                "serve.main(args=[], obj=Settings.from_env(), prog_name='weatherlake serve')")
        self.process = subprocess.Popen([sys.executable, "-c", code], env=env, start_new_session=True,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.port = port
        # Each worker loads every view on its first request: minutes for a year of 1,000 cities.
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
                connection.request("GET", "/api/health")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the server did not start")

    def cpu_seconds(self) -> float:
        """CPU time used so far by gunicorn's master and workers (from /proc)."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pid, ppid = int(entry), int(fields[1])
            if pid == self.process.pid or ppid == self.process.pid:
                total += int(fields[11]) + int(fields[12])  # utime + stime
        return total / ticks

    def worker_memory(self) -> list[tuple[int, int]]:
        """(resident, peak resident) bytes of each gunicorn worker (VmRSS, VmHWM in /proc)."""
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/status") as handle:
                    status = dict(line.split(":", 1) for line in handle if ":" in line)
            except OSError:
                continue
            if int(status["PPid"]) == self.process.pid:
                found.append((int(status["VmRSS"].split()[0]) * 1024, int(status["VmHWM"].split()[0]) * 1024))
        return sorted(found)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)


def fill_caches(port: int, cities: list[str], hours: int, most_requests: int = 400) -> int:
    """Ask for the longest charts and series of every city, 10 at a time (up to
    ``most_requests`` requests, each endpoint alike): the per-city results and answers
    fill each worker's cache to its budget, as a crowd of dashboard users would."""
    window = min(hours, 2160)
    groups = [",".join(cities[i:i + 10]) for i in range(0, len(cities), 10)]
    paths = [f"{endpoint}?cities={group}&hours={window}" for group in groups
             for endpoint in ("/api/hourly-trends", "/api/temperature-chart")][:most_requests]
    paths += ["/api/current", "/api/city-statistics", "/api/anomalies", "/api/daily-statistics?limit=366",
              "/api/cities"] * 2
    for path in paths:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)  # a new one: any worker answers
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        connection.close()
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status}")
    return len(paths)


def megabytes(n: int) -> str:
    return f"{n / 2**20:,.0f} MB"


def open_loop(port: int, path: str, rate: float, seconds: float, connections: int = 16) -> dict:
    """Send ``rate`` requests/s for ``seconds`` s; latency from each request's due time."""
    total = int(rate * seconds)
    start = time.perf_counter() + 0.1
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    next_index = [0]

    def worker():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while True:
            with lock:
                i = next_index[0]
                next_index[0] += 1
            if i >= total:
                break
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except OSError:
                ok = False
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            elapsed = time.perf_counter() - due
            with lock:
                latencies.append(elapsed)
                errors[0] += not ok
        connection.close()

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    duration = time.perf_counter() - start
    return summarise(latencies, errors[0], duration)


def closed_loop(port: int, path: str, seconds: float, connections: int = 8) -> dict:
    """As fast as the server answers, ``connections`` at a time, for ``seconds`` s."""
    stop_at = time.perf_counter() + seconds
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def worker():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.perf_counter() < stop_at:
            sent = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            with lock:
                latencies.append(time.perf_counter() - sent)
                errors[0] += response.status != 200
        connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return summarise(latencies, errors[0], time.perf_counter() - started)


def summarise(latencies: list[float], errors: int, duration: float) -> dict:
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    return {"requests": len(ordered), "errors": errors, "rps": len(ordered) / duration,
            "p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99), "max": ordered[-1] * 1000}


def dashboard_render(port: int, runs: int = 3) -> list[float]:
    """Seconds from navigation to every panel rendered, in headless Chromium."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if not chromium:
        return []
    timings = []
    profile = tempfile.mkdtemp(prefix="bench-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=chromium, headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update", "--disable-sync", "--no-first-run"],
                viewport={"width": 1280, "height": 900})
            for _ in range(runs + 1):  # the first load is cold: a fresh profile, nothing cached or compiled
                page = context.new_page()
                started = time.perf_counter()
                page.goto(f"http://127.0.0.1:{port}/?refresh=0")
                # Polled from here: wait_for_function evaluates in the page, which its CSP refuses.
                deadline = started + 30
                while not page.evaluate("Number(document.body.dataset.refreshCount) >= 1"):
                    if time.perf_counter() > deadline:
                        raise RuntimeError("the dashboard did not render within 30 s")
                    page.wait_for_timeout(10)
                timings.append(time.perf_counter() - started)
                page.close()
            context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cities", default="5,1000", help="comma-separated city counts")
    parser.add_argument("--hours", type=int, default=72, help="hours of hourly trends per city")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second in the open loop")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds per endpoint in the open loop")
    parser.add_argument("--snapshot-every", type=float, default=5.0,
                        help="seconds between snapshot replacements (every city changes; 0: never)")
    parser.add_argument("--changed-cities", type=int, default=0,
                        help="cities whose live data changes in each snapshot, round robin (default 0: all, the worst case)")
    parser.add_argument("--no-browser", action="store_true", help="skip the dashboard timing")
    parser.add_argument("--memory-only", action="store_true",
                        help="only load the lake, fill the caches and print each worker's memory")
    args = parser.parse_args()
    settings = Settings.from_env({})
    print(f"gunicorn: {settings.web_workers} workers x {settings.web_threads} threads; {os.cpu_count()} cores; "
          f"open loop {args.rate:.0f} req/s x {args.seconds:.0f} s per endpoint")
    for count in (int(c) for c in args.cities.split(",")):
        root = Path(tempfile.mkdtemp(prefix="bench-serving-"))
        lake_url = root.as_uri()
        try:
            with open_lake(Settings.from_env({}, lake_url=lake_url)) as lake:
                cities = city_ids(count)
                cutoff = write_lake(lake, cities, args.hours)
                server = Server(lake_url, free_port())
                # The stand-in speed layer runs in its own process, as the real one does: in
                # this one its snapshot building would stall the load generator's threads,
                # and the stall would be counted as server latency.
                processes = multiprocessing.get_context("spawn")
                stop = processes.Event()
                writer = processes.Process(target=speed_layer, daemon=True, args=(
                    lake_url, cities, cutoff, args.snapshot_every, args.changed_cities, stop))
                writer.start()
                try:
                    every = f"every {args.snapshot_every:g} s" if args.snapshot_every > 0 else "never"
                    if args.snapshot_every > 0:
                        every += f", {args.changed_cities or 'all'} cities changed each time"
                    print(f"\n{count} cities ({count * args.hours} hourly rows), snapshot replaced {every}")
                    for path in () if args.memory_only else ENDPOINTS:
                        closed_loop(server.port, path, 1.0, connections=2)  # warm every worker
                        cpu = server.cpu_seconds()
                        o = open_loop(server.port, path, args.rate, args.seconds)
                        cpu = server.cpu_seconds() - cpu
                        c = closed_loop(server.port, path, 3.0)
                        print(f"  {path:<22} open loop {o['rps']:4.0f} req/s  p50 {o['p50']:4.1f}  "
                              f"p90 {o['p90']:5.1f}  p99 {o['p99']:5.1f}  max {o['max']:6.1f} ms  "
                              f"errors {o['errors']}  server CPU {1000 * cpu / o['requests']:.2f} ms/req "
                              f"(incl. reloads)  load {os.getloadavg()[0]:.1f}  |  most {c['rps']:4.0f} req/s")
                    if not args.no_browser and not args.memory_only:
                        timings = dashboard_render(server.port)
                        if timings:
                            print(f"  dashboard render (headless Chromium): first {timings[0]:.2f} s, then "
                                  f"{', '.join(f'{t:.2f}' for t in timings[1:])} s (median "
                                  f"{statistics.median(timings[1:]):.2f} s)")
                    requests = fill_caches(server.port, cities, args.hours)
                    filled = server.worker_memory()
                    print(f"  worker memory (RSS): {', '.join(megabytes(rss) for rss, _ in filled)} after {requests} "
                          f"requests filled the caches; peak {', '.join(megabytes(peak) for _, peak in filled)}")
                finally:
                    stop.set()
                    writer.join(30)
                    server.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
