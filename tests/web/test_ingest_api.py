"""POST /api/ingest/observations: stations push readings over HTTP into a real broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from tests.stations.test_mqtt_bridge import topic_messages
from weatherlake.errors import ConfigError
from weatherlake.ingest import kafka
from weatherlake.stations.tokens import load_tokens
from weatherlake.web import create_app
from weatherlake.web.ingest import RateLimit

TOKEN_42 = "token-of-ws-0042-abcdef"
TOKEN_43 = "token-of-ws-0043-abcdef"
URL = "/api/ingest/observations"
NDJSON = "application/x-ndjson"


def reading(i: int = 0, **changes) -> dict:
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1) + timedelta(minutes=i)
    body = {"latitude": 51.5, "longitude": -0.1, "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "temperature": 7.5, "humidity": 80, "pressure": 1012.0, "wind_speed": 3.0}
    return {**body, **changes}


@pytest.fixture
def tokens(tmp_path):
    path = tmp_path / "station_tokens"
    path.write_text(f"# station  token\nws-0042 {TOKEN_42}\n\nws-0043 {TOKEN_43}  # the roof\n")
    return str(path)


@pytest.fixture
def pushing(broker, make_settings, tokens):
    """(settings, test client) of an app that takes pushes; 5 readings a minute per station."""
    settings = make_settings(broker, station_tokens=tokens, ingest_rate_per_minute=5, ingest_max_bytes=4096)
    kafka.ensure_topics(settings)
    app = create_app(settings, {"TESTING": True, "RELOAD_SECONDS": 0, "BACKGROUND_REFRESH": False})
    return settings, app.test_client()


def post(client, body: bytes, token: str | None = TOKEN_42, kind: str = "application/json"):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post(URL, data=body, headers=headers, content_type=kind)


def ndjson(*readings: dict) -> bytes:
    return b"\n".join(orjson.dumps(r) for r in readings) + b"\n"


@pytest.mark.broker
def test_a_reading_and_a_batch_reach_kafka_as_the_tokens_station(pushing):
    settings, client = pushing
    one = post(client, orjson.dumps(reading(0)))
    assert one.status_code == 202, one.get_json()
    assert one.get_json() == {"accepted": 1, "station_id": "ws-0042"}
    batch = post(client, ndjson(*(reading(i, station_id="ws-0043") for i in range(1, 4))), TOKEN_43, NDJSON)
    assert batch.status_code == 202 and batch.get_json()["accepted"] == 3
    records = [orjson.loads(m.value) for m in topic_messages(settings, settings.kafka_topic, 4)]
    assert sorted((r["city_id"], r["sender"], r["schema_version"]) for r in records) == (
        [("station-ws-0042", "http", 2)] + [("station-ws-0043", "http", 2)] * 3)


@pytest.mark.broker
def test_one_bad_reading_refuses_the_batch_with_every_problem_and_sends_nothing(pushing):
    settings, client = pushing
    body = ndjson(reading(0), reading(1, humidity=140), reading(2, station_id="ws-0043")) + b"{oops\n"
    answer = post(client, body, kind=NDJSON)
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert error["code"] == "invalid_readings" and error["message"] == "3 of 4 readings are invalid; none was sent"
    assert [d["line"] for d in error["details"]] == [2, 3, 4]
    assert error["details"][0]["error"] == "humidity 140.0 out of range 0..100"
    assert error["details"][1]["error"] == "station_id 'ws-0043' does not match the token's station 'ws-0042'"
    assert error["details"][2]["error"].startswith("not valid JSON")
    good = reading(5)
    assert post(client, orjson.dumps(good)).status_code == 202  # then a good one: the topic's only message
    [only] = topic_messages(settings, settings.kafka_topic, 1)
    assert orjson.loads(only.value)["timestamp"] == good["timestamp"]


def test_without_station_tokens_pushes_are_refused(make_settings):
    app = create_app(make_settings(), {"TESTING": True, "RELOAD_SECONDS": 0, "BACKGROUND_REFRESH": False})
    answer = post(app.test_client(), orjson.dumps(reading()))
    assert answer.status_code == 403 and answer.get_json()["error"]["code"] == "ingest_disabled"


@pytest.mark.broker
@pytest.mark.parametrize(("token", "kind", "body", "status", "code"), [
    (None, "application/json", b"{}", 401, "unauthorized"),
    ("not-a-station-token-at-all", "application/json", b"{}", 401, "unauthorized"),
    (TOKEN_42, "text/plain", b"{}", 415, "unsupported_media_type"),
    (TOKEN_42, NDJSON, b"\n\n", 400, "invalid_readings"),
    (TOKEN_42, NDJSON, b"x" * 5000, 413, "too_large"),
])
def test_bad_requests_get_a_json_error(pushing, token, kind, body, status, code):
    answer = post(pushing[1], body, token, kind)
    assert (answer.status_code, answer.get_json()["error"]["code"]) == (status, code)


@pytest.mark.broker
def test_a_station_over_its_rate_is_told_when_to_come_back(pushing):
    client = pushing[1]
    assert post(client, ndjson(*(reading(i) for i in range(5))), kind=NDJSON).status_code == 202
    answer = post(client, orjson.dumps(reading(9)))
    assert answer.status_code == 429 and int(answer.headers["Retry-After"]) >= 1
    assert post(client, orjson.dumps(reading(9)), TOKEN_43).status_code == 202  # another station's own rate
    too_big = post(client, ndjson(*(reading(i) for i in range(6))), TOKEN_43, NDJSON)
    assert too_big.status_code == 429 and "send smaller batches" in too_big.get_json()["error"]["message"]


def test_the_rate_refills_continuously():
    now = [0.0]
    limit = RateLimit(60, clock=lambda: now[0])
    assert limit.take("a", 60) == 0 and limit.take("a", 1) == pytest.approx(1.0)
    now[0] = 2.0
    assert limit.take("a", 2) == 0 and limit.take("a", 1) > 0
    assert limit.take("a", 61) == 60.0  # never fits in a minute


@pytest.mark.parametrize(("text", "problem"), [
    ("ws-1\n", "line 1: expected '<station_id> <token>'"),
    ("WS-1 0123456789abcdef\n", "line 1: station id 'WS-1' is not a lowercase slug"),
    ("ws-1 short\n", "line 1: the token is shorter than 16 characters"),
    ("ws-1 0123456789abcdef\nws-2 0123456789abcdef\n", "line 2: the token is already given to another station"),
])
def test_a_bad_tokens_file_names_its_line(tmp_path, text, problem):
    path = tmp_path / "tokens"
    path.write_text(text)
    with pytest.raises(ConfigError) as refused:
        load_tokens(str(path))
    assert str(refused.value) == f"STATION_TOKENS {path}, {problem}"
    assert "0123456789abcdef" not in str(refused.value)


def test_a_bad_tokens_file_stops_the_server_before_it_serves(make_settings, tmp_path):
    from weatherlake.web import check_settings

    path = tmp_path / "tokens"
    path.write_text("ws-1 short\n")
    settings = make_settings(station_tokens=str(path))
    for start in (check_settings, create_app):
        with pytest.raises(ConfigError, match="STATION_TOKENS .*line 1: the token is shorter than 16 characters"):
            start(settings)
