"""Stations end to end: simulated stations over a real Mosquitto and a few pushing over
HTTP -> the bridge and the web app -> Kafka -> the sink and the speed layer -> the lake ->
spark-submit -> the API: every healthy station in the views, the catalogue and the map's rows."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from click.testing import CliRunner

from tests.stations.test_mqtt_bridge import mosquitto, topic_messages  # noqa: F401 (a fixture)
from weatherlake.batch.commands import analytics
from weatherlake.config import Secret
from weatherlake.ingest import kafka
from weatherlake.ingest.sink import LakeSink
from weatherlake.lake import open_lake
from weatherlake.speed.layer import SpeedLayer
from weatherlake.stations import catalogue
from weatherlake.stations.commands import simulate
from weatherlake.stations.mqtt import MqttBridge
from weatherlake.web import create_app

pytestmark = [pytest.mark.broker, pytest.mark.spark, pytest.mark.slow]

TOKENS = {"roof-1": "token-of-the-roof-station", "roof-2": "token-of-the-yard-station"}
#: Simulated stations; the last three are broken (units, clock, stuck: weatherlake.stations.simulate).
COUNT = 50
UNITS, CLOCK, STUCK = (f"sim-{i:03d}" for i in range(COUNT - 3, COUNT))
SPARK_ARGS = ["--driver-memory", "1g", "--conf", "spark.sql.shuffle.partitions=2",
              "--conf", "spark.default.parallelism=2", "--conf", "spark.ui.enabled=false"]


class Threads:
    """Long-running services in threads of this process, stopped together."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.threads = []

    def start(self, target) -> None:
        thread = threading.Thread(target=target, args=(self.stop,), daemon=True)
        thread.start()
        self.threads.append(thread)

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)
            assert not thread.is_alive()


def wait_for(predicate, what, timeout: float = 90.0):
    """Poll ``predicate``; ``what`` (text, or a function giving it) says what was awaited."""
    import time

    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what() if callable(what) else what}"
        time.sleep(0.2)
    return value


def lake_records(lake) -> int:
    return sum(len(lake.read(f"raw/{d}/{n}").splitlines()) for d in lake.list("raw") if d.startswith("date=")
               for n in lake.list(f"raw/{d}"))


def test_simulated_and_pushing_stations_reach_the_views_the_catalogue_and_the_map(broker, make_settings, mosquitto,  # noqa: F811
                                                                                    tmp_path):
    tokens = tmp_path / "station_tokens"
    tokens.write_text("".join(f"{station} {token}\n" for station, token in TOKENS.items()))
    settings = make_settings(broker, mqtt_url=Secret(mosquitto), mqtt_client_id=f"bridge-{uuid.uuid4().hex[:6]}",
                             cities=("london-gb", "tokyo-jp", "dubai-ae"), station_tokens=str(tokens),
                             speed_snapshot_seconds=0.5, sink_max_age_seconds=0.5)
    kafka.ensure_topics(settings)
    lake = open_lake(settings)
    services = Threads()
    bridge = MqttBridge(settings)
    services.start(bridge.run)
    services.start(LakeSink(settings, lake).run)
    services.start(lambda stop: SpeedLayer(settings, lake).run(stop, connect_timeout=30))
    try:
        assert bridge.subscribed.wait(20)
        # Fifty stations over MQTT, three of them broken; six hours of readings every 20 minutes
        # (18, and one live round: 19 each).
        result = CliRunner().invoke(simulate, ["stations", "--count", str(COUNT), "--faulty", "3", "--interval",
                                               "20m", "--backfill", "6h", "--rounds", "1"], obj=settings)
        assert result.exit_code == 0, result.output
        # Two more stations pushing over HTTP.
        client = create_app(settings, {"TESTING": True, "RELOAD_SECONDS": 0, "BACKGROUND_REFRESH": False}).test_client()
        now = datetime.now(UTC).replace(microsecond=0)
        for (station, token), name in zip(TOKENS.items(), ("Zurich roof", "Zurich yard"), strict=True):
            pushed = b"".join(orjson.dumps({
                "latitude": 47.37, "longitude": 8.54, "timestamp": (now - timedelta(minutes=20 * i)).isoformat(),
                "temperature": 3.0 + i, "humidity": 80, "pressure": 1020.0, "wind_speed": 1.0,
                "metadata": {"name": name}}) + b"\n" for i in range(10))
            answer = client.post("/api/ingest/observations", data=pushed, content_type="application/x-ndjson",
                                 headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 202, (station, answer.get_json())

        # UNITS sends °F and Pa: refused. CLOCK's clock is 2 h fast: its readings from more
        # than 2 h ago pass (as readings from the last hour), the rest are refused. STUCK
        # is stuck: valid readings.
        healthy = {f"sim-{i:03d}" for i in range(COUNT - 3)} | {STUCK} | set(TOKENS)
        wait_for(lambda: {s["station_id"] for s in catalogue.read(lake) or []} == healthy | {CLOCK},
                 lambda: f"the catalogue: {sorted(s['station_id'] for s in catalogue.read(lake) or [])}")
        wait_for(lambda: bridge.forwarded + bridge.dead_lettered == 19 * COUNT,
                 f"the bridge through the {19 * COUNT} MQTT readings")
        produced = bridge.forwarded + 10 * len(TOKENS)
        assert len(topic_messages(settings, settings.kafka_topic, produced)) == produced
        wait_for(lambda: lake_records(lake) == produced, lambda: f"{produced} records in the lake, not {lake_records(lake)}")
    finally:
        services.close()

    run = CliRunner().invoke(analytics, ["--job", "all", *SPARK_ARGS], obj=settings)
    assert run.exit_code == 0, run.output
    stats = {row["city_id"]: row for row in client.get("/api/city-statistics").get_json()["data"]}
    assert {f"station-{s}" for s in healthy} <= set(stats)
    assert stats["station-roof-1"]["record_count"] == 10 and stats["station-roof-1"]["city"] == "Zurich roof"
    assert stats["station-roof-2"]["record_count"] == 10 and stats["station-roof-2"]["city"] == "Zurich yard"
    assert stats[f"station-{STUCK}"]["min_temperature"] == stats[f"station-{STUCK}"]["max_temperature"]
    assert all(stats[f"station-{s}"]["record_count"] == 19 for s in healthy - set(TOKENS))
    assert 0 < stats[f"station-{CLOCK}"]["record_count"] < 19 and f"station-{UNITS}" not in stats
    # The stuck sensor is an anomaly: its six frozen hours, and no other station's.
    stuck = [a for a in client.get("/api/anomalies?limit=1000").get_json()["data"]
             if a["method"] == "stuck_sensor"]
    assert [(a["city_id"], a["metric"]) for a in stuck] == [(f"station-{STUCK}", "all")]
    assert 6.0 <= stuck[0]["score"] < 6.2  # hours: the backfill's six, and the seconds until the live round
    cities = {row["city_id"]: row for row in client.get("/api/cities").get_json()["data"]}
    assert all(cities[f"station-{s}"]["station"] and cities[f"station-{s}"]["latitude"] is not None for s in healthy)
    assert not any(cities[c]["station"] for c in ("london-gb", "tokyo-jp", "dubai-ae"))
