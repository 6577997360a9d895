"""The alert endpoints over a lake holding alerts/current.json, writes through a real broker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import pytest
from kafka import KafkaConsumer

from weatherlake.alerts import STATE_PATH, book
from weatherlake.alerts.book import AlertBook
from weatherlake.config import Secret
from weatherlake.ingest import kafka
from weatherlake.web import create_app

TOKEN = "s3cret-token-for-tests"


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str
    severity: str


@dataclass(frozen=True)
class Transition:
    kind: str
    rule: Rule
    subject: str
    at: datetime
    value: float | None
    message: str
    city: str | None = None


HEAT = Rule("heat", "threshold", "critical")
WIND = Rule("wind", "threshold", "warning")
SILENT = Rule("silent", "silent", "warning")


def write_alerts(lake) -> AlertBook:
    """Three alerts: London's heat firing, Tokyo's wind acknowledged, Dubai's silence resolved."""
    alerts = AlertBook()
    alerts.apply(book.opened(Transition("open", HEAT, "london-gb", datetime(2026, 11, 25, 7, tzinfo=UTC), 41.2,
                                        "London: heat index 41.2 °C above 39.4 °C for 1h", "London")))
    wind = alerts.apply(book.opened(Transition("open", WIND, "tokyo-jp", datetime(2026, 11, 24, 7, tzinfo=UTC), 22.0,
                                               "Tokyo: wind 22 m/s", "Tokyo")))
    alerts.apply(book.by_hand("acknowledged", wind["id"], "ana", "watching", "2026-11-24T08:00:00Z"))
    silent = alerts.apply(book.opened(Transition("open", SILENT, "dubai-ae", datetime(2026, 11, 23, tzinfo=UTC), None,
                                                 "Dubai: no observation for 30 min", "Dubai")))
    alerts.apply(book.by_hand("resolved", silent["id"], "bob", "source back", "2026-11-23T02:00:00Z"))
    lake.write_atomic(STATE_PATH, orjson.dumps({"format": 1, "counts": alerts.counts(),
                                                "alerts": book.newest_first(list(alerts.alerts.values()))}))
    return alerts


def get(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, (url, response.get_data(as_text=True)[:300])
    return orjson.loads(response.data)


def post(client, url, body, token=None, status=202):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.post(url, data=orjson.dumps(body), headers=headers, content_type="application/json")
    assert response.status_code == status, (url, response.get_data(as_text=True)[:300])
    return orjson.loads(response.data)


def test_no_alert_service_yet_is_a_clear_state(client):
    body = get(client, "/api/alerts")
    assert body["data"] == [] and body["state"] == "not_published" and "weatherlake alerts" in body["message"]
    assert body["writable"] is False


def test_alerts_are_listed_open_first_and_filtered(client, lake):
    write_alerts(lake)
    body = get(client, "/api/alerts")
    assert [(a["rule"], a["state"]) for a in body["data"]] == [
        ("heat", "firing"), ("wind", "acknowledged"), ("silent", "resolved")]
    assert "history" not in body["data"][0]
    assert body["counts"]["firing"]["critical"] == 1 and body["counts"]["resolved"]["warning"] == 1
    assert [a["rule"] for a in get(client, "/api/alerts?state=open")["data"]] == ["heat", "wind"]
    assert [a["rule"] for a in get(client, "/api/alerts?state=resolved")["data"]] == ["silent"]
    assert [a["rule"] for a in get(client, "/api/alerts?severity=critical")["data"]] == ["heat"]
    assert [a["rule"] for a in get(client, "/api/alerts?city=tokyo-jp,dubai-ae")["data"]] == ["wind", "silent"]
    assert [a["rule"] for a in get(client, "/api/alerts?rule=wind")["data"]] == ["wind"]
    assert [a["rule"] for a in get(client, "/api/alerts?from=2026-11-24&to=2026-11-24")["data"]] == ["wind"]
    assert len(get(client, "/api/alerts?limit=1")["data"]) == 1
    assert get(client, "/api/alerts?rule=nothing")["state"] == "empty"


@pytest.mark.parametrize("query", ["state=closed", "severity=high", "rule=Bad Rule", "from=yesterday", "city=X",
                                   "limit=0", "colour=red"])
def test_bad_alert_filters_are_a_400(client, lake, query):
    write_alerts(lake)
    assert get(client, "/api/alerts?" + query, 400)["error"]["code"] in ("invalid_parameter", "unknown_parameter")


def test_one_alert_with_its_history(client, lake):
    write_alerts(lake)
    body = get(client, "/api/alerts/wind.tokyo-jp.20261124T070000Z")
    assert body["data"]["state"] == "acknowledged"
    assert [(e["type"], e.get("by")) for e in body["data"]["history"]] == [("opened", None), ("acknowledged", "ana")]
    assert get(client, "/api/alerts/nothing.here", 404)["error"]["code"] == "unknown_alert"


def test_writes_are_refused_without_a_configured_token(client, lake):
    write_alerts(lake)
    body = post(client, "/api/alerts/heat.london-gb.20261125T070000Z/acknowledge", {"by": "ana"}, TOKEN, 403)
    assert "WEATHERLAKE_API_TOKEN" in body["error"]["message"]


@pytest.fixture
def writable(broker, make_settings):
    """The app with a token, on the embedded broker and the same lake as ``lake``."""
    settings = make_settings(broker, cities=("london-gb", "tokyo-jp", "dubai-ae"), api_token=Secret(TOKEN))
    kafka.ensure_topics(settings)
    app = create_app(settings, {"TESTING": True, "RELOAD_SECONDS": 0, "BACKGROUND_REFRESH": False})
    return settings, app.test_client()


@pytest.mark.broker
def test_acknowledge_and_resolve_send_events_to_the_alert_topic(writable, lake):
    settings, client = writable
    write_alerts(lake)
    heat = "/api/alerts/heat.london-gb.20261125T070000Z"
    assert post(client, heat + "/acknowledge", {"by": "ana"}, None, 401)["error"]["code"] == "unauthorized"
    assert post(client, heat + "/acknowledge", {"by": "ana"}, "wrong", 401)["error"]["code"] == "unauthorized"
    for body in ({}, {"by": ""}, {"by": "ana", "extra": 1}, {"by": "x" * 501}, [1]):
        assert post(client, heat + "/acknowledge", body, TOKEN, 400)["error"]["code"] == "invalid_body"
    assert post(client, "/api/alerts/nothing/acknowledge", {"by": "ana"}, TOKEN, 404)["error"]["code"] == "unknown_alert"
    silent = "/api/alerts/silent.dubai-ae.20261123T000000Z"
    assert "already resolved" in post(client, silent + "/resolve", {"by": "ana"}, TOKEN, 409)["error"]["message"]
    wind = "/api/alerts/wind.tokyo-jp.20261124T070000Z"
    assert "already acknowledged" in post(client, wind + "/acknowledge", {"by": "ana"}, TOKEN, 409)["error"]["message"]

    answer = post(client, heat + "/acknowledge", {"by": "ana", "comment": "on it"}, TOKEN)
    assert answer["accepted"] is True and answer["data"]["state"] == "acknowledged"
    assert answer["data"]["acknowledged_by"] == "ana"
    post(client, wind + "/resolve", {"by": "bob"}, TOKEN)

    consumer = KafkaConsumer(settings.alert_topic, bootstrap_servers=settings.bootstrap_servers,
                             auto_offset_reset="earliest", consumer_timeout_ms=15_000)
    try:
        sent = [orjson.loads(m.value) for _, m in zip(range(2), consumer, strict=False)]
    finally:
        consumer.close()
    assert [(e["type"], e["alert_id"], e["by"], e["comment"]) for e in sent] == [
        ("acknowledged", "heat.london-gb.20261125T070000Z", "ana", "on it"),
        ("resolved", "wind.tokyo-jp.20261124T070000Z", "bob", None)]
    # Applied by the alert service's book, they do what the answers said.
    alerts = write_alerts(lake)
    for event in sent:
        assert alerts.apply(event)["state"] == event["type"]


def test_metrics_count_alerts_by_state_and_severity(client, lake):
    write_alerts(lake)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'weatherlake_alerts{severity="critical",state="firing"} 1.0' in text
    assert 'weatherlake_alerts{severity="warning",state="acknowledged"} 1.0' in text


def test_the_temperature_chart_marks_where_a_citys_alerts_opened(client, lake, published):
    alerts = AlertBook()
    alerts.apply(book.opened(Transition("open", HEAT, "tokyo-jp", datetime(2026, 11, 21, 2, 20, tzinfo=UTC), 36.0,
                                        "Tokyo: temperature 36 °C", "Tokyo")))
    lake.write_atomic(STATE_PATH, orjson.dumps({"format": 1, "counts": alerts.counts(),
                                                "alerts": list(alerts.alerts.values())}))
    body = get(client, "/api/temperature-chart?cities=tokyo-jp&hours=48")
    [marks] = [t for t in body["data"] if t["name"] == "alerts"]
    assert marks["x"] == ["2026-11-21 02:20:00"] and "Tokyo: temperature 36" in marks["text"][0]
    tokyo = next(t for t in body["data"] if t["name"] == "Tokyo")
    assert marks["y"] == [tokyo["y"][tokyo["x"].index("2026-11-21 02:00:00")]]  # on the city's line
    assert not [t for t in get(client, "/api/temperature-chart?cities=london-gb")["data"] if t["name"] == "alerts"]
