"""The alerts' lifecycle as a log of events: applied in order, idempotent, rebuilt by replay."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from weatherlake.alerts import book
from weatherlake.alerts.book import AlertBook
from weatherlake.alerts.notify import Delivery


@dataclass(frozen=True)
class FakeRule:  # only what book.opened reads of a weatherlake.alerts.rules.Rule
    name: str = "heat"
    kind: str = "threshold"
    severity: str = "critical"


@dataclass(frozen=True)
class Transition:  # the shape of weatherlake.alerts.evaluate.Transition
    kind: str
    rule: FakeRule
    subject: str
    at: datetime
    value: float | None
    message: str
    city: str | None = None


T0 = datetime(2026, 11, 25, 7, tzinfo=UTC)


def opened(subject="london-gb", at=T0, rule=FakeRule()):
    return book.opened(Transition("open", rule, subject, at, 41.2, f"{subject}: heat index 41.2 °C", "London"))


def test_an_alert_goes_from_firing_to_acknowledged_to_resolved():
    alerts = AlertBook()
    alert = alerts.apply(opened())
    assert alert["id"] == "heat.london-gb.20261125T070000Z"
    assert (alert["state"], alert["severity"], alert["value"], alert["opened_at"]) == (
        "firing", "critical", 41.2, "2026-11-25T07:00:00Z")
    ack = book.by_hand("acknowledged", alert["id"], "ana", "on it", "2026-11-25T07:05:00Z")
    assert alerts.apply(ack)["state"] == "acknowledged"
    assert (alert["acknowledged_by"], alert["acknowledged_comment"]) == ("ana", "on it")
    cleared = Transition("clear", FakeRule(), "london-gb", datetime(2026, 11, 25, 12, tzinfo=UTC), 30.1, "cooled")
    assert alerts.apply(book.resolved_by_rule(alert, cleared))["state"] == "resolved"
    assert (alert["resolved_by"], alert["resolved_at"], alert["last_value"]) == (
        book.SYSTEM, "2026-11-25T12:00:00Z", 30.1)
    assert [e["type"] for e in alert["history"]] == ["opened", "acknowledged", "resolved"]
    assert alerts.open_for("heat", "london-gb") is None


def test_one_open_alert_per_rule_and_subject():
    alerts = AlertBook()
    first = alerts.apply(opened())
    assert alerts.apply(opened(at=datetime(2026, 11, 25, 9, tzinfo=UTC))) is None  # still open: refused
    assert alerts.apply(opened(subject="tokyo-jp")) is not None  # another subject
    assert alerts.apply(opened(rule=FakeRule(name="wind"))) is not None  # another rule
    alerts.apply(book.by_hand("resolved", first["id"], "ana", None, "2026-11-25T08:00:00Z"))
    # An event is judged once, where it stands in the log: the refused one stays refused.
    assert alerts.apply(opened(at=datetime(2026, 11, 25, 9, tzinfo=UTC))) is None
    again = alerts.apply(opened(at=datetime(2026, 11, 25, 10, tzinfo=UTC)))
    assert again is not None and again["id"] != first["id"]
    assert alerts.open_for("heat", "london-gb") is again


@pytest.mark.parametrize(
    ("state_before", "action", "refused"),
    [("resolved", "acknowledged", "already resolved"), ("resolved", "resolved", "already resolved"),
     ("acknowledged", "acknowledged", "already acknowledged"), ("firing", "acknowledged", None),
     ("firing", "resolved", None), ("acknowledged", "resolved", None)],
)
def test_the_lifecycle_refuses_what_it_does_not_allow(state_before, action, refused):
    alerts = AlertBook()
    alert = alerts.apply(opened())
    if state_before != "firing":
        alerts.apply(book.by_hand(state_before, alert["id"], "ana", None, "2026-11-25T07:05:00Z"))
    message = book.refusal(alert, action)
    assert (message is None) == (refused is None) and (refused is None or refused in message)
    changed = alerts.apply(book.by_hand(action, alert["id"], "bob", None, "2026-11-25T07:10:00Z"))
    assert (changed is None) == (refused is not None)


def test_an_event_seen_twice_changes_nothing():
    alerts = AlertBook()
    event = opened()
    alert = alerts.apply(event)
    ack = book.by_hand("acknowledged", alert["id"], "ana", None, "2026-11-25T07:05:00Z")
    assert alerts.apply(ack) is alert
    assert alerts.apply(dict(ack)) is None and alerts.apply(dict(event)) is None
    assert len(alert["history"]) == 2


def test_replaying_the_log_rebuilds_the_same_state_even_with_repeats():
    rng = random.Random(5)
    log = []
    live = AlertBook()
    for hour in range(60):
        subject = rng.choice(["london-gb", "tokyo-jp", "dubai-ae"])
        at = datetime(2026, 11, 25, hour % 24, tzinfo=UTC).replace(day=25 + hour // 24)
        candidates = [opened(subject, at)]
        existing = live.open_for("heat", subject)
        if existing:
            action = rng.choice(["acknowledged", "resolved"])
            candidates = [book.by_hand(action, existing["id"], "ana", None, at.strftime("%Y-%m-%dT%H:%M:%SZ"))]
        for event in candidates:
            live.apply(event)
            log.append(event)
            if rng.random() < 0.2:
                log.append(dict(event))  # a retried send: the log holds it twice
    rebuilt = AlertBook()
    for event in log:
        rebuilt.apply(event)
    assert rebuilt.alerts == live.alerts
    assert rebuilt.counts() == live.counts()


def test_deliveries_are_recorded_and_what_is_undelivered_is_listed():
    alerts = AlertBook()
    alert = alerts.apply(opened())
    event_id = alert["history"][0]["event_id"]
    failed = Delivery(event_id, "webhook", 1, False, "HTTP 503", "2026-11-25T07:00:01Z")
    assert alerts.apply(book.notified(failed)) is alert
    assert alerts.undelivered(["webhook", "email"], "2026-11-25T00:00:00Z") == [
        (alert["history"][0], "webhook"), (alert["history"][0], "email")]
    alerts.apply(book.notified(Delivery(event_id, "webhook", 2, True, None, "2026-11-25T07:00:05Z")))
    assert alerts.undelivered(["webhook", "email"], "2026-11-25T00:00:00Z") == [(alert["history"][0], "email")]
    assert alerts.undelivered(["webhook", "email"], "2026-11-26T00:00:00Z") == []  # too old to send again


def test_load_restores_open_alerts_and_their_events():
    alerts = AlertBook()
    alerts.apply(opened())
    resolved = alerts.apply(opened(subject="tokyo-jp"))
    alerts.apply(book.by_hand("resolved", resolved["id"], "ana", None, "2026-11-25T08:00:00Z"))
    restored = AlertBook.load(list(alerts.alerts.values()), alerts.deliveries)
    assert restored.open_for("heat", "london-gb")["id"] == "heat.london-gb.20261125T070000Z"
    assert restored.open_for("heat", "tokyo-jp") is None
    assert restored.apply(opened()) is None  # seen before the restart
    assert restored.counts()["firing"]["critical"] == 1 and restored.counts()["resolved"]["critical"] == 1


def test_open_alerts_come_first_by_severity():
    alerts = AlertBook()
    warning = book.opened(Transition("open", FakeRule("wind", severity="warning"), "tokyo-jp", T0, 21.0, "wind"))
    for event in (opened(), warning, opened(subject="dubai-ae", at=datetime(2026, 11, 24, tzinfo=UTC))):
        alerts.apply(event)
    alerts.apply(book.by_hand("resolved", "heat.london-gb.20261125T070000Z", "ana", None, "2026-11-25T08:00:00Z"))
    order = [a["id"] for a in book.newest_first(list(alerts.alerts.values()))]
    assert order == ["heat.dubai-ae.20261124T000000Z", "wind.tokyo-jp.20261125T070000Z",
                     "heat.london-gb.20261125T070000Z"]


def test_pruning_forgets_old_resolved_alerts_and_their_deliveries():
    alerts = AlertBook()
    old = alerts.apply(opened())
    alerts.apply(book.notified(Delivery(old["history"][0]["event_id"], "webhook", 1, True, None, "2026-11-25T07:00:01Z")))
    alerts.apply(book.by_hand("resolved", old["id"], "ana", None, "2026-11-25T08:00:00Z"))
    recent = alerts.apply(opened(subject="tokyo-jp"))
    alerts.apply(book.notified(Delivery(recent["history"][0]["event_id"], "webhook", 1, False, "HTTP 400",
                                        "2026-11-25T07:00:01Z", permanent=True)))
    assert alerts.prune("2026-11-25T07:59:59Z") == 0
    assert alerts.prune("2026-11-26T00:00:00Z") == 1
    assert list(alerts.alerts) == [recent["id"]]
    assert alerts.deliveries == {recent["history"][0]["event_id"]: {"webhook": "failed"}}
    assert alerts.undelivered(["webhook"], "2026-11-25T00:00:00Z") == []  # given up for good: not sent again
