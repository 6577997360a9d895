"""Timestamps as the schema writes them: ISO-8601 UTC with ``Z``."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def format_timestamp(moment: datetime) -> str:
    """ISO-8601 UTC with ``Z``; a naive datetime is taken to be UTC already.

    Memoised: a producer formats the same observation hour for every city.
    """
    text = _TIMESTAMP_TEXT.get(moment)
    if text is None:
        text = _format_timestamp(moment)
        if len(_TIMESTAMP_TEXT) >= 4096:
            _TIMESTAMP_TEXT.clear()
        _TIMESTAMP_TEXT[moment] = text
    return text


_TIMESTAMP_TEXT: dict[datetime, str] = {}


def _format_timestamp(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    text = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    return f"{text}.{moment.microsecond:06d}Z" if moment.microsecond else text + "Z"


_now_second = -1
_now_prefix = ""


def utc_now_text() -> str:
    """The current time as a schema timestamp with microseconds (cheap: cached per second)."""
    global _now_second, _now_prefix
    now = time.time()
    second = int(now)
    if second != _now_second:
        _now_prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _now_second = second
    return f"{_now_prefix}.{int((now - second) * 1e6):06d}Z"
