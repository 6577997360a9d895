"""The MQTT bridge against a real Mosquitto and the embedded Kafka broker, both started here."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import orjson
import paho.mqtt.client as mqtt
import pytest
from kafka import KafkaConsumer

from tests.conftest import free_port
from weatherlake.config import Secret
from weatherlake.ingest import kafka
from weatherlake.stations.mqtt import MqttBridge

pytestmark = [pytest.mark.broker, pytest.mark.slow]

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


@pytest.fixture
def mosquitto(tmp_path):
    """A Mosquitto of this test's own on 127.0.0.1: no persistence, no queue limit."""
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n")
    with open(tmp_path / "mosquitto.log", "wb") as log:
        process = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "mosquitto.log").read_text()
                time.sleep(0.05)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def reading(station: str, i: int, **changes) -> bytes:
    body = {"station_id": station, "latitude": 51.5, "longitude": -0.1,
            "timestamp": (START + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "temperature": 5 + i % 10, "humidity": 70, "pressure": 1012.5, "wind_speed": 2.5}
    return orjson.dumps({**body, **changes})


def publish(url: str, messages: list[tuple[str, bytes]], per_second: float | None = None) -> None:
    """Publish ``messages`` (topic, payload) with QoS 1, as a station would; wait until the broker has each."""
    address = urlsplit(url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"stations-{uuid.uuid4().hex[:6]}")
    client.connect(address.hostname, address.port)
    client.loop_start()
    try:
        sent = [client.publish(topic, payload, qos=1) for topic, payload in _paced(messages, per_second)]
        for info in sent:
            info.wait_for_publish(30)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def _paced(messages, per_second):
    started = time.monotonic()
    for i, message in enumerate(messages):
        if per_second:
            time.sleep(max(0.0, started + i / per_second - time.monotonic()))
        yield message


def topic_messages(settings, topic: str, expected: int, timeout: float = 60.0) -> list:
    """At least ``expected`` messages of ``topic`` (all there are once that many arrived)."""
    consumer = KafkaConsumer(topic, bootstrap_servers=settings.bootstrap_servers, auto_offset_reset="earliest",
                             consumer_timeout_ms=1000)
    found = []
    deadline = time.monotonic() + timeout
    try:
        while len(found) < expected and time.monotonic() < deadline:
            found.extend(consumer)
        found.extend(consumer)  # and any more after those: a double would show here
    finally:
        consumer.close()
    return found


@pytest.mark.parametrize("version", ["3.1.1", "5"])
def test_readings_reach_kafka_keyed_by_station_and_bad_ones_the_dead_letter_topic(broker, make_settings, mosquitto,
                                                                                  version):
    settings = make_settings(broker, mqtt_url=Secret(mosquitto), mqtt_client_id=f"bridge-{uuid.uuid4().hex[:6]}",
                             mqtt_version=version)
    kafka.ensure_topics(settings)
    bridge = MqttBridge(settings)
    stop = threading.Event()
    result = []
    thread = threading.Thread(target=lambda: result.append(bridge.run(stop)))
    thread.start()
    try:
        assert bridge.subscribed.wait(20)
        good = [(f"weatherlake/stations/ws-{s}/observations", reading(f"ws-{s}", i)) for s in range(4) for i in range(5)]
        bad = [
            ("weatherlake/stations/ws-0/observations", b"{not json"),
            ("weatherlake/stations/ws-0/observations", reading("ws-0", 99, humidity=140)),
            ("weatherlake/stations/ws-1/observations", reading("ws-2", 98)),  # another station's topic
        ]
        publish(mosquitto, good + bad)
        observations = topic_messages(settings, settings.kafka_topic, len(good))
        dead = topic_messages(settings, settings.kafka_dlq_topic, len(bad))
    finally:
        stop.set()
        thread.join(30)
    assert result == [0]
    assert len(observations) == len(good)
    assert {(m.key, orjson.loads(m.value)["timestamp"]) for m in observations} == {
        (f"station-ws-{s}".encode(), (START + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ"))
        for s in range(4) for i in range(5)}
    record = orjson.loads(observations[0].value)
    assert (record["schema_version"], record["source"], record["sender"]) == (2, "station", "mqtt")
    reasons = sorted(dict(m.headers)["dlq.reason"].decode() for m in dead)
    assert len(reasons) == 3
    assert reasons[0].startswith("humidity 140.0 out of range") and reasons[1].startswith("not valid JSON")
    assert reasons[2] == "station_id 'ws-2' does not match the topic's station 'ws-1'"
    assert [m.value for m in dead if b"not json" in m.value] == [b"{not json"]  # the bytes as they came
    assert (bridge.forwarded, bridge.dead_lettered) == (20, 3)


def bridge_env(settings) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "MQTT_", "LAKE_"))}
    env.update(KAFKA_BOOTSTRAP_SERVERS=settings.bootstrap_servers, KAFKA_TOPIC=settings.kafka_topic,
               KAFKA_DLQ_TOPIC=settings.kafka_dlq_topic, ALERT_TOPIC=settings.alert_topic,
               LAKE_URL=settings.lake_url, MQTT_URL=settings.mqtt_url.reveal(), MQTT_CLIENT_ID=settings.mqtt_client_id,
               MQTT_VERSION=settings.mqtt_version, LOG_LEVEL="INFO")
    return env


def start_bridge(env, log_path) -> subprocess.Popen:
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "weatherlake", "bridge", "mqtt"], env=env, stdout=log,
                                stderr=subprocess.STDOUT)


def wait_for_log(log_path, text: str, after: int = 0, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in log_path.read_text()[after:]:
        assert time.monotonic() < deadline, f"no {text!r} in {log_path}:\n{log_path.read_text()[-3000:]}"
        time.sleep(0.1)


@pytest.mark.parametrize("version", ["3.1.1", "5"])
def test_a_bridge_killed_mid_stream_loses_nothing(broker, make_settings, mosquitto, tmp_path, version):
    """SIGKILL while readings flow: what Kafka had not confirmed was not acknowledged, so the
    broker delivers it again to the restarted bridge (its session kept in MQTT 3.1.1 and 5
    alike). Doubles may reach Kafka; nothing is lost."""
    settings = make_settings(broker, mqtt_url=Secret(mosquitto), mqtt_client_id=f"bridge-{uuid.uuid4().hex[:6]}",
                             mqtt_version=version)
    env = bridge_env(settings)
    log_path = tmp_path / "bridge.log"
    log_path.touch()
    bridge = start_bridge(env, log_path)
    wait_for_log(log_path, "subscribed to")
    stations, per_station = 10, 300
    messages = [(f"weatherlake/stations/ws-{s}/observations", reading(f"ws-{s}", i))
                for i in range(per_station) for s in range(stations)]
    feeder = threading.Thread(target=publish, args=(mosquitto, messages, 500.0))  # 6 s of readings
    feeder.start()
    try:
        for _ in range(4):  # killed four times, mid-stream and while the backlog drains
            time.sleep(1.0)
            bridge.send_signal(signal.SIGKILL)
            bridge.wait(10)
            time.sleep(0.5)
            mark = len(log_path.read_text())
            bridge = start_bridge(env, log_path)
            wait_for_log(log_path, "resumed session", after=mark)
        feeder.join(60)
        found = topic_messages(settings, settings.kafka_topic, len(messages), timeout=90)
    finally:
        bridge.send_signal(signal.SIGTERM)
        code = bridge.wait(30)
    assert code == 0, log_path.read_text()[-3000:]
    keys = {(m.key, orjson.loads(m.value)["timestamp"]) for m in found}
    assert len(keys) == len(messages), f"{len(messages) - len(keys)} readings lost"
    print(f"{len(found)} messages in Kafka for {len(messages)} readings ({len(found) - len(messages)} doubles)")


class FakeFuture:
    def __init__(self) -> None:
        self.callbacks, self.errbacks = [], []

    def add_callback(self, f):
        self.callbacks.append(f)

    def add_errback(self, f):
        self.errbacks.append(f)

    def succeed(self):
        for f in self.callbacks:
            f("metadata")

    def fail(self, error):
        for f in self.errbacks:
            f(error)


class FakeProducer:
    def __init__(self) -> None:
        self.sent = []

    def send(self, topic, key=None, value=None, headers=None):
        future = FakeFuture()
        self.sent.append((topic, future))
        return future


class FakeClient:
    def __init__(self) -> None:
        self.acked = []

    def ack(self, mid, qos):
        self.acked.append(mid)


class Message:
    def __init__(self, mid: int) -> None:
        self.mid, self.qos = mid, 1
        self.topic = "weatherlake/stations/ws-1/observations"
        self.payload = reading("ws-1", mid)


@pytest.fixture
def fake_bridge(make_settings):
    bridge = MqttBridge(make_settings(), producer=FakeProducer())
    bridge.client = FakeClient()
    return bridge


def test_acknowledgements_go_out_in_arrival_order_once_kafka_has_each_reading(fake_bridge):
    for mid in (1, 2, 3):
        fake_bridge._on_message(None, None, Message(mid))
    futures = [future for _, future in fake_bridge.producer.sent]
    futures[1].succeed()
    futures[2].succeed()
    assert fake_bridge.client.acked == [] and fake_bridge.unacknowledged == 3  # 1 is not in Kafka yet
    futures[0].succeed()
    assert fake_bridge.client.acked == [1, 2, 3] and fake_bridge.unacknowledged == 0


def test_nothing_from_a_refused_reading_on_is_acknowledged(fake_bridge):
    for mid in (1, 2, 3):
        fake_bridge._on_message(None, None, Message(mid))
    futures = [future for _, future in fake_bridge.producer.sent]
    futures[0].succeed()
    futures[1].fail(kafka.KafkaError("refused"))
    futures[2].succeed()
    fake_bridge._on_message(None, None, Message(4))  # still arriving while the bridge stops
    assert fake_bridge.client.acked == [1]
    assert fake_bridge.failure == "Kafka refused a reading: KafkaError: refused"
    assert len(fake_bridge.producer.sent) == 3  # the fourth was not even forwarded


def test_readings_of_a_lost_connection_are_not_acknowledged_on_the_next(fake_bridge):
    fake_bridge._on_message(None, None, Message(1))
    fake_bridge._on_disconnect(None, None, None, mqtt.ReasonCode(mqtt.PacketTypes.DISCONNECT, identifier=0x80), None)
    fake_bridge._on_message(None, None, Message(1))  # delivered again on the new connection, same id
    first, again = [future for _, future in fake_bridge.producer.sent]
    first.succeed()
    assert fake_bridge.client.acked == []  # its id belongs to the old connection
    again.succeed()
    assert fake_bridge.client.acked == [1]
