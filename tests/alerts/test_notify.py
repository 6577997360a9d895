"""Alert notifications against real receivers started here on 127.0.0.1: an HTTP server
that can be told to fail, and aiosmtpd's SMTP server (with AUTH, and with TLS when
``openssl`` can make a certificate).

Outcomes are awaited with a polling helper and a generous deadline, never timed: the
machine is shared and busy. "Does not block" is shown with events: a call returns, or
another channel delivers, while a receiver is still being held.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import socket
import ssl
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from weatherlake.alerts.notify import (
    DeliveryFailed,
    EmailChannel,
    Notification,
    Notifier,
    WebhookChannel,
    channels_from_settings,
    email_body,
    headline,
    parse_smtp_url,
    retry_after_seconds,
    slack_payload,
)
from weatherlake.config import Secret
from weatherlake.errors import ConfigError

#: aiosmtpd warns that AUTH without TLS is unsafe; these tests mean it, on 127.0.0.1.
AUTH_WITHOUT_TLS = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
HEADLINE = "[CRITICAL] firing: London: heat index 41.2 °C above 39.4 °C for 1h (rule heat-index-danger)"
FAST = (0.05, 0.1)
PASSWORD = "s3cr3t-p@ss/w:rd%"
USER = "alerts@example.org"


def notification(event_id: str = "evt-1", event: str = "opened", **changes) -> Notification:
    alert = {
        "id": "alert-7", "rule": "heat-index-danger", "city_id": "london-gb", "city": "London",
        "severity": "critical", "state": "open", "message": "heat index 41.2 °C above 39.4 °C for 1h",
        "value": 41.2, "opened_at": "2026-07-01T13:00:00Z", "resolved_at": None, "acknowledged_by": None,
    }
    alert.update(changes)
    return Notification(event_id=event_id, event=event, alert=alert, at="2026-07-01T13:00:05Z")


def wait_for(predicate, what: str, timeout: float = 20.0):
    """Poll ``predicate`` until it gives something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder:
    """The ``record`` callback: keeps every Delivery, and the thread that reported it."""

    def __init__(self) -> None:
        self.deliveries = []
        self.threads = set()
        self._lock = threading.Lock()

    def __call__(self, delivery) -> None:
        with self._lock:
            self.deliveries.append(delivery)
            self.threads.add(threading.current_thread())

    def of(self, event_id: str | None = None, channel: str | None = None) -> list:
        with self._lock:
            return [d for d in self.deliveries
                    if (event_id is None or d.event_id == event_id) and (channel is None or d.channel == channel)]

    def ok(self, event_id: str, channel: str) -> bool:
        return any(d.ok for d in self.of(event_id, channel))


# --- A webhook receiver -------------------------------------------------------------------


@dataclass
class Hit:
    path: str
    headers: dict
    body: dict
    status: int


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers from ``plan``
    (``(status, headers)`` for the next requests), else 200. While ``gate`` is clear,
    requests wait before being answered: a hanging receiver."""

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self.plan: deque[tuple[int, dict]] = deque()
        self.gate = threading.Event()
        self.gate.set()
        self.arrived = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                receiver.arrived.set()
                receiver.gate.wait(60)
                with receiver._lock:
                    status, headers = receiver.plan.popleft() if receiver.plan else (200, {})
                    receiver.hits.append(Hit(self.path, dict(self.headers), body, status))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/alerts"

    def fail_next(self, *answers) -> None:
        """Answer the next requests with these statuses, or ``(status, headers)`` pairs."""
        with self._lock:
            self.plan.extend(a if isinstance(a, tuple) else (a, {}) for a in answers)

    def delivered(self, event_id: str | None = None) -> list[Hit]:
        """The requests answered 2xx (for one Idempotency-Key)."""
        with self._lock:
            return [h for h in self.hits
                    if 200 <= h.status < 300 and (event_id is None or h.headers.get("Idempotency-Key") == event_id)]

    def stop(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers():
    started = []

    def start() -> Receiver:
        started.append(Receiver())
        return started[-1]

    yield start
    for receiver in started:
        receiver.stop()


@pytest.fixture
def receiver(receivers):
    return receivers()


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def make_notifier(recorder):
    made = []

    def make(channels, **options) -> Notifier:
        options.setdefault("delays", FAST)
        made.append(Notifier(channels, recorder, **options))
        return made[-1]

    yield make
    for notifier in made:
        notifier.close(timeout=0.2)  # what still hangs is left to its daemon thread


# --- An SMTP server -----------------------------------------------------------------------


class Inbox:
    """aiosmtpd handler: keeps each message; ``replies`` answers the next DATA commands instead."""

    def __init__(self) -> None:
        self.messages = []
        self.replies: deque[str] = deque()

    async def handle_DATA(self, server, session, envelope):
        if self.replies:
            return self.replies.popleft()
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message, session.auth_data))
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    good = isinstance(auth_data, LoginPassword) and auth_data == (USER.encode(), PASSWORD.encode())
    return AuthResult(success=good, handled=False, auth_data=auth_data.login.decode() if good else None)


@pytest.fixture
def smtp_server():
    """Start an SMTP server; ``smtp_server(**aiosmtpd options)`` gives ``(inbox, port)``."""
    controllers = []

    def start(**options):
        inbox = Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **options)
        controller.start()
        controllers.append(controller)
        return inbox, controller.port

    yield start
    for controller in controllers:
        controller.stop()


def smtp_url(port: int, scheme: str = "smtp", credentials: bool = False, extra: str = "") -> str:
    userinfo = f"{quote(USER, safe='')}:{quote(PASSWORD, safe='')}@" if credentials else ""
    return f"{scheme}://{userinfo}127.0.0.1:{port}?from=alerts@example.org&to=ops@example.org,oncall@example.org{extra}"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1: ``(server context, client context trusting it)``,
    made with openssl (scripts/bootstrap.sh --test installs it)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    return server, ssl.create_default_context(cafile=str(cert))


# --- What is said -------------------------------------------------------------------------


def test_the_headline_is_one_readable_line():
    assert headline(notification()) == HEADLINE
    assert headline(notification(event="resolved", severity="warning")).startswith("[WARNING] resolved: London: ")
    acknowledged = headline(notification(event="acknowledged", acknowledged_by="ana"))
    assert acknowledged.startswith("[CRITICAL] acknowledged by ana: London: heat index")
    assert headline(notification(message="two\nlines", city=None, city_id=None)) == (
        "[CRITICAL] firing: two lines (rule heat-index-danger)")


def test_slack_text_is_escaped_as_slack_requires():
    assert slack_payload(notification(message="rain < 1 & wind > 5")) == {
        "text": "[CRITICAL] firing: London: rain &lt; 1 &amp; wind &gt; 5 (rule heat-index-danger)"}


def test_the_email_body_lists_every_field():
    body = email_body(notification(extra={"window": "1h"}))
    assert body.startswith(HEADLINE + "\n\n")
    for line in ("event_id         evt-1", "value            41.2", "resolved_at      -", 'extra            {"window": "1h"}'):
        assert line in body


def test_a_notification_round_trips_and_snapshots_its_alert():
    alert = {"id": "a", "severity": "info"}
    original = Notification("evt-9", "resolved", alert, "2026-07-01T14:00:00Z")
    alert["severity"] = "critical"
    assert original.alert["severity"] == "info"
    assert Notification.from_dict(json.loads(json.dumps(original.to_dict()))) == original
    with pytest.raises(ValueError, match="event must be one of"):
        Notification("evt-9", "fired", alert, "2026-07-01T14:00:00Z")


def test_retry_after_is_seconds_or_a_date():
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None


# --- Settings -----------------------------------------------------------------------------


def test_channels_from_settings_builds_only_what_is_configured():
    assert channels_from_settings(None, "json", None) == []
    assert channels_from_settings("", "", "") == []
    [webhook] = channels_from_settings("https://example.org/hook", "json", None)
    assert (webhook.name, webhook.style) == ("webhook", "json")
    slack, mail = channels_from_settings(Secret("https://hooks.slack.com/services/T0/B0/xyz"), "Slack",
                                         Secret(smtp_url(2525, credentials=True)))
    assert (slack.name, mail.name) == ("slack", "email")
    assert mail.target.recipients == ("ops@example.org", "oncall@example.org")
    assert (mail.target.user, mail.target.password) == (USER, PASSWORD)  # percent-decoded
    assert "xyz" not in repr(slack) and PASSWORD not in repr(mail) and PASSWORD not in repr(mail.target)


def test_the_smtp_url_gives_port_and_tls_defaults():
    def where(url):
        target = parse_smtp_url(url)
        return target.host, target.port, target.tls, target.recipients

    assert where("smtp://mx?from=a@x.org&to=b@y.org") == ("mx", 25, "none", ("b@y.org",))
    assert where("smtp://mx?from=a@x.org&to=b@y.org&starttls=true") == ("mx", 587, "starttls", ("b@y.org",))
    assert where("smtps://mx:2465?from=a@x.org&to=b@y.org&to=c@y.org") == ("mx", 2465, "implicit", ("b@y.org", "c@y.org"))


@pytest.mark.parametrize("url", [
    f"smtp://u:{PASSWORD}@mx?from=a@x.org&to=b@y.org",  # the password not percent-encoded
    f"http://u:{quote(PASSWORD, safe='')}@mx?from=a@x.org&to=b@y.org",
    f"smtp://u:{quote(PASSWORD, safe='')}@mx?to=b@y.org",
    f"smtp://u:{quote(PASSWORD, safe='')}@mx?from=a@x.org",
    f"smtp://u:{quote(PASSWORD, safe='')}@mx?from=a@x.org&to=not-an-address",
    f"smtp://u:{quote(PASSWORD, safe='')}@mx?from=a@x.org&to=b@y.org&starttls=maybe",
    f"smtps://u:{quote(PASSWORD, safe='')}@mx?from=a@x.org&to=b@y.org&starttls=true",
    f"smtp://u:{quote(PASSWORD, safe='')}@mx:port?from=a@x.org&to=b@y.org",
    f"smtp://u:{quote(PASSWORD, safe='')}@mx?from=a@x.org&to=b@y.org&pasword=x",
    "smtp://u@mx?from=a@x.org&to=b@y.org",
    "smtp://?from=a@x.org&to=b@y.org",
])
def test_a_bad_smtp_url_is_one_line_naming_the_setting_and_never_the_password(url):
    with pytest.raises(ConfigError, match="SMTP_URL") as caught:
        EmailChannel(url)
    text = str(caught.value)
    assert "\n" not in text
    assert PASSWORD not in text and quote(PASSWORD, safe="") not in text and url not in text
    assert "s3cr3t" not in text and caught.value.__cause__ is None


@pytest.mark.parametrize(("url", "style", "setting"), [
    ("ftp://example.org/hook", "json", "ALERT_WEBHOOK_URL"),
    ("https:///no-host", "json", "ALERT_WEBHOOK_URL"),
    ("https://example.org:99999/hook", "json", "ALERT_WEBHOOK_URL"),
    ("https://example.org/hook", "xml", "ALERT_WEBHOOK_FORMAT"),
])
def test_a_bad_webhook_setting_is_one_line_naming_it(url, style, setting):
    with pytest.raises(ConfigError, match=setting) as caught:
        channels_from_settings(url, style, None)
    assert "\n" not in str(caught.value) and "/hook" not in str(caught.value)


# --- Webhooks -----------------------------------------------------------------------------


def test_a_json_webhook_gets_the_event_once_with_its_idempotency_key(receiver, recorder, make_notifier):
    make_notifier([WebhookChannel(receiver.url)]).submit(notification())
    wait_for(lambda: recorder.ok("evt-1", "webhook"), "the delivery")
    [hit] = receiver.hits
    assert hit.path == "/hooks/alerts"
    assert hit.headers["Idempotency-Key"] == "evt-1"
    assert hit.headers["Content-Type"].startswith("application/json")
    assert hit.body == notification().to_dict()
    assert set(hit.body) == {"event", "event_id", "at", "alert"}
    [delivery] = recorder.of("evt-1")
    assert (delivery.channel, delivery.attempt, delivery.ok, delivery.error) == ("webhook", 1, True, None)


def test_a_slack_webhook_gets_one_readable_line(receiver, recorder, make_notifier):
    make_notifier([WebhookChannel(receiver.url, style="slack")]).submit(notification())
    wait_for(lambda: recorder.ok("evt-1", "slack"), "the delivery")
    [hit] = receiver.hits
    assert hit.body == {"text": HEADLINE}
    assert hit.headers["Idempotency-Key"] == "evt-1"


@pytest.mark.parametrize("status", [503, 500, 408])
def test_failures_are_retried_and_the_event_arrives_once(receiver, recorder, make_notifier, status):
    receiver.fail_next(status, status)
    make_notifier([WebhookChannel(receiver.url)]).submit(notification())
    wait_for(lambda: recorder.ok("evt-1", "webhook"), "the delivery after two failures")
    assert len(receiver.delivered("evt-1")) == 1
    assert [h.headers["Idempotency-Key"] for h in receiver.hits] == ["evt-1"] * 3
    deliveries = recorder.of("evt-1")
    assert [(d.attempt, d.ok, d.permanent) for d in deliveries] == [(1, False, False), (2, False, False), (3, True, False)]
    assert f"answered HTTP {status}" in deliveries[0].error
    assert [d.retry_in for d in deliveries] == [0.05, 0.1, None]


def test_retry_after_is_honoured(receiver, recorder, make_notifier):
    receiver.fail_next((429, {"Retry-After": "1"}))
    make_notifier([WebhookChannel(receiver.url)]).submit(notification())
    wait_for(lambda: recorder.ok("evt-1", "webhook"), "the delivery after a 429")
    first, second = recorder.of("evt-1")
    assert "HTTP 429" in first.error and first.retry_in == 1.0 and second.ok


def test_retry_after_is_capped(receiver, recorder, make_notifier):
    receiver.fail_next((503, {"Retry-After": "86400"}))
    make_notifier([WebhookChannel(receiver.url)], retry_after_cap=0.2).submit(notification())
    wait_for(lambda: recorder.ok("evt-1", "webhook"), "the delivery after a day-long Retry-After")
    assert recorder.of("evt-1")[0].retry_in == 0.2


@pytest.mark.parametrize("answer", [400, 401, 404, (301, {"Location": "http://127.0.0.1:1/elsewhere"})])
def test_a_refusal_is_permanent_and_the_queue_moves_on(receiver, recorder, make_notifier, answer):
    receiver.fail_next(answer)
    notifier = make_notifier([WebhookChannel(receiver.url)])
    notifier.submit(notification("evt-1"))
    notifier.submit(notification("evt-2", "resolved"))
    wait_for(lambda: recorder.ok("evt-2", "webhook"), "the next event's delivery")
    [refused] = recorder.of("evt-1")
    assert refused.permanent and not refused.ok and refused.retry_in is None
    assert "answered HTTP" in refused.error
    # One channel delivers in order, so evt-1 would have been tried again before evt-2.
    assert [h.headers["Idempotency-Key"] for h in receiver.hits] == ["evt-1", "evt-2"]
    assert notifier.pending() == []


def test_each_channel_delivers_in_submission_order(receiver, recorder, make_notifier):
    receiver.fail_next(503)
    notifier = make_notifier([WebhookChannel(receiver.url)])
    for event_id, event in (("evt-1", "opened"), ("evt-2", "acknowledged"), ("evt-3", "resolved")):
        notifier.submit(notification(event_id, event))
    wait_for(lambda: recorder.ok("evt-3", "webhook"), "the last delivery")
    assert [h.body["event"] for h in receiver.delivered()] == ["opened", "acknowledged", "resolved"]


def test_an_event_submitted_twice_while_pending_is_sent_once(receiver, recorder, make_notifier):
    receiver.gate.clear()
    notifier = make_notifier([WebhookChannel(receiver.url, timeout=60)])
    notifier.submit(notification())
    assert receiver.arrived.wait(20)
    notifier.submit(notification())
    assert notifier.pending() == [(notification(), "webhook")]
    receiver.gate.set()
    wait_for(lambda: recorder.ok("evt-1", "webhook"), "the delivery")
    notifier.close(timeout=20)
    assert len(receiver.hits) == 1


# --- Never blocking -----------------------------------------------------------------------


def test_submit_returns_while_the_receiver_hangs(receiver, recorder, make_notifier):
    receiver.gate.clear()
    notifier = make_notifier([WebhookChannel(receiver.url, timeout=60)])
    notifier.submit(notification("evt-1"))
    assert receiver.arrived.wait(20), "the worker never reached the receiver"
    returned = threading.Event()
    caller = threading.Thread(target=lambda: (notifier.submit(notification("evt-2")), returned.set()), daemon=True)
    caller.start()
    assert returned.wait(20), "submit waited for a hanging receiver"
    assert receiver.hits == []  # nothing answered yet: submit did not wait for any delivery
    receiver.gate.set()
    wait_for(lambda: recorder.ok("evt-2", "webhook"), "both deliveries once the receiver answers")
    assert threading.main_thread() not in recorder.threads


def test_a_hanging_channel_does_not_hold_up_another(receivers, recorder, make_notifier):
    stuck, live = receivers(), receivers()
    stuck.gate.clear()
    notifier = make_notifier([WebhookChannel(stuck.url, name="stuck", timeout=60),
                              WebhookChannel(live.url, name="live")])
    notifier.submit(notification())
    wait_for(lambda: recorder.ok("evt-1", "live"), "the live channel's delivery")
    assert stuck.hits == []  # delivered while the other receiver is still holding its request
    assert notifier.pending() == [(notification(), "stuck")]


def test_a_dead_mail_server_does_not_delay_the_webhook(receiver, recorder, make_notifier):
    notifier = make_notifier([EmailChannel(smtp_url(free_port())), WebhookChannel(receiver.url)])
    notifier.submit(notification("evt-1"))
    notifier.submit(notification("evt-2"))
    wait_for(lambda: recorder.ok("evt-2", "webhook"), "the webhook deliveries")
    wait_for(lambda: len(recorder.of("evt-1", "email")) >= 3, "retries of the email")
    failed = recorder.of("evt-1", "email")
    assert not any(d.ok for d in failed) and [d.attempt for d in failed[:3]] == [1, 2, 3]
    assert "connection refused" in failed[0].error
    assert [name for _, name in notifier.pending()] == ["email", "email"]


def test_a_failing_record_callback_does_not_stop_deliveries(receiver, make_notifier):
    seen = []

    def record(delivery):
        seen.append(delivery)
        if len(seen) == 1:
            raise RuntimeError("the database is down")

    notifier = Notifier([WebhookChannel(receiver.url)], record, delays=FAST)
    try:
        notifier.submit(notification("evt-1"))
        notifier.submit(notification("evt-2"))
        wait_for(lambda: len(seen) == 2, "both deliveries recorded")
    finally:
        notifier.close()
    assert len(receiver.delivered()) == 2


def test_channels_can_be_chosen_and_an_unknown_one_is_skipped(receivers, recorder, make_notifier, caplog):
    first, second = receivers(), receivers()
    notifier = make_notifier([WebhookChannel(first.url, name="ops"), WebhookChannel(second.url, name="team")])
    notifier.submit(notification("evt-1"), channels=["team", "email"])
    wait_for(lambda: recorder.ok("evt-1", "team"), "the delivery")
    notifier.close(timeout=20)
    assert first.hits == [] and len(second.hits) == 1
    assert "no channel 'email' is configured" in caplog.text


# --- Closing ------------------------------------------------------------------------------


def test_close_returns_what_is_undelivered_for_a_later_resubmission(receiver, recorder, make_notifier):
    notifier = make_notifier([WebhookChannel(f"http://127.0.0.1:{free_port()}/hook")])
    notifier.submit(notification("evt-1"))
    notifier.submit(notification("evt-2", "resolved"))
    wait_for(lambda: len(recorder.of("evt-1")) >= 2, "two failed attempts")
    left = notifier.close(timeout=20)
    assert [(n.event_id, name) for n, name in left] == [("evt-1", "webhook"), ("evt-2", "webhook")]
    with pytest.raises(RuntimeError, match="closed"):
        notifier.submit(notification("evt-3"))
    # What the caller persisted comes back after a restart, to a receiver that now answers.
    persisted = json.loads(json.dumps([(n.to_dict(), name) for n, name in left]))
    again = make_notifier([WebhookChannel(receiver.url)])
    for data, name in persisted:
        again.submit(Notification.from_dict(data), [name])
    wait_for(lambda: recorder.ok("evt-2", "webhook"), "the resubmitted deliveries")
    assert [h.headers["Idempotency-Key"] for h in receiver.delivered()] == ["evt-1", "evt-2"]


def test_close_delivers_what_is_due_before_stopping(receiver, recorder, make_notifier):
    notifier = make_notifier([WebhookChannel(receiver.url)])
    for i in range(3):
        notifier.submit(notification(f"evt-{i}"))
    assert notifier.close(timeout=20) == []
    assert len(receiver.delivered()) == 3


def test_close_gives_up_on_an_attempt_that_hangs(receiver, recorder, make_notifier):
    receiver.gate.clear()
    notifier = make_notifier([WebhookChannel(receiver.url, timeout=60)])
    notifier.submit(notification())
    assert receiver.arrived.wait(20)
    assert notifier.close(timeout=0.1) == [(notification(), "webhook")]


# --- Email --------------------------------------------------------------------------------


def test_an_email_reaches_every_recipient(smtp_server, recorder, make_notifier):
    inbox, port = smtp_server()
    make_notifier([EmailChannel(smtp_url(port))]).submit(notification())
    wait_for(lambda: recorder.ok("evt-1", "email"), "the email")
    [(sender, recipients, message, _)] = inbox.messages
    assert sender == "alerts@example.org"
    assert recipients == ["ops@example.org", "oncall@example.org"]
    assert message["Subject"] == f"[weatherlake] {HEADLINE}"
    assert message["To"] == "ops@example.org, oncall@example.org"
    assert message["Message-ID"] == "<evt-1@weatherlake>"
    assert message["References"] == "<alert-alert-7@weatherlake>"
    body = message.get_content()
    assert body.startswith(HEADLINE) and "event_id" in body and "heat-index-danger" in body and "41.2" in body


@AUTH_WITHOUT_TLS
def test_an_email_with_auth(smtp_server, recorder, make_notifier):
    inbox, port = smtp_server(authenticator=authenticator, auth_required=True, auth_require_tls=False)
    make_notifier([EmailChannel(smtp_url(port, credentials=True))]).submit(notification())
    wait_for(lambda: recorder.ok("evt-1", "email"), "the email")
    [(_, _, message, login)] = inbox.messages
    assert login == USER and message["Subject"] == f"[weatherlake] {HEADLINE}"


def test_a_temporary_smtp_refusal_is_retried_and_a_final_one_is_not(smtp_server, recorder, make_notifier):
    inbox, port = smtp_server()
    inbox.replies.extend(["451 4.3.0 try again later", "554 5.7.1 rejected as spam"])
    notifier = make_notifier([EmailChannel(smtp_url(port))])
    notifier.submit(notification("evt-1"))  # 451, then 554: dropped
    notifier.submit(notification("evt-2"))
    wait_for(lambda: recorder.ok("evt-2", "email"), "the second email")
    assert [(d.ok, d.permanent) for d in recorder.of("evt-1")] == [(False, False), (False, True)]
    assert "451" in recorder.of("evt-1")[0].error and "554" in recorder.of("evt-1")[1].error
    assert [m["Message-ID"] for _, _, m, _ in inbox.messages] == ["<evt-2@weatherlake>"]


def test_email_over_starttls_with_auth(smtp_server, certificate, recorder, make_notifier):
    server_context, client_context = certificate
    inbox, port = smtp_server(tls_context=server_context, require_starttls=True, authenticator=authenticator,
                              auth_required=True)
    channel = EmailChannel(smtp_url(port, credentials=True, extra="&starttls=true"), ssl_context=client_context)
    make_notifier([channel]).submit(notification())
    wait_for(lambda: recorder.ok("evt-1", "email"), "the email")
    assert inbox.messages[0][3] == USER


def test_email_over_implicit_tls(smtp_server, certificate, recorder, make_notifier):
    server_context, client_context = certificate
    inbox, port = smtp_server(ssl_context=server_context)
    make_notifier([EmailChannel(smtp_url(port, scheme="smtps"), ssl_context=client_context)]).submit(notification())
    wait_for(lambda: recorder.ok("evt-1", "email"), "the email")
    assert len(inbox.messages) == 1


# --- Secrets ------------------------------------------------------------------------------


def assert_no_secret(texts, *secrets):
    for text in texts:
        for secret in secrets:
            assert secret not in text, f"a secret leaked into: {text}"


@AUTH_WITHOUT_TLS
def test_a_wrong_smtp_password_is_a_permanent_failure_that_names_no_secret(smtp_server, recorder, make_notifier,
                                                                          caplog):
    caplog.set_level(logging.DEBUG)
    inbox, port = smtp_server(authenticator=lambda *args: AuthResult(success=False, handled=False), auth_required=True,
                              auth_require_tls=False)
    channel = EmailChannel(smtp_url(port, credentials=True))
    make_notifier([channel]).submit(notification())
    [failed] = wait_for(lambda: recorder.of("evt-1"), "the failed attempt")
    assert failed.permanent and "535" in failed.error and inbox.messages == []
    assert_no_secret([failed.error, caplog.text, repr(channel), repr(failed)], PASSWORD, quote(PASSWORD, safe=""))


def test_an_unreachable_mail_server_names_no_secret(recorder, make_notifier, caplog):
    caplog.set_level(logging.DEBUG)
    make_notifier([EmailChannel(smtp_url(free_port(), credentials=True))]).submit(notification())
    failed = wait_for(lambda: recorder.of("evt-1")[1:], "two failed attempts")
    assert_no_secret([d.error for d in failed] + [caplog.text], PASSWORD, quote(PASSWORD, safe=""), "s3cr3t")


def test_an_unreachable_webhook_names_no_secret(recorder, make_notifier, caplog):
    caplog.set_level(logging.DEBUG)
    token = "T0001/B0002/verysecrettoken"
    url = f"http://hookuser:{quote(PASSWORD, safe='')}@127.0.0.1:{free_port()}/services/{token}?sig=abc123def"
    channel = WebhookChannel(url, style="slack")
    make_notifier([channel]).submit(notification())
    failed = wait_for(lambda: recorder.of("evt-1")[1:], "two failed attempts")
    assert "connection refused" in failed[0].error
    assert_no_secret([d.error for d in failed] + [caplog.text, repr(channel)],
                     PASSWORD, quote(PASSWORD, safe=""), "verysecrettoken", "abc123def", "hookuser")


def test_a_receiver_echoing_the_token_does_not_leak_it(receiver, recorder, make_notifier, caplog):
    caplog.set_level(logging.DEBUG)
    receiver.fail_next(500)
    channel = WebhookChannel(receiver.url + "/verysecrettoken", style="slack")
    real_post = channel._session.post

    def post(url, **kwargs):  # a receiver whose error page quotes the URL it was called at
        response = real_post(url, **kwargs)
        if response.status_code == 500:
            response._content = f"no such hook {url}".encode()
        return response

    channel._session.post = post
    make_notifier([channel]).submit(notification())
    wait_for(lambda: recorder.ok("evt-1", "slack"), "the delivery after a 500")
    assert "no such hook" in recorder.of("evt-1")[0].error
    assert_no_secret([recorder.of("evt-1")[0].error, caplog.text], "verysecrettoken")


def test_delivery_failed_carries_its_verdict():
    failure = DeliveryFailed("x", permanent=True)
    assert failure.permanent and failure.retry_after is None
