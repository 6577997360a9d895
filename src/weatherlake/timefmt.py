"""UTC times as the pipeline's own texts: whole seconds or whole hours, ``Z``-suffixed.

``2026-11-23T10:00:05Z`` (a moment: ``generated_at``, ``checked_at``, a cutoff) and
``2026-11-23T10:00:00Z`` (an hour: the key of hourly rows). These texts sort as the
moments do, so hour keys are compared as strings. Observation timestamps, which may
carry microseconds, are :mod:`weatherlake.records`'s.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

SECONDS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
HOUR_FORMAT = "%Y-%m-%dT%H:00:00Z"


def utc_now_seconds() -> str:
    """Now, to the whole second (``YYYY-MM-DDTHH:MM:SSZ``)."""
    return time.strftime(SECONDS_FORMAT, time.gmtime())


def seconds_text(moment: datetime | float) -> str:
    """``moment`` to the whole second, truncated: a datetime (a naive one is taken to be
    UTC) or seconds since the epoch."""
    if isinstance(moment, datetime):
        return _as_utc(moment).strftime(SECONDS_FORMAT)
    return time.strftime(SECONDS_FORMAT, time.gmtime(moment))


def hour_text(moment: datetime) -> str:
    """The hour ``moment`` falls in (``YYYY-MM-DDTHH:00:00Z``); a naive one is taken to be UTC."""
    return _as_utc(moment).strftime(HOUR_FORMAT)


def parse_utc(text: str) -> datetime:
    """An ISO-8601 time (``...Z``, any fraction) as an aware datetime; one without an
    offset is taken to be UTC.

    Compare times through this, not as texts: ``...:00.5Z`` sorts before ``...:00Z``.
    """
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
