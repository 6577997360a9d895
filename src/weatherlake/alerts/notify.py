"""Alert notifications: webhooks (generic JSON or Slack-compatible) and email, delivered in the background.

Why it is built this way:

* Rules are evaluated in the caller's thread, and a slow or dead receiver must never hold
  that up: :meth:`Notifier.submit` only queues. One daemon worker thread per channel
  delivers, so a mail server that hangs does not delay the webhook.
* A notification that cannot be delivered is kept and retried with backoff (the last
  delay repeats) until it is delivered, refused for good, or the notifier is closed;
  :meth:`Notifier.close` hands back what is undelivered so that the caller can persist it
  and resubmit it after a restart (:meth:`Notification.to_dict` / ``from_dict``).
* Each channel delivers in submission order: a receiver sees "opened" before "resolved",
  and a receiver that is down gets one probe per delay, not one per queued notification.
  The price: a notification that a receiver fails with 5xx forever holds that channel's
  queue; a receiver refuses one for good with a 4xx.
* A refusal that retrying cannot fix (HTTP 4xx other than 408/429, a redirect, an SMTP 5xx
  reply) is permanent: recorded and dropped, so a misconfigured receiver cannot loop.
* Every attempt is reported to the ``record`` callback as a :class:`Delivery`.
* ``event_id`` is the idempotency key: in the JSON payload, in the ``Idempotency-Key``
  header and in the email's Message-ID. An attempt whose answer was lost (a timeout) is
  retried and may arrive twice; receivers deduplicate on the key.
* Secrets (the SMTP password; a webhook URL's credentials, path and query, which for Slack
  are the token) never reach logs, errors or :attr:`Delivery.error`: messages name the
  channel and its host only.
"""

from __future__ import annotations

import collections
import json
import logging
import re
import smtplib
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import parse_qs, quote, unquote, urlsplit

import requests

import weatherlake
from weatherlake.errors import ConfigError, WeatherlakeError
from weatherlake.sources.http import redact
from weatherlake.timefmt import utc_now_seconds

log = logging.getLogger(__name__)

EVENTS = ("opened", "acknowledged", "resolved")
WEBHOOK_FORMATS = ("json", "slack")
DEFAULT_DELAYS = (1.0, 5.0, 30.0, 120.0, 600.0)
#: The longest pause a receiver's ``Retry-After`` can impose.
RETRY_AFTER_CAP = 600.0
_LOOPBACK = ("localhost", "127.0.0.1", "::1")
_ADDRESS = re.compile(r"[^@\s,<>\"]+@[^@\s,<>\"]+")


@dataclass(frozen=True)
class Notification:
    """One alert event to announce. ``alert`` is copied: the caller may go on changing its dict."""

    event_id: str  # unique per alert event; the idempotency key
    event: str  # "opened" | "acknowledged" | "resolved"
    alert: Mapping[str, Any]  # id, rule, city_id, city, severity, state, message, value, ...
    at: str  # ISO-8601 UTC of the event

    def __post_init__(self) -> None:
        if not isinstance(self.event_id, str) or not self.event_id.strip():
            raise ValueError("a notification needs a non-empty event_id")
        if self.event not in EVENTS:
            raise ValueError(f"event must be one of {', '.join(EVENTS)}, got {self.event!r}")
        object.__setattr__(self, "alert", dict(self.alert))

    def to_dict(self) -> dict[str, Any]:
        """The generic webhook payload, also the form to persist an undelivered notification in."""
        return {"event": self.event, "event_id": self.event_id, "at": self.at, "alert": dict(self.alert)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Notification:
        return cls(event_id=data["event_id"], event=data["event"], alert=data["alert"], at=data["at"])


@dataclass(frozen=True)
class Delivery:
    """One delivery attempt, for the caller to record."""

    event_id: str
    channel: str
    attempt: int  # 1 for the first attempt of this notification on this channel
    ok: bool
    error: str | None  # why it failed; never holds a secret
    at: str  # ISO-8601 UTC, whole seconds
    permanent: bool = False  # refused for good: dropped, not retried
    retry_in: float | None = None  # seconds until the next attempt, when one is scheduled


class DeliveryFailed(WeatherlakeError):
    """A channel could not deliver. The message is safe to log; ``retry_after`` is the
    receiver's requested pause in seconds, if it asked for one."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class Channel(Protocol):
    """Somewhere notifications go. ``send`` raises on failure (:class:`DeliveryFailed` to
    say whether retrying can help; any other exception is retried)."""

    name: str  # stable ("webhook", "slack", "email"): deliveries are recorded under it

    def send(self, notification: Notification) -> None: ...


# --- What is said -------------------------------------------------------------------------


def headline(notification: Notification) -> str:
    """One readable line, e.g. ``[CRITICAL] firing: London: heat index 41.2 °C above 39.4 °C
    for 1h (rule heat-index-danger)``: the Slack text and the email subject."""
    alert = notification.alert
    severity = str(alert.get("severity") or "info").upper()
    doing = {"opened": "firing", "acknowledged": "acknowledged", "resolved": "resolved"}[notification.event]
    if notification.event == "acknowledged" and alert.get("acknowledged_by"):
        doing += f" by {alert['acknowledged_by']}"
    where = alert.get("city") or alert.get("city_id")
    text = f"[{severity}] {doing}: " + (f"{where}: " if where else "")
    if alert.get("message"):
        text += str(alert["message"]) + (f" (rule {alert['rule']})" if alert.get("rule") else "")
    else:
        text += f"rule {alert.get('rule') or alert.get('id') or '?'}"
    return " ".join(text.split())  # one line, whatever the alert's texts hold


_FIRST_FIELDS = ("id", "rule", "city", "city_id", "severity", "state", "message", "value", "opened_at",
                 "acknowledged_at", "acknowledged_by", "resolved_at")


def email_body(notification: Notification) -> str:
    """The headline, then every field of the event and the alert, one per line."""
    alert = notification.alert
    rows = [("event", notification.event), ("event_id", notification.event_id), ("at", notification.at)]
    rows += [(key, alert[key]) for key in _FIRST_FIELDS if key in alert]
    rows += [(key, alert[key]) for key in sorted(alert, key=str) if key not in _FIRST_FIELDS]
    width = max(len(str(key)) for key, _ in rows)
    lines = [f"{str(key).ljust(width)}  {_field_text(value)}" for key, value in rows]
    return f"{headline(notification)}\n\n" + "\n".join(lines) + "\n\n-- \nweatherlake alerts\n"


def _field_text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str, ensure_ascii=False)
    return " ".join(str(value).split())


def slack_payload(notification: Notification) -> dict[str, Any]:
    """``{"text": headline}``, escaped as Slack's mrkdwn requires."""
    text = headline(notification).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return {"text": text}


def retry_after_seconds(value: str | None) -> float | None:
    """An HTTP ``Retry-After`` (seconds or a date) as seconds from now; None when absent or unreadable."""
    if not value or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _reason(exc: BaseException, secrets: Iterable[str], timeout: float) -> str:
    """A short, secret-free reason for a failure to talk to a receiver at all."""
    text = str(exc)
    if isinstance(exc, (requests.Timeout, TimeoutError)) or "timed out" in text.lower():
        return f"timed out after {timeout:g}s"
    for needle, reason in (("Connection refused", "connection refused"),
                           ("Name or service not known", "name lookup failed"),
                           ("NameResolutionError", "name lookup failed"),
                           ("Temporary failure in name resolution", "name lookup failed"),
                           ("Connection reset", "connection reset"),
                           ("RemoteDisconnected", "connection closed without a response")):
        if needle in text:
            return reason
    return _redacted(f"{type(exc).__name__}: {text}", secrets)[:300]


def _redacted(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret masked, the longest first: one may contain another."""
    return redact(text, sorted((s for s in secrets if s), key=len, reverse=True))


class _HideInLogs(logging.Filter):
    """Masks webhook URL secrets in the records of urllib3, which logs each request's path
    at DEBUG. A filter acts only on its own logger's records, so it joins each module logger."""

    LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry", "requests")

    def __init__(self) -> None:
        super().__init__()
        self.secrets: frozenset[str] = frozenset()  # replaced whole, never changed: workers read it

    def add(self, secrets: Iterable[str]) -> None:
        self.secrets = self.secrets | {s for s in secrets if s}
        for name in self.LOGGERS:
            if self not in logging.getLogger(name).filters:
                logging.getLogger(name).addFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the logging module's business
            return True
        cleaned = _redacted(message, self.secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_HIDE_IN_LOGS = _HideInLogs()


def _reveal(value: Any) -> str | None:
    """A setting's text, from a plain string or a :class:`weatherlake.config.Secret`; None when unset."""
    text = value.reveal() if hasattr(value, "reveal") else value
    return text.strip() if text and text.strip() else None


# --- Webhooks -----------------------------------------------------------------------------


class WebhookChannel:
    """POST each notification as JSON: the generic payload (``style="json"``) or Slack's
    ``{"text": ...}`` (``style="slack"``). 2xx is success; 408, 429, 5xx and no answer are
    retried; any other status is a permanent refusal."""

    def __init__(self, url: str, style: str = "json", timeout: float = 10.0, session: requests.Session | None = None,
                 *, name: str | None = None) -> None:
        if style not in WEBHOOK_FORMATS:
            raise ConfigError(f"ALERT_WEBHOOK_FORMAT must be json or slack, got {style!r}")
        url = _reveal(url) or ""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise ConfigError("ALERT_WEBHOOK_URL is not a valid URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("ALERT_WEBHOOK_URL must be an http:// or https:// URL with a host")
        self.name = name or ("slack" if style == "slack" else "webhook")
        self.style = style
        self.timeout = timeout
        self.host = f"{parts.scheme}://{parts.hostname}" + (f":{port}" if port else "")
        self._url = url
        userinfo = parts.netloc.rpartition("@")[0]
        # The path and query of a Slack URL are its token; the user info holds credentials.
        hidden = [parts.path if len(parts.path) > 1 else "", parts.query]
        self._secrets = (url, userinfo, unquote(userinfo), parts.password or "", unquote(parts.password or ""),
                         *hidden, *(unquote(part) for part in hidden))
        _HIDE_IN_LOGS.add([*hidden, *(unquote(part) for part in hidden)])
        self._session = session or requests.Session()

    def __repr__(self) -> str:
        return f"WebhookChannel({self.name!r}, {self.host!r}, style={self.style!r})"

    def payload(self, notification: Notification) -> dict[str, Any]:
        return slack_payload(notification) if self.style == "slack" else notification.to_dict()

    def send(self, notification: Notification) -> None:
        body = json.dumps(self.payload(notification), default=str, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": notification.event_id,
                   "User-Agent": f"weatherlake/{weatherlake.__version__}"}
        try:
            response = self._session.post(self._url, data=body, headers=headers, timeout=self.timeout,
                                          allow_redirects=False)
        except requests.RequestException as exc:
            raise DeliveryFailed(f"{self.host}: {_reason(exc, self._secrets, self.timeout)}") from None
        with response:
            status = response.status_code
            if 200 <= status < 300:
                return
            detail = " ".join(response.text[:200].split())
        message = _redacted(f"{self.host} answered HTTP {status}" + (f": {detail}" if detail else ""), self._secrets)
        if status in (408, 429) or status >= 500:
            raise DeliveryFailed(message, retry_after=retry_after_seconds(response.headers.get("Retry-After")))
        raise DeliveryFailed(message, permanent=True)

    def close(self) -> None:
        self._session.close()


# --- Email --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpTarget:
    """``SMTP_URL`` taken apart. ``tls`` is "none", "starttls" or "implicit"."""

    host: str
    port: int
    tls: str
    sender: str
    recipients: tuple[str, ...]
    user: str | None = None
    password: str | None = field(default=None, repr=False)


def parse_smtp_url(url: str) -> SmtpTarget:
    """``smtp[s]://[user:password@]host[:port]?from=a@x&to=b@y,c@z[&starttls=true]``.

    Errors are one line naming ``SMTP_URL`` and never quote the URL: it holds the password.
    """
    hint = " (percent-encode special characters in the user and password)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ConfigError("SMTP_URL is not a valid URL" + hint) from None
    if parts.scheme not in ("smtp", "smtps"):
        raise ConfigError("SMTP_URL must start with smtp:// or smtps://")
    if not parts.hostname:
        raise ConfigError("SMTP_URL needs a host" + hint)
    if parts.path not in ("", "/") or parts.fragment:
        raise ConfigError("SMTP_URL takes no path or fragment, only ?from=...&to=..." + hint)
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"from", "to", "starttls"})
    if unknown:
        raise ConfigError(f"SMTP_URL has unknown parameters {', '.join(unknown)}; it takes from, to and starttls")
    senders = query.get("from", [])
    recipients = tuple(address.strip() for value in query.get("to", []) for address in value.split(",")
                       if address.strip())
    if len(senders) != 1 or not _ADDRESS.fullmatch(senders[0].strip()):
        raise ConfigError("SMTP_URL needs one sender address: ?from=alerts@example.org")
    if not recipients or not all(_ADDRESS.fullmatch(address) for address in recipients):
        raise ConfigError("SMTP_URL needs recipient addresses: &to=ops@example.org,oncall@example.org")
    starttls = (query.get("starttls") or ["false"])[-1].strip().lower()
    if starttls not in ("true", "false", "1", "0", "yes", "no"):
        raise ConfigError(f"SMTP_URL's starttls must be true or false, got {starttls!r}")
    starttls_on = starttls in ("true", "1", "yes")
    if parts.scheme == "smtps" and starttls_on:
        raise ConfigError("SMTP_URL: smtps:// is TLS already; use smtp://...?starttls=true for STARTTLS")
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if (user is None) != (password is None):
        raise ConfigError("SMTP_URL needs both a user and a password, or neither" + hint)
    tls = "implicit" if parts.scheme == "smtps" else "starttls" if starttls_on else "none"
    default_port = {"implicit": 465, "starttls": 587, "none": 25}[tls]
    return SmtpTarget(parts.hostname, port or default_port, tls, senders[0].strip(), recipients, user, password)


def email_message(notification: Notification, sender: str, recipients: Iterable[str]) -> EmailMessage:
    """The plain-text email. Its Message-ID derives from ``event_id``, and ``References``
    from the alert's id, so mail clients thread an alert's events together."""
    message = EmailMessage()
    subject = f"[weatherlake] {headline(notification)}"
    message["Subject"] = subject if len(subject) <= 200 else subject[:199] + "…"
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = f"<{_id_part(notification.event_id)}@weatherlake>"
    if notification.alert.get("id") is not None:
        message["References"] = f"<alert-{_id_part(str(notification.alert['id']))}@weatherlake>"
    message["X-Weatherlake-Event-Id"] = " ".join(notification.event_id.split())
    message.set_content(email_body(notification), cte="quoted-printable")
    # Headers are folded when the message is written. Python's folding next to an encoded
    # word (the "°" of "°C") doubles a space, so lines may be as long as SMTP allows (998);
    # the body is encoded already, in lines of 76.
    message.policy = message.policy.clone(max_line_length=998)
    return message


def _id_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


class EmailChannel:
    """Mail each notification through SMTP (``smtplib``), a connection per message: alerts
    are few, and a fresh connection needs no keep-alive logic. SMTP 5xx replies are
    permanent refusals; 4xx replies and no answer are retried."""

    def __init__(self, smtp_url: str, timeout: float = 10.0, *, name: str = "email",
                 ssl_context: ssl.SSLContext | None = None) -> None:
        url = _reveal(smtp_url) or ""
        self.target = parse_smtp_url(url)
        self.name = name
        self.timeout = timeout
        self.host = f"{self.target.host}:{self.target.port}"
        self._ssl_context = ssl_context  # None: the system's trusted CAs
        password = self.target.password or ""
        self._secrets = (url, password, quote(password, safe=""), url.partition("://")[2].rpartition("@")[0])
        if password and self.target.tls == "none" and self.target.host not in _LOOPBACK:
            log.warning("SMTP_URL sends the password to %s without TLS; use smtps:// or ?starttls=true", self.host)

    def __repr__(self) -> str:
        return f"EmailChannel({self.name!r}, {self.host!r}, tls={self.target.tls!r})"

    def send(self, notification: Notification) -> None:
        message = email_message(notification, self.target.sender, self.target.recipients)
        self.send_message(message, f"alert event {notification.event_id}")

    def send_message(self, message: EmailMessage, what: str) -> None:
        """Deliver ``message`` (``what`` it is, for the log) to the URL's recipients;
        DeliveryFailed, permanent or not, when it cannot."""
        try:
            refused = self._deliver(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            raise DeliveryFailed(f"{self.host} refused every recipient ({', '.join(map(str, codes))})",
                                 permanent=all(code >= 500 for code in codes)) from None
        except smtplib.SMTPResponseException as exc:
            reply = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
            text = _redacted(f"{self.host} answered {exc.smtp_code} {' '.join(reply.split())}"[:300], self._secrets)
            raise DeliveryFailed(text, permanent=exc.smtp_code >= 500) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryFailed(_redacted(f"{self.host}: {exc}", self._secrets), permanent=True) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryFailed(f"{self.host}: {_reason(exc, self._secrets, self.timeout)}") from None
        if refused:
            log.warning("%s refused some recipients of %s: %s", self.host, what, ", ".join(sorted(refused)))

    def _deliver(self, message: EmailMessage) -> dict:
        target = self.target
        context = self._ssl_context or ssl.create_default_context()
        if target.tls == "implicit":
            smtp = smtplib.SMTP_SSL(target.host, target.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(target.host, target.port, timeout=self.timeout)
        try:
            if target.tls == "starttls":
                smtp.starttls(context=context)
            if target.user is not None:
                smtp.login(target.user, target.password or "")
            return smtp.send_message(message, from_addr=target.sender, to_addrs=list(target.recipients))
        finally:
            try:  # the message is sent by now or never will be; a failed goodbye changes nothing
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()


def channels_from_settings(webhook_url: str | None, webhook_format: str = "json", smtp_url: str | None = None,
                           *, timeout: float = 10.0) -> list[Channel]:
    """The channels the settings configure, each optional: ``ALERT_WEBHOOK_URL`` with
    ``ALERT_WEBHOOK_FORMAT`` (json or slack), and ``SMTP_URL``. Empty values mean unset;
    a :class:`weatherlake.config.Secret` is accepted for either URL."""
    style = (webhook_format or "json").strip().lower()
    if style not in WEBHOOK_FORMATS:
        raise ConfigError(f"ALERT_WEBHOOK_FORMAT must be json or slack, got {webhook_format!r}")
    channels: list[Channel] = []
    if _reveal(webhook_url):
        channels.append(WebhookChannel(_reveal(webhook_url), style, timeout))
    if _reveal(smtp_url):
        channels.append(EmailChannel(_reveal(smtp_url), timeout))
    return channels


# --- Delivery in the background -----------------------------------------------------------


@dataclass
class _Job:
    notification: Notification
    seq: int  # submission order, to hand back what is pending in that order
    attempts: int = 0


class _Lane:
    """One channel's queue and worker. Only the worker removes from the queue, only from its head."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.queue: collections.deque[_Job] = collections.deque()
        self.next_try = 0.0  # time.monotonic() before which the head is not tried again
        self.thread: threading.Thread | None = None


class Notifier:
    """Delivers notifications to channels from background threads, one per channel.

    ``record`` is called from those threads with every :class:`Delivery`: it must be
    thread-safe and quick. ``delays`` are the pauses between attempts of one notification
    on one channel; the last repeats forever. A receiver's ``Retry-After`` lengthens the
    pause, up to ``retry_after_cap`` seconds.
    """

    def __init__(self, channels: Iterable[Channel], record: Callable[[Delivery], None], *,
                 delays: Iterable[float] = DEFAULT_DELAYS, retry_after_cap: float = RETRY_AFTER_CAP) -> None:
        self._delays = tuple(float(delay) for delay in delays)
        if not self._delays or min(self._delays) < 0:
            raise ValueError("delays must be one or more non-negative numbers of seconds")
        self._record = record
        self._retry_after_cap = retry_after_cap
        self._cond = threading.Condition()
        self._lanes: dict[str, _Lane] = {}
        for channel in channels:
            if channel.name in self._lanes:
                raise ValueError(f"two channels are named {channel.name!r}")
            self._lanes[channel.name] = _Lane(channel)
        self._seq = 0
        self._closing = False  # no new submissions; workers deliver what is due, then stop
        self._stopped = False  # workers stop after their current attempt
        for lane in self._lanes.values():
            lane.thread = threading.Thread(target=self._work, args=(lane,), name=f"notify-{lane.channel.name}",
                                           daemon=True)
            lane.thread.start()

    @property
    def channels(self) -> tuple[str, ...]:
        """The names of the configured channels."""
        return tuple(self._lanes)

    def submit(self, notification: Notification, channels: Iterable[str] | None = None) -> None:
        """Queue ``notification`` for ``channels`` (None: all) and return at once.

        A channel that is not configured is skipped with a warning (a routing rule, or a
        notification persisted under an older configuration, may name one). A notification
        already queued for a channel (same ``event_id``) is not queued twice.
        """
        names = list(self._lanes) if channels is None else [channels] if isinstance(channels, str) else channels
        with self._cond:
            if self._closing:
                raise RuntimeError("the notifier is closed")
            for name in dict.fromkeys(names):
                lane = self._lanes.get(name)
                if lane is None:
                    log.warning("alert event %s: no channel %r is configured; skipped", notification.event_id, name)
                elif all(job.notification.event_id != notification.event_id for job in lane.queue):
                    self._seq += 1
                    lane.queue.append(_Job(notification, self._seq))
            self._cond.notify_all()

    def pending(self) -> list[tuple[Notification, str]]:
        """``(notification, channel)`` not yet delivered (nor refused for good), in submission order."""
        with self._cond:
            return self._pending()

    def close(self, timeout: float = 5.0) -> list[tuple[Notification, str]]:
        """Stop accepting notifications, deliver for up to ``timeout`` seconds what is due
        now (not what waits out a backoff), stop the workers and return what is undelivered.

        An attempt still running when ``timeout`` ends is counted undelivered, though it may
        yet succeed: resubmitted, it may arrive twice (receivers deduplicate on ``event_id``).
        """
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for lane in self._lanes.values():
            if lane.thread is not None:
                lane.thread.join(max(0.0, deadline - time.monotonic()))
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
            left = self._pending()
        for lane in self._lanes.values():  # a channel still in an attempt keeps its connections
            if not (lane.thread and lane.thread.is_alive()) and callable(getattr(lane.channel, "close", None)):
                lane.channel.close()
        if left:
            log.warning("notifier closed with %d deliveries undelivered", len(left))
        return left

    def _pending(self) -> list[tuple[Notification, str]]:
        jobs = [(job.seq, job.notification, name) for name, lane in self._lanes.items() for job in lane.queue]
        return [(notification, name) for _, notification, name in sorted(jobs, key=lambda item: item[0])]

    def _work(self, lane: _Lane) -> None:
        while True:
            with self._cond:
                job = self._next_job(lane)
                if job is None:
                    return
            delivery = self._attempt(lane.channel, job)
            with self._cond:
                if delivery.ok or delivery.permanent:
                    lane.queue.popleft()
                else:
                    lane.next_try = time.monotonic() + (delivery.retry_in or 0.0)
            try:
                self._record(delivery)
            except Exception:
                log.exception("recording a delivery of alert event %s failed", delivery.event_id)

    def _next_job(self, lane: _Lane) -> _Job | None:
        """The head of the lane once it is due (called holding the lock); None when the worker should stop."""
        while not self._stopped:
            now = time.monotonic()
            if lane.queue and lane.next_try <= now:
                return lane.queue[0]
            if self._closing:
                return None
            self._cond.wait(lane.next_try - now if lane.queue else None)
        return None

    def _attempt(self, channel: Channel, job: _Job) -> Delivery:
        job.attempts += 1
        event_id = job.notification.event_id
        try:
            channel.send(job.notification)
        except DeliveryFailed as exc:
            error, permanent, retry_after = str(exc), exc.permanent, exc.retry_after
        except Exception as exc:  # an unforeseen failure is retried like an outage
            error, permanent, retry_after = f"{type(exc).__name__}: {exc}", False, None
        else:
            if job.attempts > 1:
                log.info("alert event %s delivered via %s at attempt %d", event_id, channel.name, job.attempts)
            return Delivery(event_id, channel.name, job.attempts, True, None, utc_now_seconds())
        error = error[:500]
        if permanent:
            log.error("alert event %s refused for good via %s: %s", event_id, channel.name, error)
            return Delivery(event_id, channel.name, job.attempts, False, error, utc_now_seconds(), permanent=True)
        retry_in = self._delay(job.attempts, retry_after)
        log.warning("alert event %s via %s failed (attempt %d): %s; retrying in %gs", event_id, channel.name,
                    job.attempts, error, retry_in)
        return Delivery(event_id, channel.name, job.attempts, False, error, utc_now_seconds(), retry_in=retry_in)

    def _delay(self, attempts: int, retry_after: float | None) -> float:
        """The pause after the ``attempts``-th failure; a receiver's Retry-After, capped, can only lengthen it."""
        scheduled = self._delays[min(attempts, len(self._delays)) - 1]
        return scheduled if retry_after is None else max(scheduled, min(retry_after, self._retry_after_cap))
