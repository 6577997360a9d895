"""Stations bridge benchmark: readings a second from MQTT into Kafka, each acknowledged
to MQTT only once Kafka has it, and the latency of one reading.

    .venv/bin/python benchmarks/bench_bridge.py [--readings 20000] [--stations 50] [--runs 3]

Debian's Mosquitto and the embedded broker (Tansu) on 127.0.0.1, `MqttBridge` in this
process as `weatherlake bridge mqtt` runs it. Each run publishes ``--readings`` readings
of ``--stations`` stations with QoS 1 as fast as a publisher can, and measures from the
first publish until Kafka holds every one (the bridge's counter and a producer flush).
Then single readings, one at a time: from the publish until the bridge has acknowledged
it to MQTT, which it does once Kafka confirmed the produce (polled every 0.5 ms).
Only 127.0.0.1 is contacted; every loop is bounded.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt

from weatherlake.config import Secret, Settings
from weatherlake.ingest import kafka
from weatherlake.ingest.broker import EmbeddedBroker
from weatherlake.stations.mqtt import MqttBridge


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_mosquitto(directory: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    conf = directory / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n")
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    process = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("mosquitto did not start") from None
            time.sleep(0.05)


def readings(count: int, stations: int, start: datetime) -> list[tuple[str, bytes]]:
    out = []
    for i in range(count):
        station = f"bench-{i % stations:03d}"
        moment = start + timedelta(seconds=i)
        out.append((f"weatherlake/stations/{station}/observations", orjson.dumps({
            "station_id": station, "latitude": 51.5, "longitude": -0.1,
            "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "temperature": 5.0 + i % 7, "humidity": 70,
            "pressure": 1012.0, "wind_speed": 2.0})))
    return out


def publisher(port: int) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{uuid.uuid4().hex[:6]}")
    client.max_inflight_messages_set(100)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readings", type=int, default=20_000)
    parser.add_argument("--stations", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--singles", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        mosquitto, port = start_mosquitto(Path(tmp))
        broker = EmbeddedBroker(free_port()).start()
        try:
            settings = Settings.from_env({}, kafka_bootstrap_servers=broker.bootstrap_servers,
                                         mqtt_url=Secret(f"mqtt://127.0.0.1:{port}"), lake_url=Path(tmp).as_uri())
            kafka.ensure_topics(settings)
            bridge = MqttBridge(settings)
            stop = threading.Event()
            thread = threading.Thread(target=bridge.run, args=(stop,), daemon=True)
            thread.start()
            assert bridge.subscribed.wait(20), "the bridge did not subscribe"
            client = publisher(port)
            start = datetime.now(UTC) - timedelta(days=2)
            rates = []
            for run in range(args.runs):
                batch = readings(args.readings, args.stations, start + timedelta(hours=run * 8))
                before = bridge.forwarded
                began = time.perf_counter()
                sent = [client.publish(topic, payload, qos=1) for topic, payload in batch]
                for info in sent:
                    info.wait_for_publish(60)
                deadline = time.monotonic() + 300
                while bridge.forwarded - before < len(batch) and time.monotonic() < deadline:
                    time.sleep(0.005)
                bridge.producer.flush(30)
                elapsed = time.perf_counter() - began
                rates.append(len(batch) / elapsed)
                print(f"run {run + 1}: {len(batch)} readings in {elapsed:.2f} s = {rates[-1]:,.0f} readings/s")
            latencies = []
            for i in range(args.singles):
                topic, payload = readings(1, 1, start + timedelta(days=1, seconds=i))[0]
                before = bridge.forwarded
                began = time.perf_counter()
                client.publish(topic, payload, qos=1)
                deadline = time.monotonic() + 30
                while (bridge.forwarded == before or bridge.unacknowledged) and time.monotonic() < deadline:
                    time.sleep(0.0005)
                latencies.append((time.perf_counter() - began) * 1000)
            client.disconnect()
            client.loop_stop()
            stop.set()
            thread.join(30)
            print(f"throughput: median {statistics.median(rates):,.0f} readings/s over {args.runs} runs "
                  f"of {args.readings} ({args.stations} stations)")
            print(f"one reading, publish -> in Kafka and acknowledged: median {statistics.median(latencies):.1f} ms, "
                  f"max {max(latencies):.1f} ms over {args.singles}")
        finally:
            broker.stop()
            mosquitto.terminate()
            mosquitto.wait(10)


if __name__ == "__main__":
    main()
