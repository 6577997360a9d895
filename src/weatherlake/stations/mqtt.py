"""``weatherlake bridge mqtt``: stations' readings from an MQTT broker into Kafka.

The bridge subscribes to ``MQTT_TOPIC`` with QoS 1 in a persistent session (a fixed
``MQTT_CLIENT_ID``; in MQTT 3.1.1 clean session off, in 5 clean start off and a session
that does not expire), so readings published while it is away wait at
the broker. Each reading is normalised (:mod:`weatherlake.stations.readings`) and
produced to the observation topic keyed by its ``city_id``; an invalid one goes to the
dead-letter topic with the reason. Only when Kafka has acknowledged the send is the
reading acknowledged to MQTT (manual PUBACK, in the order the readings came). A bridge
killed at any moment therefore loses nothing: what Kafka did not confirm was not
acknowledged, and the broker delivers it again to the next bridge. A reading can reach
Kafka twice that way; the batch layer keeps one per ``(city_id, timestamp)``.

A send Kafka refuses for good (after the producer's own retries) stops the bridge with
an error and exit status 1, leaving that reading and every later one unacknowledged at
the broker for the next start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from weatherlake import records
from weatherlake.config import Settings
from weatherlake.errors import InvalidRecord
from weatherlake.ingest import kafka
from weatherlake.stations.readings import normalise

log = logging.getLogger(__name__)

#: Seconds between progress lines.
REPORT_SECONDS = 60.0
#: A bridge acknowledges once Kafka has a reading, so a short linger keeps that quick.
LINGER_MS = 5


def new_client(settings: Settings, client_id: str, persistent: bool = False,
               **options) -> tuple[mqtt.Client, tuple[str, int]]:
    """An MQTT client for ``MQTT_URL`` (its credentials, TLS for mqtts://) in ``MQTT_VERSION``,
    and the broker's (host, port). ``persistent``: a session the broker keeps while the
    client is away (3.1.1: clean session off; 5: see :func:`connect_options`)."""
    url = urlsplit(settings.mqtt_url.reveal())
    if settings.mqtt_version == "5":
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, **options)
    else:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311,
                             clean_session=not persistent, **options)
    if url.username:
        client.username_pw_set(unquote(url.username), unquote(url.password or ""))
    if url.scheme == "mqtts":
        client.tls_set()
    return client, (url.hostname, url.port or (8883 if url.scheme == "mqtts" else 1883))


def connect_options(settings: Settings, persistent: bool) -> dict:
    """``connect`` arguments: in MQTT 5 a persistent session is a clean start off and a
    session that never expires (the broker may cap it: Mosquitto's persistent_client_expiration)."""
    if settings.mqtt_version != "5" or not persistent:
        return {}
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 0xFFFFFFFF
    return {"clean_start": False, "properties": properties}


@dataclass
class _Pending:
    """A reading sent to Kafka and not yet acknowledged to MQTT."""

    mid: int
    qos: int
    session: int  # which MQTT connection it came on: a message id means nothing on another
    done: bool = False


class MqttBridge:
    """One bridge: an MQTT client with manual acknowledgements and a Kafka producer."""

    def __init__(self, settings: Settings, producer=None) -> None:
        self.settings = settings
        self.producer = producer or kafka.producer(settings, linger_ms=LINGER_MS)
        self.client, self.address = new_client(settings, settings.mqtt_client_id, persistent=True, manual_ack=True)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        levels = settings.mqtt_topic.split("/")
        self._station_level = levels.index("+") if "+" in levels else None
        self._lock = threading.Lock()
        self._pending: deque[_Pending] = deque()
        self._session = 0
        self.failure: str | None = None
        self.subscribed = threading.Event()
        self.forwarded = 0
        self.dead_lettered = 0

    @property
    def unacknowledged(self) -> int:
        """Readings received and not yet acknowledged to MQTT (Kafka has not confirmed them)."""
        with self._lock:
            return len(self._pending)

    def run(self, stop: threading.Event) -> int:
        """Bridge until ``stop`` is set or Kafka refuses a reading; 0, or 1 after a refusal."""
        host, port = self.address
        log.info("bridge: connecting to MQTT %s %s:%d, topic %s -> Kafka %s", self.settings.mqtt_version, host, port,
                 self.settings.mqtt_topic, self.settings.kafka_topic)
        self.client.connect_async(host, port, keepalive=30, **connect_options(self.settings, persistent=True))
        self.client.loop_start()
        reported = time.monotonic()
        try:
            while not stop.wait(0.2) and self.failure is None:
                if time.monotonic() - reported >= REPORT_SECONDS:
                    reported = time.monotonic()
                    log.info("bridge: %d readings forwarded, %d dead-lettered, %d awaiting Kafka", self.forwarded,
                             self.dead_lettered, self.unacknowledged)
            self.producer.flush(timeout=30)  # the last acknowledgements go out before the disconnect
        finally:
            self.client.disconnect()
            self.client.loop_stop()
            self.producer.close(timeout=10)
        log.info("bridge stopped: %d readings forwarded, %d dead-lettered", self.forwarded, self.dead_lettered)
        if self.failure is not None:
            log.error("bridge: %s; the broker keeps the unacknowledged readings for the next start", self.failure)
            return 1
        return 0

    # -- MQTT callbacks (paho's network thread) --------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("bridge: MQTT broker refused the connection: %s", reason_code)
            return
        log.info("bridge: connected to MQTT (%s session)", "resumed" if flags.session_present else "new")
        client.subscribe(self.settings.mqtt_topic, qos=1)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        if any(code.is_failure for code in reason_codes):
            self.failure = f"the MQTT broker refused the subscription to {self.settings.mqtt_topic}: {reason_codes[0]}"
            return
        log.info("bridge: subscribed to %s (QoS 1)", self.settings.mqtt_topic)
        self.subscribed.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        with self._lock:
            # Message ids of this connection mean nothing on the next one: whatever is not
            # acknowledged by now comes again, and is forwarded again.
            self._session += 1
            self._pending.clear()
        if reason_code.is_failure:
            log.warning("bridge: lost the MQTT connection (%s); reconnecting", reason_code)

    def _on_message(self, client, userdata, message) -> None:
        if self.failure is not None:
            return  # stopping: left unacknowledged at the broker for the next start
        entry = _Pending(message.mid, message.qos, self._session)
        if message.qos:
            with self._lock:
                self._pending.append(entry)
        try:
            future = self._forward(message)
        except kafka.KafkaError as error:  # the producer could not even queue it (no metadata in time)
            self._fail(error)
            return
        future.add_callback(lambda _metadata: self._done(entry))
        future.add_errback(self._fail)

    def _forward(self, message):
        station = None
        if self._station_level is not None:
            levels = message.topic.split("/")
            station = levels[self._station_level] if len(levels) > self._station_level else None
        try:
            record = normalise(message.payload, "mqtt", station)
        except InvalidRecord as error:
            self.dead_lettered += 1
            log.warning("bridge: dead-lettering a reading from %s: %s", message.topic, error)
            headers = [("dlq.reason", str(error).encode()), ("dlq.origin", f"mqtt:{message.topic}".encode())]
            key = station.encode() if station else None
            return self.producer.send(self.settings.kafka_dlq_topic, key=key, value=message.payload, headers=headers)
        self.forwarded += 1
        return self.producer.send(self.settings.kafka_topic, key=record["city_id"].encode(),
                                  value=records.encode(record))

    # -- Kafka callbacks (the producer's I/O thread) ----------------------------------

    def _done(self, entry: _Pending) -> None:
        """Kafka has ``entry``: acknowledge it and every reading before it Kafka has too."""
        with self._lock:
            entry.done = True
            while self.failure is None and self._pending and self._pending[0].done:
                head = self._pending.popleft()
                if head.session == self._session:
                    self.client.ack(head.mid, head.qos)

    def _fail(self, error: BaseException) -> None:
        text, name = str(error), type(error).__name__
        with self._lock:  # nothing from a refused reading on is acknowledged
            self.failure = self.failure or f"Kafka refused a reading: {text if text.startswith(name) else f'{name}: {text}'}"
            self._pending.clear()
