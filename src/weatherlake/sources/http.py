"""HTTP plumbing for the real providers: retries, timeouts, rate limits, secret hygiene.

* One ``requests.Session`` per source with a urllib3 ``Retry``: connection errors and
  timeouts, and HTTP 429/500/502/503/504 are retried with exponential backoff; a
  ``Retry-After`` header (429, 503) is honoured, capped at a minute.
* Failures become the project's exceptions: nothing reachable -> ``SourceUnreachable``;
  anything else -> ``SourceError``. Messages name the provider and host, never the URL
  (OpenWeatherMap's key travels in the query string).
* Secrets are redacted from urllib3's and requests' log records (urllib3 logs retried
  URLs at WARNING and every request line at DEBUG) by a filter on their loggers.
"""

from __future__ import annotations

import collections
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import urlsplit

import orjson
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

import weatherlake
from weatherlake.errors import SourceError, SourceUnreachable

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset((429, 500, 502, 503, 504))
# Query parameters that carry credentials in the providers we know.
_SECRET_PARAMS = re.compile(r"(?i)\b(appid|apikey|api_key|key|token)=[^&\s'\"]+")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every known secret and every credential-looking query value masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return _SECRET_PARAMS.sub(r"\1=***", text)


class _RedactingFilter(logging.Filter):
    """Rewrites log records of third-party HTTP loggers so no secret reaches a handler."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the logging module's business, not ours
            return True
        cleaned = redact(message, self.secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = _RedactingFilter()
_FILTERED_LOGGERS = (
    "urllib3",
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
    "requests",
)


def protect_secret(secret: str) -> None:
    """Redact ``secret`` from every log record urllib3 and requests emit from now on.

    A logging filter acts only on records created by the logger it is attached to, not on
    records propagating from children, so it is attached to each module logger.
    """
    if secret:
        _FILTER.secrets.add(secret)
    for name in _FILTERED_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


class RateLimiter:
    """At most ``calls`` acquisitions in any sliding window of ``period`` seconds."""

    def __init__(
        self,
        calls: int,
        period: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.calls = calls
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._recent: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait until a call is allowed; return how long it waited (seconds)."""
        waited = 0.0
        with self._lock:
            while True:
                now = self._clock()
                while self._recent and self._recent[0] <= now - self.period:
                    self._recent.popleft()
                if len(self._recent) < self.calls:
                    self._recent.append(now)
                    return waited
                pause = self._recent[0] + self.period - now
                if waited == 0.0:
                    log.info("rate limit of %d calls per %gs reached; waiting %.1fs", self.calls, self.period, pause)
                self._sleep(pause)
                waited += pause


class JsonClient:
    """GET JSON from one provider, with retries; translate failures to source errors."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        secrets: Iterable[str] = (),
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        self.host = f"{parts.scheme}://{parts.netloc}"
        self.timeout = timeout
        self.retries = retries
        self._secrets = tuple(secret for secret in secrets if secret)
        for secret in self._secrets:
            protect_secret(secret)
        protect_secret("")  # attach the filter even without a secret: it masks key-like params
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            other=0,
            redirect=3,
            allowed_methods=frozenset({"GET"}),
            status_forcelist=RETRY_STATUSES,
            backoff_factor=backoff,
            backoff_max=30.0,
            respect_retry_after_header=True,
            retry_after_max=60,
            raise_on_status=False,  # hand back the last response so its body explains
        )
        self._session = requests.Session()
        self._session.headers["User-Agent"] = f"weatherlake/{weatherlake.__version__}"
        self._session.headers["Accept"] = "application/json"
        adapter = HTTPAdapter(max_retries=retry)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def __repr__(self) -> str:
        return f"JsonClient({self.provider!r}, {self.host!r})"

    def get(self, path: str, params: Mapping[str, object]) -> tuple[int, object]:
        """``(status, decoded JSON body)`` of ``GET base_url + path``; the body is None
        when it is not JSON. Raise :class:`SourceUnreachable` when no answer came at all."""
        try:
            response = self._session.get(self.base_url + path, params=params, timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise SourceUnreachable(
                f"{self.provider} unreachable at {self.host} after {self.retries} retries: {self._why(exc)}"
            ) from None
        except requests.RequestException as exc:
            raise SourceError(f"{self.provider} request failed: {self._why(exc)}") from None
        try:
            body = orjson.loads(response.content) if response.content else None
        except orjson.JSONDecodeError:
            body = None
        return response.status_code, body

    def _why(self, exc: BaseException) -> str:
        """A short, secret-free reason: the innermost cause's type and redacted text."""
        if isinstance(exc, requests.Timeout) or "timed out" in str(exc).lower():
            return f"timed out after {self.timeout:g}s"
        text = str(exc)
        for needle, reason in (
            ("Connection refused", "connection refused"),
            ("NameResolutionError", "name lookup failed"),
            ("Name or service not known", "name lookup failed"),
            ("Temporary failure in name resolution", "name lookup failed"),
            ("Connection reset", "connection reset"),
            ("RemoteDisconnected", "connection closed without a response"),
        ):
            if needle in text:
                return reason
        return redact(f"{type(exc).__name__}: {text}", self._secrets)[:300]

    def close(self) -> None:
        self._session.close()


def status_error(provider: str, status: int, body: object, retries: int) -> SourceError:
    """A :class:`SourceError` for an HTTP failure that no retry fixed."""
    detail = ""
    if isinstance(body, dict):
        detail = str(body.get("message") or body.get("reason") or "")
    detail = f": {redact(detail)[:200]}" if detail else ""
    if status == 429:
        return SourceError(f"{provider} rate limit exceeded (HTTP 429) after {retries} retries{detail}")
    if status in RETRY_STATUSES:
        return SourceError(f"{provider} failed with HTTP {status} after {retries} retries{detail}")
    return SourceError(f"{provider} answered HTTP {status}{detail}")


def payload_error(provider: str, what: str) -> SourceError:
    return SourceError(f"{provider} answered something unexpected: {what}")
