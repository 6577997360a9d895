"""Alert benchmark: how soon an alert opens after the observation that trips it, and how
many observations a second the rules are judged at.

    .venv/bin/python benchmarks/bench_alerts.py [--trips 20] [--cities 1000] [--observations 200000]

1. Latency, end to end: an embedded broker (Tansu) on 127.0.0.1, a lake in a temporary
   directory, `AlertService` running as `weatherlake alerts` does (the bundled rules plus
   one `threshold` rule with `for = "0s"`), and ``--trips`` times: one observation past
   the threshold for a city not yet alerted is sent, and the time until
   ``alerts/current.json`` in the lake shows its alert is taken (from the send to the
   file, so it includes Kafka, the evaluation, the event's round trip through the alert
   topic and the write to the lake; polled every 10 ms).
2. Throughput of the evaluator alone (pure Python, no I/O): ``--observations`` records
   of ``--cities`` cities through the bundled rules.

Figures, not assertions: compare runs on a quiet machine. Only 127.0.0.1 is contacted;
every loop is bounded.
"""

from __future__ import annotations

import argparse
import random
import socket
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from weatherlake import records
from weatherlake.alerts import STATE_PATH
from weatherlake.alerts.evaluate import Evaluator
from weatherlake.alerts.rules import load_rules, parse_rules
from weatherlake.alerts.service import AlertService
from weatherlake.cities import catalogue
from weatherlake.config import Settings
from weatherlake.ingest import kafka
from weatherlake.ingest.broker import EmbeddedBroker
from weatherlake.lake import open_lake

TRIP_RULE = """
[[rule]]
name = "bench-heat"
kind = "threshold"
severity = "critical"
metric = "temperature"
above = 50.0
"""


def observation(city, moment: datetime, temperature: float) -> dict:
    return records.make_record(city=city, timestamp=moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                               ingested_at=moment.strftime("%Y-%m-%dT%H:%M:%SZ"), source="synthetic",
                               temperature=temperature, humidity=20.0, pressure=1010.0, wind_speed=3.0,
                               rainfall=0.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def latency(trips: int) -> list[float]:
    cities = list(catalogue().values())[:trips]
    port = free_port()
    with tempfile.TemporaryDirectory() as directory, EmbeddedBroker(port):
        settings = Settings.from_env({}, kafka_bootstrap_servers=f"127.0.0.1:{port}",
                                     lake_url=Path(directory).as_uri(), cities=tuple(c.id for c in cities),
                                     alert_tick_seconds=1.0)
        kafka.ensure_topics(settings)
        rules = load_rules(None) + parse_rules(TRIP_RULE, "<bench>")
        producer = kafka.producer(settings, linger_ms=0)
        stop = threading.Event()
        with open_lake(settings) as lake:
            service = AlertService(settings, lake, rules)
            thread = threading.Thread(target=service.run, args=(stop,), daemon=True)
            thread.start()
            deadline = time.monotonic() + 60
            while lake.read_atomic(STATE_PATH) is None and time.monotonic() < deadline:
                time.sleep(0.05)  # the service is up once it has written its first state
            seconds = []
            for city in cities:
                record = observation(city, datetime.now(UTC), 55.0)
                sent = time.monotonic()
                producer.send(settings.kafka_topic, key=city.id.encode(), value=records.encode(record))
                producer.flush()
                wanted = f"bench-heat.{city.id}."
                while time.monotonic() - sent < 30:
                    state = lake.read_atomic(STATE_PATH)
                    if state and any(a["id"].startswith(wanted) for a in orjson.loads(state)["alerts"]):
                        seconds.append(time.monotonic() - sent)
                        break
                    time.sleep(0.01)
                else:
                    print(f"  no alert for {city.id} within 30 s")
            stop.set()
            thread.join(30)
        producer.close()
    return seconds


def throughput(cities: int, observations: int) -> float:
    known = list(catalogue().values())
    rng = random.Random(1)
    rules = load_rules(None)
    evaluator = Evaluator(rules, [c.id for c in known])
    start = datetime(2026, 7, 1, tzinfo=UTC)
    batch = []
    for i in range(observations):
        city = known[i % min(cities, len(known))]
        record = observation(city, start + timedelta(minutes=10 * (i // cities)), 20 + 18 * rng.random())
        record["city_id"] = f"{city.id}-{i % cities}" if cities > len(known) else city.id
        batch.append(record)
    started = time.perf_counter()
    for record in batch:
        evaluator.observe(record)
    return observations / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trips", type=int, default=20, help="alerts to open, one per city (at most 30)")
    parser.add_argument("--cities", type=int, default=1000)
    parser.add_argument("--observations", type=int, default=200_000)
    args = parser.parse_args()
    seconds = latency(min(args.trips, 30))
    if seconds:
        ordered = sorted(seconds)
        print(f"observation -> alert in the lake: median {statistics.median(ordered):.2f} s, "
              f"max {ordered[-1]:.2f} s, min {ordered[0]:.2f} s over {len(ordered)} alerts")
    rate = throughput(args.cities, args.observations)
    print(f"evaluator alone: {rate:,.0f} observations/s ({args.cities} cities, bundled rules)")


if __name__ == "__main__":
    main()
