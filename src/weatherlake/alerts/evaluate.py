"""The alert engine: rules in, observations and pipeline facts in, open/clear transitions out.

Pure: no I/O and no clock. Time comes in with the inputs, so a replay of the same inputs
gives the same transitions, and tests can walk through a day in microseconds:

* :meth:`Evaluator.observe` takes one observation record and judges the ``threshold``
  rules in *event time*, the record's ``timestamp``.
* :meth:`Evaluator.tick` takes :class:`PipelineFacts` and judges every other rule
  (``silent``, ``anomaly`` and the pipeline rules) at ``facts.now``.

Every (rule, subject) pair moves through the same small machine, so that an operator can
trust it: at most one open alert per pair; an alert opens only once its condition has
held for the rule's ``for``, and then reports when the episode *started*; an open alert
resolves only after its condition has stayed cleared for ``resolve_after``, and tripping
again before that keeps it open with no new transition. For threshold rules "cleared"
means past the ``clear`` level (hysteresis), so a value hovering around the threshold
opens one alert, not fifty.

An *unknown* reading (a record without the metric, a None fact) starts nothing and
cancels nothing: it neither trips nor clears. It does let time pass, though, so a
resolution already under way (cleared, waiting out ``resolve_after``) completes on time.
That matters for ``heat_index`` and ``wind_chill``, which are null exactly when mild
weather makes them meaningless: a heat alert that cleared at dusk resolves that evening.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum

from weatherlake import cities as catalogue
from weatherlake.alerts.rules import ANOMALY_SEVERITIES, PIPELINE, Rule, format_duration
from weatherlake.timefmt import parse_utc, seconds_text

log = logging.getLogger(__name__)

OPEN = "open"
CLEAR = "clear"
#: How recent an anomaly row must be (to ``facts.now``) to hold an ``anomaly`` rule's condition.
ANOMALY_WINDOW = timedelta(hours=1)

#: Metric names and units as messages show them.
_LABELS = {
    "temperature": ("temperature", "°C"),
    "feels_like": ("feels-like temperature", "°C"),
    "heat_index": ("heat index", "°C"),
    "wind_chill": ("wind chill", "°C"),
    "dew_point": ("dew point", "°C"),
    "humidity": ("humidity", "%"),
    "pressure": ("pressure", "hPa"),
    "wind_speed": ("wind speed", "m/s"),
    "rainfall": ("rainfall", "mm"),
    "cloudiness": ("cloudiness", "%"),
}
_RANK = {severity: rank for rank, severity in enumerate(ANOMALY_SEVERITIES)}


@dataclass(frozen=True)
class Transition:
    """An alert opening or resolving, with a sentence for people."""

    kind: str  # OPEN or CLEAR
    rule: Rule
    subject: str  # a city id, or "pipeline" for pipeline-health rules
    at: datetime  # open: when the episode started (not when `for` elapsed); clear: when judged resolved
    value: float | None  # open: the value that tripped it; clear: the last value known
    message: str
    city: str | None = None  # the city's display name, when the subject is a city


@dataclass(frozen=True)
class PipelineFacts:
    """What the service knows about the pipeline at ``now``; None means unknown."""

    now: datetime
    dead_letters_per_minute: float | None = None
    sink_lag_records: int | None = None
    speed_lag_seconds: float | None = None
    last_batch_success: datetime | None = None  # None: unknown or never
    last_batch_failed: bool = False
    fallback_engaged: bool = False
    # Anomaly rows (view fields): city_id, city, timestamp, metric, severity, score, value.
    # None: unknown (the snapshot could not be read), which keeps anomaly alerts as they are.
    live_anomalies: tuple[dict, ...] | None = ()


class _Level(Enum):
    """A reading of a rule's condition for one subject at one moment."""

    TRIPPED = "tripped"  # past the threshold
    BETWEEN = "between"  # threshold rules only: back inside the threshold, not yet past `clear`
    CLEARED = "cleared"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class _Reading:
    level: _Level
    value: float | None = None
    started: datetime | None = None  # when a tripped condition began, if earlier than now
    detail: str = ""  # what the open message says after the subject's name


_UNKNOWN = _Reading(_Level.UNKNOWN)


@dataclass
class _Alert:
    """The state of one (rule, subject) pair: pending (not yet open) or open."""

    pending_since: datetime | None = None
    open: bool = False
    since: datetime | None = None  # restored open: readings before the episode's start are not judged
    cleared_since: datetime | None = None
    value: float | None = None


class Evaluator:
    """Judges ``rules`` against observations and pipeline facts; see the module docstring.

    ``cities`` are the configured city ids, watched by ``silent`` rules without their own
    ``cities``. A city never observed counts as silent from the first :meth:`tick`, not
    from some earlier moment, so a fresh start does not page for every city at once. A
    silent alert counts as cleared from the first tick after a fresh observation, and
    resolves ``resolve_after`` later; an ``anomaly`` alert holds while a matching row in
    ``facts.live_anomalies`` is at most :data:`ANOMALY_WINDOW` old.
    """

    def __init__(self, rules: list[Rule], cities: Iterable[str] = ()) -> None:
        self._rules: dict[str, Rule] = {}
        for rule in rules:
            if rule.name in self._rules:
                raise ValueError(f"two rules named {rule.name!r}")
            self._rules[rule.name] = rule
        self._cities = tuple(dict.fromkeys(cities))
        self._alerts: dict[str, dict[str, _Alert]] = {name: {} for name in self._rules}
        self._last_seen: dict[str, datetime] = {}
        self._names: dict[str, str] = {}
        self._first_tick: datetime | None = None

    def observe(self, record: dict) -> list[Transition]:
        """Judge the threshold rules on one observation record, in its event time.

        Also remembers when the city was last observed (for ``silent``). A record older
        than the newest seen for its city is ignored by threshold rules. A record
        without a usable ``city_id`` or ``timestamp`` is ignored (logged).
        """
        city_id, stamp = record.get("city_id"), record.get("timestamp")
        try:
            moment = _utc(parse_utc(stamp)) if isinstance(stamp, str) and isinstance(city_id, str) else None
        except ValueError:
            moment = None
        if moment is None:
            log.warning("alerts: ignoring a record without a usable city_id and timestamp: %r", record)
            return []
        if isinstance(record.get("city"), str):
            self._names[city_id] = record["city"]
        newest = self._last_seen.get(city_id)
        if newest is not None and moment < newest:
            return []
        self._last_seen[city_id] = moment
        transitions = []
        for rule in self._rules.values():
            if rule.kind == "threshold" and rule.applies_to(city_id):
                reading = _threshold_reading(rule, record.get(rule.metric))
                transitions += self._advance(rule, city_id, reading, moment)
        return transitions

    def tick(self, facts: PipelineFacts) -> list[Transition]:
        """Judge every rule but the threshold ones at ``facts.now`` (wall-clock time)."""
        now = _utc(facts.now)
        if self._first_tick is None:
            self._first_tick = now
        transitions = []
        for rule in self._rules.values():
            if rule.kind == "threshold":
                continue
            for subject, reading in self._readings(rule, facts, now):
                transitions += self._advance(rule, subject, reading, now)
        return transitions

    def is_open(self, rule_name: str, subject: str) -> bool:
        """Whether an alert of that rule is open for ``subject`` (a city id or ``"pipeline"``)."""
        alert = self._alerts.get(rule_name, {}).get(subject)
        return alert is not None and alert.open

    def restore_open(self, rule_name: str, subject: str, since: datetime | None = None) -> None:
        """Take an alert rebuilt from the event log as open: it will clear, not open again.

        ``since`` is when its episode started: readings from before it (observations
        read again after a restart) are not judged, so the ordinary hours before a heat
        wave cannot resolve the heat wave's alert.

        Raise KeyError for a rule not loaded, ValueError for a subject the rule does not
        watch (an alert that could never clear): the caller decides what to do with it.
        """
        rule = self._rules.get(rule_name)
        if rule is None:
            raise KeyError(f"no alert rule named {rule_name!r}")
        if not self._watches(rule, subject):
            raise ValueError(f"alert rule {rule_name!r} does not watch {subject!r}")
        alert = self._alerts[rule_name].setdefault(subject, _Alert())
        alert.open, alert.pending_since, alert.cleared_since = True, None, None
        alert.since = None if since is None else _utc(since)

    # --- the machine --------------------------------------------------------------------

    def _advance(self, rule: Rule, subject: str, reading: _Reading, now: datetime) -> list[Transition]:
        """Move (rule, subject) on by one reading taken at ``now``; the transition it makes, if any."""
        alerts = self._alerts[rule.name]
        alert = alerts.get(subject)
        if alert is None:
            if reading.level is not _Level.TRIPPED:
                return []
            alert = alerts[subject] = _Alert()
        elif alert.since is not None and now < alert.since:
            return []
        if reading.level is not _Level.UNKNOWN:
            alert.value = reading.value
        if not alert.open:
            if reading.level is _Level.UNKNOWN:
                return []
            if reading.level is not _Level.TRIPPED:
                del alerts[subject]  # the pending episode did not last
                return []
            if alert.pending_since is None:
                alert.pending_since = min(reading.started or now, now)
            if now - alert.pending_since < rule.for_:
                return []
            alert.open = True
            # A condition with a start of its own (silence, an overdue batch) says how long already.
            held = _for_text(rule.for_) if reading.started is None else ""
            return [self._transition(OPEN, rule, subject, alert.pending_since, reading.value, reading.detail + held)]
        if reading.level is _Level.TRIPPED:
            alert.cleared_since = None
            return []
        if reading.level is _Level.CLEARED and alert.cleared_since is None:
            alert.cleared_since = now
        if alert.cleared_since is None or now - alert.cleared_since < rule.resolve_after:
            return []
        del alerts[subject]
        return [self._transition(CLEAR, rule, subject, now, alert.value, _clear_detail(rule, alert.value))]

    def _transition(self, kind: str, rule: Rule, subject: str, at: datetime, value: float | None,
                    detail: str) -> Transition:
        if rule.subject_kind == PIPELINE:
            return Transition(kind, rule, subject, at, value, f"Pipeline: {detail}")
        name = self._city_name(subject)
        return Transition(kind, rule, subject, at, value, f"{name or subject}: {detail}", name)

    def _city_name(self, city_id: str) -> str | None:
        """The name the city's records give, else the bundled catalogue's (static package data)."""
        if city_id in self._names:
            return self._names[city_id]
        city = catalogue.catalogue().get(city_id)
        return city.name if city is not None else None

    def _watches(self, rule: Rule, subject: str) -> bool:
        if rule.subject_kind == PIPELINE:
            return subject == PIPELINE
        if rule.kind == "silent":
            return subject in self._silent_cities(rule)
        return subject != PIPELINE and rule.applies_to(subject)

    def _silent_cities(self, rule: Rule) -> tuple[str, ...]:
        return rule.cities if rule.cities is not None else self._cities

    # --- readings at a tick ---------------------------------------------------------------

    def _readings(self, rule: Rule, facts: PipelineFacts, now: datetime) -> list[tuple[str, _Reading]]:
        """(subject, reading) for every subject of a non-threshold rule at ``now``."""
        if rule.kind == "silent":
            return [(city_id, self._silence(rule, city_id, now)) for city_id in self._silent_cities(rule)]
        if rule.kind == "anomaly":
            return self._anomaly_readings(rule, facts, now)
        return [(PIPELINE, _PIPELINE_READERS[rule.kind](rule, facts, now))]

    def _silence(self, rule: Rule, city_id: str, now: datetime) -> _Reading:
        seen = self._last_seen.get(city_id)
        if seen is None:
            if self.is_open(rule.name, city_id):
                return _Reading(_Level.TRIPPED, detail="still no observation")  # restored, still silent
            since = self._first_tick or now
            if now - since <= rule.after:
                return _Reading(_Level.CLEARED)
            return _Reading(_Level.TRIPPED, (now - since).total_seconds(), since + rule.after,
                            detail=f"no observation in the {format_duration(now - since)} since alerting started")
        if now - seen <= rule.after:
            # Cleared from this tick on, not from the observation's own time: a late record
            # (a producer's backlog) must not resolve an alert the city is about to reopen.
            return _Reading(_Level.CLEARED, (now - seen).total_seconds())
        return _Reading(_Level.TRIPPED, (now - seen).total_seconds(), seen + rule.after,
                        detail=f"no observation for {format_duration(now - seen)} (last at {seconds_text(seen)})")

    def _anomaly_readings(self, rule: Rule, facts: PipelineFacts, now: datetime) -> list[tuple[str, _Reading]]:
        """Tripped for each city with a matching recent anomaly row, cleared for the others with an alert."""
        if facts.live_anomalies is None:
            return [(city_id, _UNKNOWN) for city_id in self._alerts[rule.name]]
        matching: dict[str, list[tuple[datetime, dict]]] = {}
        for row in facts.live_anomalies:
            moment = _anomaly_moment(row)
            if (moment is not None and now - moment <= ANOMALY_WINDOW and rule.applies_to(row["city_id"])
                    and _rank(row) >= _RANK[rule.min_severity]
                    and (rule.metrics is None or row.get("metric") in rule.metrics)):
                matching.setdefault(row["city_id"], []).append((moment, row))
                if isinstance(row.get("city"), str):
                    self._names.setdefault(row["city_id"], row["city"])
        readings = []
        for city_id, rows in matching.items():
            strongest = max(rows, key=lambda pair: (_rank(pair[1]), abs(_number(pair[1].get("score")) or 0)))[1]
            readings.append((city_id, _Reading(_Level.TRIPPED, _number(strongest.get("score")),
                                               min(moment for moment, _ in rows), detail=_anomaly_text(strongest))))
        readings += [(city_id, _Reading(_Level.CLEARED)) for city_id in self._alerts[rule.name] if city_id not in matching]
        return readings


# --- readings, one function per kind --------------------------------------------------------


def _threshold_reading(rule: Rule, raw: object) -> _Reading:
    value = _number(raw)
    if value is None:
        return _UNKNOWN
    name, unit = _LABELS[rule.metric]
    if rule.above is not None:
        if value > rule.above:
            return _Reading(_Level.TRIPPED, value, detail=f"{name} {_num(value)} {unit} above {_num(rule.above)} {unit}")
        return _Reading(_Level.CLEARED if value <= rule.clear else _Level.BETWEEN, value)
    if value < rule.below:
        return _Reading(_Level.TRIPPED, value, detail=f"{name} {_num(value)} {unit} below {_num(rule.below)} {unit}")
    return _Reading(_Level.CLEARED if value >= rule.clear else _Level.BETWEEN, value)


def _compare(value: float | None, limit: float, detail: str) -> _Reading:
    """Tripped when a known ``value`` is above ``limit``; unknown when it is None."""
    if value is None:
        return _UNKNOWN
    return _Reading(_Level.TRIPPED if value > limit else _Level.CLEARED, float(value), detail=detail)


def _dead_letters_reading(rule: Rule, facts: PipelineFacts, now: datetime) -> _Reading:
    rate = facts.dead_letters_per_minute
    return _compare(rate, rule.per_minute,
                    f"{_num(rate or 0)} dead letters a minute, above {_num(rule.per_minute)} a minute")


def _lag_reading(rule: Rule, facts: PipelineFacts, now: datetime) -> _Reading:
    if rule.layer == "sink":
        lag = facts.sink_lag_records
        return _compare(lag, rule.records, f"the lake sink is {lag or 0:,} records behind, more than {rule.records:,}")
    age = facts.speed_lag_seconds
    return _compare(age, rule.seconds,
                    f"the speed layer's snapshot is {_num(age or 0)} s old, older than {_num(rule.seconds)} s")


def _batch_reading(rule: Rule, facts: PipelineFacts, now: datetime) -> _Reading:
    """Tripped when overdue or (with ``on_failure``) failed; unknown when neither is known to hold
    and the last success is unknown."""
    problems, started, unknown = [], None, False
    if rule.on_failure and facts.last_batch_failed:
        problems.append("the last scheduled batch run failed")
    value = None
    if rule.overdue is not None:
        if facts.last_batch_success is None:
            unknown = True
        else:
            success = _utc(facts.last_batch_success)
            value = (now - success).total_seconds()
            if now - success > rule.overdue:
                started = success + rule.overdue
                problems.append(f"no successful batch run for {format_duration(now - success)} "
                                f"(last at {seconds_text(success)}, due every {format_duration(rule.overdue)})")
    if problems:
        return _Reading(_Level.TRIPPED, value, started, detail="; ".join(problems))
    return _UNKNOWN if unknown else _Reading(_Level.CLEARED, value)


def _source_reading(rule: Rule, facts: PipelineFacts, now: datetime) -> _Reading:
    if facts.fallback_engaged:
        return _Reading(_Level.TRIPPED, detail="the weather provider is down and the producer is serving synthetic data")
    return _Reading(_Level.CLEARED)


_PIPELINE_READERS = {
    "dead_letters": _dead_letters_reading,
    "lag": _lag_reading,
    "batch": _batch_reading,
    "source": _source_reading,
}


def _clear_detail(rule: Rule, value: float | None) -> str:
    """What a clear message says after the subject's name."""
    kept = _for_text(rule.resolve_after)
    if rule.kind == "threshold":
        name, unit = _LABELS[rule.metric]
        side = "at or below" if rule.above is not None else "at or above"
        last = f" (last {_num(value)} {unit})" if value is not None else ""
        return f"{name} back {side} {_num(rule.clear)} {unit}{kept}{last}"
    if rule.kind == "dead_letters":
        return f"dead letters back at or below {_num(rule.per_minute)} a minute{kept}"
    if rule.kind == "lag" and rule.layer == "sink":
        return f"the lake sink back within {rule.records:,} records{kept}"
    if rule.kind == "lag":
        return f"the speed layer's snapshot back within {_num(rule.seconds)} s{kept}"
    return {
        "silent": "observations again",
        "anomaly": f"no {rule.min_severity} or stronger anomaly in the last hour",
        "batch": "batch runs healthy again",
        "source": "the real weather provider is back",
    }[rule.kind] + kept


def _anomaly_text(row: dict) -> str:
    metric = row.get("metric")
    name, unit = _LABELS.get(metric, (str(metric), ""))
    value, score = _number(row.get("value")), _number(row.get("score"))
    shown = f", {_num(value)} {unit}".rstrip() if value is not None else ""
    scored = f" (score {_num(score)})" if score is not None else ""
    return f"{row['severity']} {name} anomaly{shown}{scored}"


# --- small helpers --------------------------------------------------------------------------


def _anomaly_moment(row: object) -> datetime | None:
    """The row's timestamp, or None (logged) when the row is not usable."""
    if not isinstance(row, dict) or not isinstance(row.get("city_id"), str):
        log.debug("alerts: ignoring an anomaly row without a city_id: %r", row)  # every tick: not a warning
        return None
    stamp = row.get("timestamp")
    if isinstance(stamp, datetime):
        return _utc(stamp)
    try:
        return _utc(parse_utc(stamp))
    except (TypeError, ValueError):
        log.debug("alerts: ignoring an anomaly row with a bad timestamp: %r", row)
        return None


def _rank(row: dict) -> int:
    """The rank of the row's severity in :data:`ANOMALY_SEVERITIES`; -1 when it is none of them."""
    severity = row.get("severity")
    return _RANK[severity] if isinstance(severity, str) and severity in _RANK else -1


def _number(raw: object) -> float | None:
    """A finite int or float (not a bool) as a float; None for anything else."""
    if type(raw) in (int, float) and math.isfinite(raw):
        return float(raw)
    return None


def _num(value: float) -> str:
    return f"{round(value, 1):g}"


def _for_text(span: timedelta) -> str:
    return f" for {format_duration(span)}" if span else ""


def _utc(moment: datetime) -> datetime:
    """An aware datetime; a naive one is taken to be UTC (as :mod:`weatherlake.timefmt` does)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
