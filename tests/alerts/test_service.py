"""The alert service end to end: the embedded broker, a lake on disk, a webhook receiver and
a mail server started here, the web API for acknowledging, and restarts in between."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from aiosmtpd.controller import Controller
from kafka import KafkaConsumer, KafkaProducer

from tests.alerts.test_notify import Inbox, Receiver, free_port, wait_for
from weatherlake import records
from weatherlake.alerts import EVENTS_DIR, STATE_PATH
from weatherlake.alerts.notify import Notifier, channels_from_settings
from weatherlake.alerts.rules import load_rules
from weatherlake.alerts.service import AlertService
from weatherlake.cities import resolve
from weatherlake.config import Secret
from weatherlake.ingest import kafka
from weatherlake.lake import open_lake
from weatherlake.sources import Anomaly, SyntheticSource
from weatherlake.web import create_app

pytestmark = [pytest.mark.broker, pytest.mark.slow]

TOKEN = "alert-test-token"
RULES = """
[[rule]]
name = "heat"
kind = "threshold"
severity = "critical"
metric = "temperature"
cities = ["london-gb", "tokyo-jp"]
above = {above}
clear = {clear}
for = "20m"
resolve_after = "10m"

[[rule]]
name = "silent"
kind = "silent"
severity = "warning"
after = "150m"
resolve_after = "1s"
"""


def heat_threshold(cities: list[str], start: datetime, end: datetime) -> float:
    """10 °C above the warmest calm reading of ``cities`` in [start, end): the synthetic
    weather follows the season and the hour of day, so a fixed threshold would make the
    heat wave below depend on when the test runs."""
    return round(max(r["temperature"] for r in synthetic(cities, start, end)) + 10.0, 1)


def write_rules(path, above: float) -> Path:
    path = Path(path)
    path.write_text(RULES.format(above=above, clear=above - 3.0))
    return path


def synthetic(cities: list[str], start: datetime, end: datetime, heat_hours: list[datetime] = ()) -> list[dict]:
    """The synthetic source's weather every 10 minutes in [start, end), 25 °C hotter in ``heat_hours``."""
    heat = [Anomaly(city, hour, "temperature", 25.0) for city in cities for hour in heat_hours]
    return list(SyntheticSource(7, heat).history(resolve(cities), start, end, step=timedelta(minutes=10)))


class Running:
    """One AlertService in a thread, as `weatherlake alerts` runs it."""

    def __init__(self, settings, lake) -> None:
        self.stop = threading.Event()
        rules = load_rules(settings.alert_rules)
        self.service = AlertService(settings, lake, rules)
        channels = channels_from_settings(settings.alert_webhook_url.reveal(), settings.alert_webhook_format,
                                          settings.smtp_url.reveal())
        self.service.notifier = Notifier(channels, self.service.record_delivery, delays=(0.1, 0.2))
        self.thread = threading.Thread(target=self.service.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive()


@pytest.fixture
def world(broker, make_settings, tmp_path):
    receiver = Receiver()
    inbox = Inbox()
    mail = Controller(inbox, hostname="127.0.0.1", port=free_port())
    mail.start()
    settings = make_settings(
        broker, cities=("london-gb", "tokyo-jp", "dubai-ae"), alert_rules=str(tmp_path / "rules.toml"), alert_tick_seconds=0.2,
        alert_webhook_url=Secret(receiver.url),
        smtp_url=Secret(f"smtp://127.0.0.1:{mail.port}?from=alerts@example.org&to=ops@example.org"),
        api_token=Secret(TOKEN),
    )
    kafka.ensure_topics(settings)
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    with open_lake(settings) as lake:
        yield settings, lake, producer, receiver, inbox
    producer.close()
    receiver.stop()
    mail.stop()


def publish(producer, settings, observations: list[dict]) -> None:
    for record in observations:
        producer.send(settings.kafka_topic, key=record["city_id"].encode(), value=records.encode(record))
    producer.flush()


def state(lake) -> dict:
    data = lake.read_atomic(STATE_PATH)
    return orjson.loads(data) if data else {"alerts": []}


def alerts_by(lake, rule: str, state_name: str) -> list[dict]:
    return [a for a in state(lake)["alerts"] if a["rule"] == rule and a["state"] == state_name]


def topic_events(settings) -> list[dict]:
    consumer = KafkaConsumer(settings.alert_topic, bootstrap_servers=settings.bootstrap_servers,
                             auto_offset_reset="earliest", consumer_timeout_ms=3000)
    try:
        return [orjson.loads(m.value) for m in consumer]
    finally:
        consumer.close()


def test_a_heat_wave_is_alerted_once_per_city_acknowledged_resolved_and_survives_restarts(world):
    settings, lake, producer, receiver, inbox = world
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    hour = timedelta(hours=1)
    # ``now`` is the start of this hour. Dubai reported until four hours before it: silent
    # since (over 150 minutes, whatever the minute now). London and Tokyo until an hour
    # before it (at most 130 minutes ago): a heat wave injected into the synthetic source,
    # 25 °C above normal for three hours.
    publish(producer, settings, synthetic(["dubai-ae"], now - 5 * hour, now - 4 * hour))
    wave = [now - 4 * hour, now - 3 * hour, now - 2 * hour]
    above = heat_threshold(["london-gb", "tokyo-jp"], now - 5 * hour, now)
    write_rules(settings.alert_rules, above)
    publish(producer, settings, synthetic(["london-gb", "tokyo-jp"], now - 5 * hour, now - hour, wave))
    sent = time.monotonic()
    running = Running(settings, lake)
    try:
        wait_for(lambda: len(alerts_by(lake, "heat", "firing")) == 2 and alerts_by(lake, "silent", "firing"),
                 "two heat alerts and a silent one", timeout=60)
        print(f"heat alerts opened {time.monotonic() - sent:.1f} s after the observations were sent")
        firing = {a["city_id"]: a for a in alerts_by(lake, "heat", "firing")}
        assert sorted(firing) == ["london-gb", "tokyo-jp"]
        assert firing["london-gb"]["opened_at"] == (now - 4 * hour).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert firing["london-gb"]["value"] > above and firing["london-gb"]["severity"] == "critical"
        assert [a["city_id"] for a in alerts_by(lake, "silent", "firing")] == ["dubai-ae"]
        wait_for(lambda: len(receiver.delivered()) >= 3 and len(inbox.messages) >= 3, "3 webhook and 3 mail notifications")

        # Acknowledged from the API, as the dashboard does.
        client = create_app(settings, {"TESTING": True, "RELOAD_SECONDS": 0, "BACKGROUND_REFRESH": False}).test_client()
        london = firing["london-gb"]["id"]
        answer = client.post(f"/api/alerts/{london}/acknowledge", json={"by": "ana", "comment": "cooling centres open"},
                             headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 202, answer.get_data(as_text=True)
        wait_for(lambda: alerts_by(lake, "heat", "acknowledged"), "the acknowledgement applied")
        [acknowledged] = alerts_by(lake, "heat", "acknowledged")
        assert (acknowledged["id"], acknowledged["acknowledged_by"]) == (london, "ana")
        listed = client.get("/api/alerts?state=open&rule=heat").get_json()["data"]
        assert {(a["city_id"], a["state"]) for a in listed} == {("london-gb", "acknowledged"), ("tokyo-jp", "firing")}
        wait_for(lambda: len(receiver.delivered()) >= 4, "the acknowledgement notified")
    finally:
        running.close()

    # A restart: the same alerts, nothing opened again (the observations are read again).
    before = {a["id"]: a["state"] for a in state(lake)["alerts"]}
    running = Running(settings, lake)
    try:
        time.sleep(2)  # several ticks over the re-read observations
        assert {a["id"]: a["state"] for a in state(lake)["alerts"]} == before
        # The heat passes: ordinary weather for the last hour; 10 minutes below the clear level resolve it.
        publish(producer, settings, synthetic(["london-gb", "tokyo-jp"], now - hour, now))
        wait_for(lambda: len(alerts_by(lake, "heat", "resolved")) == 2, "both heat alerts resolved by the rule")
        assert {a["resolved_by"] for a in alerts_by(lake, "heat", "resolved")} == {"weatherlake"}
        # Dubai speaks again: its silence ends.
        publish(producer, settings, synthetic(["dubai-ae"], now, now + timedelta(minutes=1)))
        wait_for(lambda: alerts_by(lake, "silent", "resolved"), "the silence resolved")
        wait_for(lambda: len(receiver.delivered()) >= 7, "7 notifications (3 opened, 1 acknowledged, 3 resolved)")
    finally:
        running.close()

    running = Running(settings, lake)  # and once more: still nothing new
    try:
        time.sleep(2)
    finally:
        running.close()
    events = topic_events(settings)
    opened = [e for e in events if e["type"] == "opened"]
    assert sorted(e["alert_id"].split(".")[1] for e in opened) == ["dubai-ae", "london-gb", "tokyo-jp"]
    keys = [hit.headers.get("Idempotency-Key") for hit in receiver.delivered()]
    assert len(keys) == len(set(keys)) == 7, keys  # each event delivered once, across three runs
    assert sorted(hit.body["event"] for hit in receiver.delivered()) == ["acknowledged"] + ["opened"] * 3 + ["resolved"] * 3
    assert len(inbox.messages) == 7
    # The lake keeps every event the service applied.
    archived = [orjson.loads(line) for date in lake.list(EVENTS_DIR) for name in lake.list(f"{EVENTS_DIR}/{date}")
                for line in lake.read(f"{EVENTS_DIR}/{date}/{name}").splitlines()]
    assert {e["event_id"] for e in archived} >= {e["event_id"] for e in events if e["type"] != "notified"}


def test_alerts_survive_a_restart_of_the_embedded_broker_that_forgets_every_topic(make_settings, tmp_path):
    """The embedded broker keeps nothing across its restart: the alerts come back from the
    lake, nothing is notified twice, and the open alert still resolves when the heat passes."""
    from tests.conftest import free_port as broker_port
    from weatherlake.ingest.broker import EmbeddedBroker

    receiver = Receiver()
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    hour = timedelta(hours=1)
    rules = write_rules(tmp_path / "rules.toml", heat_threshold(["london-gb"], now - 4 * hour, now))
    port = broker_port()
    settings = make_settings(kafka_bootstrap_servers=f"127.0.0.1:{port}", cities=("london-gb",),
                             alert_rules=str(rules), alert_tick_seconds=0.2, alert_webhook_url=Secret(receiver.url))
    broker = EmbeddedBroker(port).start()
    try:
        with open_lake(settings) as lake:
            kafka.ensure_topics(settings)
            producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers)
            publish(producer, settings, synthetic(["london-gb"], now - 4 * hour, now - hour, [now - 3 * hour, now - 2 * hour]))
            producer.close()
            running = Running(settings, lake)
            try:
                wait_for(lambda: alerts_by(lake, "heat", "firing"), "the heat alert", timeout=60)
                wait_for(lambda: len(receiver.delivered()) == 1, "its notification")
            finally:
                running.close()
            broker.stop()
            broker = EmbeddedBroker(port).start()  # empty: no topic, no offsets
            kafka.ensure_topics(settings)
            running = Running(settings, lake)
            try:
                [alert] = alerts_by(lake, "heat", "firing")
                producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers)
                publish(producer, settings, synthetic(["london-gb"], now - hour, now))
                producer.close()
                wait_for(lambda: alerts_by(lake, "heat", "resolved"), "the heat alert resolved")
                assert alerts_by(lake, "heat", "resolved")[0]["id"] == alert["id"]
                wait_for(lambda: len(receiver.delivered()) == 2, "the resolution notified")
            finally:
                running.close()
    finally:
        broker.stop()
        receiver.stop()
    assert [hit.body["event"] for hit in receiver.delivered()] == ["opened", "resolved"]
