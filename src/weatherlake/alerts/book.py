"""The alerts' lifecycle, kept as a log of events: firing -> acknowledged -> resolved.

Every change to an alert is an event on the alert topic (``ALERT_TOPIC``, one
partition, so its order is the alerts' history):

    {"event_id": "...", "type": "opened", "alert_id": "...", "at": "...", ...}

=================  ==================================================================
``opened``         a rule tripped for a subject (a city, or ``pipeline``): the alert,
                   with the values that tripped it, starts ``firing``
``acknowledged``   someone is on it (``by``, ``comment``); from ``firing`` only
``resolved``       over: by the rules when the condition cleared for long enough
                   (``by: "weatherlake"``), or by hand; from ``firing`` or
                   ``acknowledged``
``notified``       one delivery attempt of a notification (``channel``, ``ok``, ``error``)
=================  ==================================================================

:class:`AlertBook` applies events in log order and is the only place state changes.
Applying is idempotent (an ``event_id`` seen before is ignored) and refuses what the
lifecycle does not allow (a second open alert for the same rule and subject, resolving
twice), so replaying the whole log after a restart rebuilds exactly the same state,
and a log holding an event twice (a retried send) changes nothing. An alert's id is
made from its rule, its subject and when its condition started, so the evaluator
deciding the same episode again after a restart names the same alert.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from weatherlake.timefmt import parse_utc, seconds_text

STATES = ("firing", "acknowledged", "resolved")
SEVERITIES = ("info", "warning", "critical")
#: Who resolves an alert whose condition cleared.
SYSTEM = "weatherlake"
#: Events of one alert kept in its history (opened, acknowledged, resolved and the
#: deliveries; a receiver down for days must not grow it without bound).
HISTORY_LIMIT = 50


def alert_id(rule: str, subject: str, started_at: datetime) -> str:
    """``heat-index-danger.london-gb.20261125T070000Z``: the same episode, the same id."""
    return f"{rule}.{subject}.{started_at.strftime('%Y%m%dT%H%M%SZ')}"



def opened(transition, severity: str | None = None) -> dict:
    """The ``opened`` event for an evaluator's ``open`` transition (weatherlake.alerts.evaluate)."""
    rule = transition.rule
    identity = alert_id(rule.name, transition.subject, transition.at)
    return {
        "event_id": f"{identity}:opened",
        "type": "opened",
        "alert_id": identity,
        "at": seconds_text(transition.at.timestamp()),
        "rule": rule.name,
        "kind": rule.kind,
        "subject": transition.subject,
        "city_id": None if transition.subject == "pipeline" else transition.subject,
        "city": transition.city,
        "severity": severity or rule.severity,
        "value": transition.value,
        "message": transition.message,
    }


def resolved_by_rule(alert: dict, transition) -> dict:
    """The ``resolved`` event for an evaluator's ``clear`` transition of an open alert."""
    return {
        "event_id": f"{alert['id']}:resolved",
        "type": "resolved",
        "alert_id": alert["id"],
        "at": seconds_text(transition.at.timestamp()),
        "by": SYSTEM,
        "comment": transition.message,
        "value": transition.value,
    }


def by_hand(action: str, identity: str, by: str, comment: str | None, at: str) -> dict:
    """An ``acknowledged`` or ``resolved`` event asked for through the API."""
    return {"event_id": f"{identity}:{action}:{uuid.uuid4().hex[:12]}", "type": action, "alert_id": identity,
            "at": at, "by": by, "comment": comment}


def notified(delivery) -> dict:
    """A ``notified`` event for one delivery attempt (weatherlake.alerts.notify.Delivery)."""
    return {
        "event_id": f"{delivery.event_id}:{delivery.channel}:{delivery.attempt}",
        "type": "notified",
        "alert_id": delivery.event_id.split(":", 1)[0],  # every lifecycle event id starts with its alert's
        "at": delivery.at,
        "notification": delivery.event_id,
        "channel": delivery.channel,
        "attempt": delivery.attempt,
        "ok": delivery.ok,
        "permanent": delivery.permanent,
        "error": delivery.error,
    }


class AlertBook:
    """Every alert, rebuilt from the event log; see the module docstring."""

    def __init__(self) -> None:
        self.alerts: dict[str, dict] = {}
        self._open: dict[tuple[str, str], str] = {}  # (rule, subject) -> id of its open alert
        self._seen: set[str] = set()
        #: notification event id -> channel -> "delivered" | "failed" (given up for good)
        self.deliveries: dict[str, dict[str, str]] = {}

    @classmethod
    def load(cls, alerts: list[dict], deliveries: dict[str, dict[str, str]]) -> AlertBook:
        """The book as written by :meth:`weatherlake.alerts.service.AlertService.state`."""
        book = cls()
        for alert in alerts:
            book.alerts[alert["id"]] = alert
            book._seen.update(event["event_id"] for event in alert["history"])
            if alert["state"] != "resolved":
                book._open[(alert["rule"], alert["subject"])] = alert["id"]
        book.deliveries = deliveries
        return book

    def open_for(self, rule: str, subject: str) -> dict | None:
        identity = self._open.get((rule, subject))
        return self.alerts.get(identity) if identity else None

    def open_alerts(self) -> list[dict]:
        return [self.alerts[identity] for identity in self._open.values()]

    def apply(self, event: dict) -> dict | None:
        """Apply one event; the alert it changed, or None when it was ignored."""
        event_id = event.get("event_id")
        if not event_id or event_id in self._seen:
            return None
        self._seen.add(event_id)
        kind = event.get("type")
        if kind == "opened":
            return self._open_alert(event)
        identity = event.get("alert_id")
        alert = self.alerts.get(identity) if identity else None
        if kind == "notified":
            state = "delivered" if event.get("ok") else ("failed" if event.get("permanent") else None)
            if state:
                self.deliveries.setdefault(event["notification"], {})[event["channel"]] = state
            if alert is not None:
                _remember(alert, event)
            return alert
        if alert is None or kind not in ("acknowledged", "resolved") or refusal(alert, kind):
            return None
        alert["state"] = kind
        alert[f"{kind}_at"] = event["at"]
        alert[f"{kind}_by"] = event.get("by")
        if event.get("comment"):
            alert[f"{kind}_comment"] = event["comment"]
        if kind == "resolved":
            self._open.pop((alert["rule"], alert["subject"]), None)
            if event.get("value") is not None:
                alert["last_value"] = event["value"]
        _remember(alert, event)
        return alert

    def _open_alert(self, event: dict) -> dict | None:
        identity = event["alert_id"]
        if identity in self.alerts or (event["rule"], event["subject"]) in self._open:
            return None  # the same episode again, or the rule already has an alert open for it
        alert = {
            "id": identity,
            "rule": event["rule"],
            "kind": event.get("kind"),
            "subject": event["subject"],
            "city_id": event.get("city_id"),
            "city": event.get("city"),
            "severity": event.get("severity"),
            "state": "firing",
            "opened_at": event["at"],
            "acknowledged_at": None,
            "acknowledged_by": None,
            "resolved_at": None,
            "resolved_by": None,
            "value": event.get("value"),
            "message": event.get("message"),
            "history": [],
        }
        _remember(alert, event)
        self.alerts[identity] = alert
        self._open[(alert["rule"], alert["subject"])] = identity
        return alert

    def undelivered(self, channels: list[str], since: str) -> list[tuple[dict, str]]:
        """(event, channel) of the lifecycle events at or after ``since`` that no channel
        has delivered or given up on: what a restarted service sends again."""
        pending = []
        for alert in self.alerts.values():
            for event in alert["history"]:
                if event["type"] == "notified" or event["at"] < since:
                    continue
                done = self.deliveries.get(event["event_id"], {})
                pending += [(event, channel) for channel in channels if channel not in done]
        return pending

    def prune(self, resolved_before: str) -> int:
        """Forget alerts resolved before ``resolved_before`` (the lake's archive keeps them)."""
        old = [i for i, a in self.alerts.items() if a["state"] == "resolved" and a["resolved_at"] < resolved_before]
        for identity in old:
            del self.alerts[identity]
        if old:
            self.deliveries = {notification: done for notification, done in self.deliveries.items()
                               if notification.split(":", 1)[0] in self.alerts}
        return len(old)

    def counts(self) -> dict[str, dict[str, int]]:
        """state -> severity -> number of alerts (for /metrics and the dashboard's header)."""
        counts = {state: dict.fromkeys(SEVERITIES, 0) for state in STATES}
        for alert in self.alerts.values():
            if alert["severity"] in counts[alert["state"]]:
                counts[alert["state"]][alert["severity"]] += 1
        return counts


def refusal(alert: dict, action: str) -> str | None:
    """Why ``action`` (acknowledged / resolved) cannot apply to ``alert`` now; None if it can."""
    if alert["state"] == "resolved":
        return f"alert {alert['id']!r} is already resolved"
    if action == "acknowledged" and alert["state"] == "acknowledged":
        return f"alert {alert['id']!r} is already acknowledged"
    return None


def _remember(alert: dict, event: dict) -> None:
    history = alert["history"]
    history.append({k: v for k, v in event.items() if k not in ("alert_id",)})
    if len(history) > HISTORY_LIMIT:
        # Keep the lifecycle events; drop the oldest delivery attempts first.
        for i, old in enumerate(history):
            if old["type"] == "notified":
                del history[i]
                break
        else:
            del history[0]


def newest_first(alerts: list[dict]) -> list[dict]:
    """Open alerts first, by severity (critical first), then newest first."""
    rank = {severity: i for i, severity in enumerate(reversed(SEVERITIES))}
    return sorted(alerts, key=lambda a: (a["state"] == "resolved", rank.get(a["severity"], 9),
                                         -parse_utc(a["opened_at"]).timestamp()))
