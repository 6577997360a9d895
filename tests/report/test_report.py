"""The daily report on a day with an injected outage, a silent city, doubles, late data,
dead letters and small files: each named, with what to do; kept, served and mailed."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import orjson
import pytest
from kafka import KafkaProducer

from tests.alerts.test_notify import smtp_server, smtp_url  # noqa: F401 (a fixture)
from tests.lakeview import commit_batch
from weatherlake.batch.commands import _report_loop
from weatherlake.config import Secret
from weatherlake.ingest import kafka
from weatherlake.ingest.sink import PartitionWriter
from weatherlake.lake import open_lake
from weatherlake.report import build, render
from weatherlake.report.commands import make_report, yesterday
from weatherlake.speed.published import SNAPSHOT_PATH
from weatherlake.web import create_app

DAY = date(2026, 11, 20)
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
CITIES = ("london-gb", "tokyo-jp", "dubai-ae")
OUTAGE = range(3, 6)  # every city: the producer was down
TOKYO_SILENT = range(10, 12)


def record(city_id: str, moment: datetime, late: bool = False) -> dict:
    name, country = city_id.split("-")
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    ingested = (moment + timedelta(hours=2) if late else moment).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"schema_version": 1, "city_id": city_id, "city": name.title(), "country": country.upper(),
            "latitude": 51.5, "longitude": -0.1, "timestamp": stamp, "ingested_at": ingested, "source": "synthetic",
            "temperature": 9.5, "feels_like": 8.0, "humidity": 80.0, "pressure": 1012.0, "wind_speed": 3.0,
            "rainfall": 0.0}


def fill_day(lake) -> None:
    """A reading every 10 minutes per city, committed every hour as small files."""
    writers = {p: PartitionWriter(lake, "weather.observations", p) for p in range(3)}
    offsets = dict.fromkeys(writers, 0)
    for writer in writers.values():
        writer.recover()
    start = datetime.combine(DAY, datetime.min.time(), UTC)
    for hour in range(24):
        for p, city_id in enumerate(CITIES):
            if hour in OUTAGE or (city_id == "tokyo-jp" and hour in TOKYO_SILENT):
                continue
            for minute in range(0, 60, 10):
                moment = start + timedelta(hours=hour, minutes=minute)
                copies = 2 if city_id == "london-gb" and hour == 20 and minute < 30 else 1  # 3 doubles
                for _ in range(copies):
                    late = city_id == "dubai-ae" and hour == 22 and minute < 40  # 4 late
                    writers[p].batch.add(offsets[p], DAY.isoformat(), orjson.dumps(record(city_id, moment, late)))
                    offsets[p] += 1
            commit_batch(writers[p])


@pytest.fixture
def day_settings(broker, make_settings):
    settings = make_settings(broker, cities=CITIES, poll_interval_seconds=600.0)
    kafka.ensure_topics(settings)
    return settings


def send_dead_letters(settings) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    noon = int(datetime.combine(DAY, datetime.min.time(), UTC).timestamp() * 1000) + 12 * 3_600_000
    for reason, offset_ms in (("humidity 140.0 out of range 0..100", 0), ("humidity 101.5 out of range 0..100", 5),
                              ("not valid JSON: unexpected end of data", 9), ("humidity 120 out of range 0..100",
                                                                              86_400_000)):  # the next day
        producer.send(settings.kafka_dlq_topic, b"{}", headers=[("dlq.reason", reason.encode())],
                      timestamp_ms=noon + offset_ms)
    producer.flush()
    producer.close()


@pytest.mark.broker
def test_a_day_with_an_outage_names_it_and_every_other_problem_with_what_to_do(day_settings):
    lake = open_lake(day_settings)
    fill_day(lake)
    send_dead_letters(day_settings)
    # The speed layer's hourly lag: the sink stalled 03:00-05:59; the speed layer ran 20 hours.
    lag_by_hour = {f"{DAY}T{h:02d}:00:00Z": {"sink": {4: 41_250, 5: 20_000}.get(h, 40), "speed": 3,
                                             "samples": 60} for h in range(4, 24)}
    lag_by_hour[f"{DAY}T03:00:00Z"] = {"sink": 12_000, "speed": 0, "samples": 1}
    lake.write_atomic(SNAPSHOT_PATH, orjson.dumps({"lag_by_hour": lag_by_hour}))
    letters = build.dead_letters(day_settings, DAY)
    assert letters == {"humidity # out of range #..#": 2, "not valid JSON: unexpected end of data": 1}
    report = build.build(lake, day_settings, DAY, letters, now=NOW)
    texts = [f"{f['severity']}: {f['text']} -> {f['action']}" for f in report["findings"]]
    outage = [t for t in texts if "No city has data for 03:00-05:59 UTC (3 h)" in t]
    assert len(outage) == 1 and outage[0].startswith("critical") and "--backfill" in outage[0]
    assert any("Tokyo (tokyo-jp) has no data for 10:00-11:59 UTC (2 h), while other cities have" in t for t in texts)
    assert not any("London (london-gb) has no data" in t for t in texts)  # the outage is not London's own gap
    assert any("Tokyo (tokyo-jp) sent 114 readings on 2026-11-20, 79% of the 144 expected" in t for t in texts)
    assert any("London (london-gb): 3 readings arrived twice" in t for t in texts)
    assert any("Dubai (dubai-ae): 4 readings arrived more than an hour after" in t for t in texts)
    assert any("2 records went to the dead-letter topic on 2026-11-20: humidity # out of range #..#" in t
               for t in texts)
    assert any("is still in 61 small files" in t and "weatherlake compact --date 2026-11-20" in t for t in texts)
    assert any("The lake has no backup." in t for t in texts)
    assert any("No batch run started on 2026-11-20." in t for t in texts)
    assert any(t.startswith("warning: The lake sink fell up to 41,250 records behind Kafka on 2026-11-20, the most "
                            "in 04:00-04:59 UTC (1 h); more than 10,000 behind in 03:00-05:59 UTC (3 h).")
               and "weatherlake consume" in t for t in texts)
    assert not any("The speed layer fell" in t for t in texts)
    assert any("The speed layer sampled the lag in 21 of the 24 hours of 2026-11-20" in t for t in texts)
    assert "sink 41,250 (04:00 UTC), speed layer 3 (04:00 UTC); 21 hours sampled" in render.markdown(report)
    assert [f["severity"] for f in report["findings"]] == sorted(
        (f["severity"] for f in report["findings"]), key=["critical", "warning", "info"].index)
    facts = report["facts"]["cities"]
    assert facts["london-gb"]["records"] == 129 and facts["london-gb"]["duplicates"] == 3
    assert facts["tokyo-jp"]["missing_hours"] == [[3, 5], [10, 11]]


def test_a_day_without_a_problem_says_so_and_nothing_more(make_settings):
    settings = make_settings(cities=("london-gb",), poll_interval_seconds=3600.0)
    lake = open_lake(settings)
    writer = PartitionWriter(lake, "weather.observations", 0)
    writer.recover()
    start = datetime.combine(DAY, datetime.min.time(), UTC)
    for hour in range(24):
        writer.batch.add(hour, DAY.isoformat(), orjson.dumps(record("london-gb", start + timedelta(hours=hour))))
    commit_batch(writer)
    backup = {"backup_id": "20261121T020000Z-abcd", "started_at": "2026-11-21T02:00:00Z",
              "finished_at": "2026-11-21T02:00:05Z", "ok": True, "error": None}
    lake.write_atomic("_backups/_status.json", orjson.dumps({"last": backup, "runs": [backup]}))
    lake.write_atomic("analytics/_scheduler.json", orjson.dumps({"runs": [
        {"started_at": "2026-11-20T10:00:00Z", "finished_at": "2026-11-20T10:01:00Z", "ok": True, "error": None}]}))
    report = build.build(lake, settings, DAY, {}, now=NOW)
    assert report["findings"] == []
    assert "No finding: every check below passed." in render.markdown(report)


@pytest.mark.broker
def test_the_report_is_kept_served_and_mailed(day_settings, smtp_server, tmp_path):  # noqa: F811
    inbox, port = smtp_server()
    settings = day_settings.__class__.from_env({}, **{**{f: getattr(day_settings, f) for f in (
        "kafka_bootstrap_servers", "kafka_topic", "kafka_dlq_topic", "lake_url", "cities")},
        "poll_interval_seconds": 600.0, "smtp_url": Secret(smtp_url(port))})
    lake = open_lake(settings)
    fill_day(lake)
    made = make_report(settings, DAY, email=True)
    assert render.dates(lake) == [DAY.isoformat()]
    [(_, recipients, message, _)] = inbox.messages
    assert recipients == ["ops@example.org", "oncall@example.org"]
    assert message["Subject"].startswith(f"[weatherlake] daily report 2026-11-20: {len(made['findings'])} findings")
    assert message.get_body(("html",)).get_content().startswith("<!doctype html>")
    assert "No city has data for 03:00-05:59 UTC" in message.get_body(("plain",)).get_content()
    client = create_app(settings, {"TESTING": True, "RELOAD_SECONDS": 0, "BACKGROUND_REFRESH": False}).test_client()
    assert client.get("/api/reports").get_json() == {"dates": ["2026-11-20"], "latest": "2026-11-20"}
    assert client.get("/api/reports/latest").get_json()["findings"] == made["findings"]
    page = client.get("/reports/2026-11-20")
    assert page.status_code == 200 and page.mimetype == "text/html" and b"No city has data" in page.data
    assert client.get("/reports/2026-11-19").status_code == 404
    assert client.get("/api/reports/yesterday").status_code == 400


def test_the_scheduler_makes_yesterdays_report_once(make_settings):
    settings = make_settings(kafka_bootstrap_servers="127.0.0.1:9", kafka_connect_timeout_seconds=1.0)
    lake = open_lake(settings)
    stop = threading.Event()
    thread = _report_loop(settings, True, stop)
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=60)
        while not lake.exists(render.path(yesterday().isoformat(), "json")):
            assert datetime.now(UTC) < deadline, "no report of yesterday"
            stop.wait(0.2)
    finally:
        stop.set()
        thread.join(30)
    report = orjson.loads(lake.read(render.path(yesterday().isoformat(), "json")))
    assert report["facts"]["dead_letters"] is None  # Kafka was not there: said, not hidden
    assert any("dead-letter topic could not be read" in f["text"] for f in report["findings"])
