"""The alert endpoints: list and show alerts, acknowledge and resolve them.

Reads come from ``alerts/current.json``, which the alert service (``weatherlake alerts``)
writes to the lake and the store loads with the views. Writes never change that file:
an acknowledge or resolve is an event sent to the alert topic, which the service applies
in order with everything else (weatherlake.alerts.book) and writes back within a tick;
the answer is 202 with the alert as it will read. Writes need ``Authorization: Bearer
<WEATHERLAKE_API_TOKEN>``: with no token configured they are refused (403), with a wrong
or missing one too (401).
"""

from __future__ import annotations

import hmac
import logging

import orjson
from flask import request

from weatherlake.alerts.book import SEVERITIES, by_hand, refusal
from weatherlake.errors import WeatherlakeError
from weatherlake.timefmt import utc_now_seconds
from weatherlake.web.api import api, data_response, endpoint, json_response, settings, store
from weatherlake.web.params import LIMIT, ApiError, Param

log = logging.getLogger(__name__)

ALERT_STATE = Param("state", "choice", "Only alerts in this state (`open`: firing or acknowledged).",
                    choices=("open", "firing", "acknowledged", "resolved"))
ALERT_SEVERITY = Param("severity", "choice", "Smallest severity shown (`info` shows all).", default="info",
                       choices=SEVERITIES)
ALERT_CITIES = Param("city", "cities", "Only alerts about these cities (comma-separated ids).", maximum=100)
RULE = Param("rule", "name", "Only alerts of this rule.")
FROM = Param("from", "date", "Only alerts opened on or after this UTC date.")
TO = Param("to", "date", "Only alerts opened on or before this UTC date.")
NOT_RUNNING = "no alerts yet: is `weatherlake alerts` running?"
#: Longest ``by`` and ``comment`` accepted in a write.
MAX_TEXT = 500


@endpoint("/alerts", "Alerts, open first", params=(ALERT_STATE, ALERT_SEVERITY, ALERT_CITIES, RULE, FROM, TO, LIMIT))
def alerts(loaded, config, state, severity, city, rule, limit, **window):
    """The alert service's alerts (`weatherlake alerts`): open ones first, by severity, then newest first.
    Each has `id`, `rule`, `kind`, `subject`, `city_id`, `severity`, `state` (`firing`, `acknowledged`,
    `resolved`), `opened_at`, `acknowledged_at`/`_by`, `resolved_at`/`_by`, `value`, `message`."""
    rank = SEVERITIES.index(severity)
    first, last = window.get("from"), window.get("to")

    def build():
        rows = []
        for alert in (loaded.alerts or {}).get("alerts", []):
            if state == "open" and alert["state"] == "resolved" or state not in (None, "open", alert["state"]):
                continue
            if alert.get("severity") not in SEVERITIES or SEVERITIES.index(alert["severity"]) < rank:
                continue
            if city is not None and alert.get("city_id") not in city:
                continue
            if rule is not None and alert["rule"] != rule:
                continue
            day = alert["opened_at"][:10]
            if (first and day < first) or (last and day > last):
                continue
            rows.append({k: v for k, v in alert.items() if k != "history"})
            if len(rows) == limit:
                break
        return rows

    key = ("alerts", state, severity, None if city is None else tuple(city), rule, first, last, limit)
    counts = (loaded.alerts or {}).get("counts")
    return data_response(loaded, key, build, view=None, not_published=loaded.alerts is None, hint=NOT_RUNNING,
                         counts=counts, writable=bool(config.api_token))


def show(alert_id: str):
    """One alert with its history (every event: opened, acknowledged, resolved, notified)."""
    alert = _find(alert_id)
    return json_response({"data": alert, "generated_at": utc_now_seconds()})


def acknowledge(alert_id: str):
    return _change(alert_id, "acknowledged")


def resolve(alert_id: str):
    return _change(alert_id, "resolved")


api.add_url_rule("/alerts/<alert_id>", view_func=show, methods=["GET"])
api.add_url_rule("/alerts/<alert_id>/acknowledge", view_func=acknowledge, methods=["POST"])
api.add_url_rule("/alerts/<alert_id>/resolve", view_func=resolve, methods=["POST"])


def _find(alert_id: str) -> dict:
    for alert in (store().current().alerts or {}).get("alerts", []):
        if alert["id"] == alert_id:
            return alert
    raise ApiError(404, "unknown_alert", f"no alert {alert_id[:80]!r} (GET /api/alerts lists them)")


def _change(alert_id: str, action: str):
    config = settings()
    _authorize(config)
    body = _body()
    alert = _find(alert_id)
    refused = refusal(alert, action)
    if refused:
        raise ApiError(409, "conflict", refused)
    event = by_hand(action, alert_id, body["by"], body["comment"], utc_now_seconds())
    _send(config, event)
    log.info("alert %s %s by %s", alert_id, action, body["by"])
    after = {**{k: v for k, v in alert.items() if k != "history"}, "state": action, f"{action}_at": event["at"],
             f"{action}_by": body["by"]}
    return json_response({"data": after, "accepted": True, "event_id": event["event_id"],
                          "message": "sent to the alert service; GET /api/alerts shows it within seconds"}, 202)


def _authorize(config) -> None:
    token = config.api_token.reveal()
    if not token:
        raise ApiError(403, "writes_disabled", "writes are disabled: set WEATHERLAKE_API_TOKEN on the server")
    given = request.headers.get("Authorization", "")
    scheme, _, credentials = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(credentials.strip().encode(), token.encode()):
        raise ApiError(401, "unauthorized", "a valid Authorization: Bearer token is required")


def _body() -> dict:
    """``{"by": ..., "comment": ...}``: who (required) and why (optional)."""
    try:
        body = orjson.loads(request.get_data() or b"{}")
    except orjson.JSONDecodeError:
        raise ApiError(400, "invalid_body", "the body must be a JSON object like {\"by\": \"ana\"}") from None
    if not isinstance(body, dict) or set(body) - {"by", "comment"}:
        raise ApiError(400, "invalid_body", "the body takes only \"by\" and \"comment\"")
    by, comment = body.get("by"), body.get("comment")
    if not isinstance(by, str) or not by.strip() or len(by) > MAX_TEXT:
        raise ApiError(400, "invalid_body", f"\"by\" must be a non-empty string of at most {MAX_TEXT} characters")
    if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_TEXT):
        raise ApiError(400, "invalid_body", f"\"comment\" must be a string of at most {MAX_TEXT} characters")
    return {"by": by.strip(), "comment": comment}


def _send(config, event: dict) -> None:
    """The event onto the alert topic; 503 when Kafka does not take it."""
    from weatherlake.ingest import kafka
    from weatherlake.web.ingest import shared_producer

    try:
        producer = shared_producer(config)
        future = producer.send(config.alert_topic, key=event["alert_id"].encode(), value=orjson.dumps(event))
        future.get(timeout=10)
    except (kafka.KafkaError, WeatherlakeError) as error:
        log.warning("cannot send an alert event to %s: %s", config.alert_topic, error)
        raise ApiError(503, "kafka_unavailable", "the alert topic cannot be reached; try again") from None

