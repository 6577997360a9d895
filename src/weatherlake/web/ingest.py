"""``POST /api/ingest/observations``: weather stations push their readings over HTTP.

The body is one reading (``Content-Type: application/json``) or a batch of them, one
per line (``application/x-ndjson``), in the payload format of MQTT
(:mod:`weatherlake.stations.readings`). ``Authorization: Bearer <token>`` names the
station (``STATION_TOKENS``); a token sends that station's readings only.

All or nothing: every reading is checked first, and if one is invalid the answer is 400
with every problem by line, and nothing is sent (the station still has its readings to
fix and send again). Otherwise all go to the observation topic, and the answer is 202
once Kafka has every one (503 if it does not; send again: the batch layer keeps one
reading per station and time). A body over ``INGEST_MAX_BYTES`` is 413; a station over
``INGEST_RATE_PER_MINUTE`` readings is 429 with ``Retry-After``.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import current_app, request

from weatherlake import records
from weatherlake.config import Settings
from weatherlake.errors import InvalidRecord, WeatherlakeError
from weatherlake.stations.readings import normalise
from weatherlake.stations.tokens import digest, load_tokens
from weatherlake.web.api import api, json_response, settings
from weatherlake.web.params import ApiError

log = logging.getLogger(__name__)

#: Problems listed in one 400 answer at most.
MAX_DETAILS = 100
#: Seconds to wait for Kafka to confirm a batch.
SEND_TIMEOUT = 10.0


class RateLimit:
    """A token bucket per station: ``per_minute`` readings, refilled continuously."""

    def __init__(self, per_minute: int, clock=time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # station -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, station: str, count: int) -> float:
        """0 if ``count`` readings may go now (and takes them), else the seconds to wait."""
        with self._lock:
            now = self.clock()
            tokens, at = self._buckets.get(station, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - at) * self.per_minute / 60.0)
            if count <= tokens:
                self._buckets[station] = (tokens - count, now)
                return 0.0
            self._buckets[station] = (tokens, now)
            if count > self.per_minute:
                return 60.0
            return (count - tokens) * 60.0 / self.per_minute


def ingest_observations():
    config = settings()
    state = current_app.extensions["weatherlake"]["ingest"]
    station = _authorize(state)
    body = _body(config)
    lines = _lines(body)
    if len(lines) > config.ingest_rate_per_minute:
        raise ApiError(429, "rate_limited", f"a batch of {len(lines)} readings is more than station {station} may push "
                       f"in a minute ({config.ingest_rate_per_minute}); send smaller batches",
                       headers={"Retry-After": "60"})
    wait = state["rate"].take(station, len(lines))
    if wait:
        raise ApiError(429, "rate_limited", f"station {station} may push {config.ingest_rate_per_minute} readings a "
                       f"minute; retry in {wait:.0f} s", headers={"Retry-After": str(max(1, round(wait)))})
    readings, problems = [], []
    for number, line in lines:
        try:
            readings.append(normalise(line, "http", station, authority="token"))
        except InvalidRecord as error:
            problems.append({"line": number, "error": str(error)})
    if problems:
        raise ApiError(400, "invalid_readings", f"{len(problems)} of {len(lines)} readings are invalid; none was "
                       "sent", details=problems[:MAX_DETAILS])
    _send(config, readings)
    log.info("ingest: %d readings of station %s", len(readings), station)
    return json_response({"accepted": len(readings), "station_id": station}, 202)


api.add_url_rule("/ingest/observations", view_func=ingest_observations, methods=["POST"])


def make_state(config: Settings) -> dict:
    """The stations' tokens and rate limit, made when the app is: a bad STATION_TOKENS file
    stops the server at its start with a ConfigError naming the line."""
    tokens = load_tokens(config.station_tokens) if config.station_tokens else None
    return {"tokens": tokens, "rate": RateLimit(config.ingest_rate_per_minute)}


def _authorize(state: dict) -> str:
    if state["tokens"] is None:
        raise ApiError(403, "ingest_disabled", "station push is disabled: set STATION_TOKENS on the server")
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    station = state["tokens"].get(digest(credentials.strip())) if scheme.lower() == "bearer" else None
    if station is None:
        raise ApiError(401, "unauthorized", "a station's Authorization: Bearer token is required")
    return station


def _body(config: Settings) -> bytes:
    limit = config.ingest_max_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "too_large", f"the body is over {limit} bytes; send smaller batches")
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        raise ApiError(413, "too_large", f"the body is over {limit} bytes; send smaller batches")
    return body


def _lines(body: bytes) -> list[tuple[int, bytes]]:
    """(line number, bytes) of each reading: the whole body for JSON, each non-blank line for NDJSON."""
    kind = request.mimetype
    if kind == "application/json":
        lines = [(1, body)]
    elif kind == "application/x-ndjson":
        lines = [(number, line) for number, line in enumerate(body.split(b"\n"), 1) if line.strip()]
    else:
        raise ApiError(415, "unsupported_media_type", "send application/json (one reading) or application/x-ndjson "
                       "(one reading per line)")
    if not lines:
        raise ApiError(400, "invalid_readings", "the body holds no reading")
    return lines


def _send(config: Settings, readings: list[dict]) -> None:
    """Every reading onto the observation topic, confirmed by Kafka; 503 otherwise."""
    from weatherlake.ingest import kafka

    try:
        producer = shared_producer(config)
        futures = [producer.send(config.kafka_topic, key=r["city_id"].encode(), value=records.encode(r))
                   for r in readings]
        producer.flush(timeout=SEND_TIMEOUT)
        for future in futures:
            future.get(timeout=SEND_TIMEOUT)
    except (kafka.KafkaError, WeatherlakeError) as error:
        log.warning("ingest: cannot send %d readings to %s: %s", len(readings), config.kafka_topic, error)
        raise ApiError(503, "kafka_unavailable", "the observation topic cannot be reached; send again") from None


_producer_lock = threading.Lock()


def shared_producer(config: Settings):
    """The web app's one Kafka producer (the alert writes and station pushes), made on first use."""
    from weatherlake.ingest import kafka

    extensions = current_app.extensions["weatherlake"]
    with _producer_lock:
        if extensions.get("producer") is None:
            extensions["producer"] = kafka.producer(config, give_up_after=10, linger_ms=5)
        return extensions["producer"]
