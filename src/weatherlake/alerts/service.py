"""``weatherlake alerts``: the rules evaluated live, alerts kept as a log of events.

One process reads the observation topic and the alert topic with one consumer
(partitions assigned, no group):

* each observation goes to the :class:`~weatherlake.alerts.evaluate.Evaluator` as it
  arrives, so a weather rule trips within a poll of the observation that trips it;
* every ``ALERT_TICK_SECONDS`` the pipeline's health is gathered (:meth:`AlertService.facts`:
  Kafka end offsets, the sink's positions and the speed snapshot in the lake, the
  batch views' pointers) and the silence, anomaly and health rules are evaluated;
* what the evaluator decides becomes an event on the alert topic, applied to the
  :class:`~weatherlake.alerts.book.AlertBook` once Kafka has it; events from elsewhere
  (the API's acknowledge and resolve) arrive on the same topic and are applied in order;
* each lifecycle event is handed to the notifier, which delivers it in its own threads
  and records every attempt as a ``notified`` event;
* the book is written to the lake as ``alerts/current.json`` (what the API serves, and
  the state a restart starts from, with the topic offset it covers), and the events
  applied since the last write are appended to ``alerts/events/date=YYYY-MM-DD/``.

After a restart the book comes from ``alerts/current.json`` plus the alert topic after
the offset it names (the whole topic when the topic is new, as the embedded broker's is
after its own restart); the evaluator is told which alerts are open and re-reads the
observations of the last :func:`lookback` so that durations in progress are known again.
Alert ids are made from rule, subject and the start of the episode, so deciding an
episode again opens nothing twice; notifications not yet delivered are sent again.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from datetime import UTC, datetime, timedelta

import orjson

from weatherlake import records
from weatherlake.alerts import EVENTS_DIR, STATE_PATH
from weatherlake.alerts import book as events
from weatherlake.alerts.book import AlertBook
from weatherlake.alerts.evaluate import Evaluator, PipelineFacts
from weatherlake.alerts.notify import Notification, Notifier
from weatherlake.alerts.rules import Rule
from weatherlake.batch.scheduler import STATUS_PATH as SCHEDULER_STATUS
from weatherlake.config import Settings
from weatherlake.errors import BrokerError, InvalidRecord, LakeError
from weatherlake.ingest import kafka
from weatherlake.lake import Lake, join, layout
from weatherlake.speed.published import VIEWS, read_pointer, read_snapshot
from weatherlake.timefmt import parse_utc, seconds_text, utc_now_seconds

log = logging.getLogger(__name__)

FORMAT = 1
#: Resolved alerts stay in alerts/current.json (and the API) this long; the archive keeps all.
KEEP_RESOLVED = timedelta(days=7)
#: How often the Kafka- and lake-derived facts are refreshed (each costs a few requests).
FACTS_EVERY_SECONDS = 5.0
#: Between two writes of alerts/current.json outside the tick (a burst of events is one write).
WRITE_AT_MOST_EVERY_SECONDS = 0.2
#: The window of the dead-letter rate.
DEAD_LETTER_WINDOW_SECONDS = 300.0
#: Lifecycle events whose notifications are sent again after a restart, if undelivered.
RESEND_WITHIN = timedelta(days=1)


def lookback(rules: list[Rule]) -> timedelta:
    """How far back the observations are re-read at start: the longest duration a rule
    waits for, plus its resolution delay, with an hour's margin, at most two days."""
    longest = max((r.for_seconds + r.resolve_after_seconds for r in rules), default=0.0)
    silent = max((r.after_seconds or 0.0 for r in rules if r.kind == "silent"), default=0.0)
    return min(timedelta(seconds=max(longest, silent) + 3600), timedelta(days=2))


class AlertService:
    """See the module docstring. ``run`` blocks until ``stop`` is set."""

    def __init__(self, settings: Settings, lake: Lake, rules: list[Rule], notifier: Notifier | None = None) -> None:
        self.settings = settings
        self.lake = lake
        self.rules = rules
        self.book = AlertBook()
        self.evaluator = Evaluator(rules, settings.cities)
        self.notifier = notifier
        self.offset = 0  # next offset of the alert topic to apply
        self.sequence = 0
        self.counters = {"observations": 0, "invalid": 0, "events": 0, "opened": 0, "resolved": 0}
        self._pending: list[dict] = []  # applied, not yet archived
        self._deliveries: queue.SimpleQueue[dict] = queue.SimpleQueue()  # from the notifier's threads
        self._dirty = True
        self._written_at = 0.0
        self._producer = None
        self._facts: dict = {}
        self._facts_at = 0.0
        self._dead_letters: deque[tuple[float, int]] = deque()
        self._last_source: str | None = None
        self._alerts_tp = kafka.TopicPartition(settings.alert_topic, 0)
        self.topic_id: str | None = None

    # --- the loop ------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        settings = self.settings
        kafka.ensure_topics(settings)
        self._producer = kafka.producer(settings)
        consumer = kafka.consumer(settings, None, enable_auto_commit=False)
        try:
            self._restore(consumer)
            observations = self._observation_partitions(consumer)
            consumer.assign([*observations, self._alerts_tp])
            consumer.seek(self._alerts_tp, self.offset)
            self._seek_observations(consumer, observations)
            self._resend_undelivered()
            log.info("alerts: %d rules, %d open alerts; evaluating %s", len(self.rules),
                     len(self.book.open_alerts()), settings.kafka_topic)
            next_tick = time.monotonic()
            outage = kafka.OutageGuard("alerts")
            while not stop.is_set():
                polled = outage.poll(consumer, stop, timeout_ms=250, max_records=5_000)
                for tp, messages in polled.items():
                    if tp.topic == settings.alert_topic:
                        for message in messages:
                            self._apply(orjson.loads(message.value), message.offset)
                    else:
                        for message in messages:
                            self._observe(message.value)
                self._apply_deliveries()
                if time.monotonic() >= next_tick:
                    self.tick(consumer)
                    next_tick = time.monotonic() + settings.alert_tick_seconds
                elif self._dirty and time.monotonic() - self._written_at >= WRITE_AT_MOST_EVERY_SECONDS:
                    self._write_state()  # a change shows in the lake (and the API) without waiting for the tick
            self._close_notifier()
            self._write_state()
        finally:
            self._close_notifier()
            consumer.close()
            self._producer.close()

    def _close_notifier(self) -> None:
        """Stop delivering; what was delivered is recorded, the rest is sent at the next start."""
        if self.notifier is None:
            return
        left = self.notifier.close()
        self.notifier = None
        self._apply_deliveries()
        if left:
            log.warning("%d notifications not delivered yet; they are sent again at the next start", len(left))

    def _apply_deliveries(self) -> None:
        """The notifier's records, applied at once: the topic has them too, but a stop
        before they came back must not forget a delivery (and send it again)."""
        while True:
            try:
                event = self._deliveries.get_nowait()
            except queue.Empty:
                return
            self._apply(event)

    def tick(self, consumer) -> None:
        """Evaluate the time-driven rules, then write what changed to the lake."""
        facts = self.facts(consumer)
        self._act(self.evaluator.tick(facts))
        self._write_state()

    # --- restoring -------------------------------------------------------------------

    def _restore(self, consumer) -> None:
        """The book from alerts/current.json, then the alert topic after the offset it covers."""
        saved = self.lake.read_atomic(STATE_PATH)
        self.topic_id = kafka.topic_id(self.settings, self.settings.alert_topic)
        offset, saved_id = 0, None
        if saved:
            state = orjson.loads(saved)
            self.book = AlertBook.load(state.get("alerts", []), state.get("deliveries", {}))
            self.sequence = int(state.get("sequence", 0))
            if state.get("topic") == self.settings.alert_topic:
                offset, saved_id = int(state.get("offset", 0)), state.get("topic_id")
        consumer.assign([self._alerts_tp])
        end = consumer.end_offsets([self._alerts_tp])[self._alerts_tp]
        begin = consumer.beginning_offsets([self._alerts_tp])[self._alerts_tp]
        # The topic's id tells a new topic (the embedded broker's, after its restart) from
        # this one; the end offset alone cannot: the embedded broker's can read low.
        same_topic = saved_id == self.topic_id if saved_id and self.topic_id else offset <= end
        if not same_topic or offset < begin:
            log.warning("the alert topic %s is not the one alerts/current.json names (offset %d; it holds %d-%d): "
                        "reading all of it", self.settings.alert_topic, offset, begin, end)
            offset = begin
        consumer.seek(self._alerts_tp, offset)
        self.offset = offset
        quiet_since = time.monotonic()
        while self.offset < end and time.monotonic() - quiet_since < 30:  # 30 s without a message: what is there is read
            for messages in consumer.poll(timeout_ms=1000).values():
                quiet_since = time.monotonic()
                for message in messages:
                    self._apply(orjson.loads(message.value), message.offset, replaying=True)
        self._restore_evaluator()
        log.info("alerts: %d known, %d open, from %s and offsets %d-%d of %s", len(self.book.alerts),
                 len(self.book.open_alerts()), STATE_PATH if saved else "nothing", offset, end,
                 self.settings.alert_topic)

    def _restore_evaluator(self) -> None:
        """Tell the evaluator which alerts are open; resolve those whose rule is gone
        (renamed, removed, or no longer watching that city): nothing would ever clear them."""
        for alert in self.book.open_alerts():
            try:
                self.evaluator.restore_open(alert["rule"], alert["subject"], parse_utc(alert["opened_at"]))
            except (KeyError, ValueError):
                self._emit({"event_id": f"{alert['id']}:resolved", "type": "resolved", "alert_id": alert["id"],
                            "at": utc_now_seconds(), "by": events.SYSTEM,
                            "comment": f"rule {alert['rule']!r} no longer watches {alert['subject']}", "value": None})

    def _observation_partitions(self, consumer) -> list:
        topic = self.settings.kafka_topic
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise BrokerError(f"topic {topic} does not exist on {self.settings.bootstrap_servers}")
        return [kafka.TopicPartition(topic, p) for p in sorted(partitions)]

    def _seek_observations(self, consumer, partitions: list) -> None:
        since = datetime.now(UTC) - lookback(self.rules)
        found = consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in partitions})
        for tp in partitions:
            hit = found.get(tp)
            if hit is None or hit.timestamp < 0:
                consumer.seek_to_end(tp)
            else:
                consumer.seek(tp, hit.offset)
        log.info("alerts: re-reading observations produced since %s", seconds_text(since.timestamp()))

    def _resend_undelivered(self) -> None:
        if self.notifier is None:
            return
        since = seconds_text((datetime.now(UTC) - RESEND_WITHIN).timestamp())
        channels = list(self.notifier.channels)
        for event, channel in self.book.undelivered(channels, since):
            alert = self.book.alerts[event_alert_id(event)]
            self.notifier.submit(_notification(event, alert), [channel])

    # --- events ----------------------------------------------------------------------

    def _observe(self, value: bytes) -> None:
        self.counters["observations"] += 1
        try:
            record = records.parse(value)
        except InvalidRecord:
            self.counters["invalid"] += 1  # the sink dead-letters it; nothing to judge here
            return
        self._last_source = record.get("source")
        self._act(self.evaluator.observe(record))

    def _act(self, transitions) -> None:
        for transition in transitions:
            if transition.kind == "open":
                event = events.opened(transition)
                # Not when the rule has an alert open for the subject, nor when this episode
                # had its alert already (decided again from observations read again).
                if (self.book.open_for(transition.rule.name, transition.subject) is None
                        and event["alert_id"] not in self.book.alerts):
                    self._emit(event)
            else:
                alert = self.book.open_for(transition.rule.name, transition.subject)
                if alert is not None:
                    self._emit(events.resolved_by_rule(alert, transition))

    def _emit(self, event: dict) -> None:
        """Send an event to the alert topic; apply it once Kafka has it. While Kafka does not
        take it, evaluation waits (retrying, saying so) rather than decide what no log keeps;
        after KAFKA_CONNECT_TIMEOUT_SECONDS the service stops with a BrokerError. A retry
        that lands twice is one event: the book ignores an event id seen before."""
        def send():
            future = self._producer.send(self.settings.alert_topic, key=event["alert_id"].encode(),
                                         value=orjson.dumps(event))
            return future.get(timeout=30)

        metadata = kafka.with_retries(f"sending alert event {event['event_id']}", send,
                                      give_up_after=self.settings.kafka_connect_timeout_seconds)
        self._apply(event, metadata.offset)

    def _apply(self, event: dict, offset: int | None = None, replaying: bool = False) -> None:
        if offset is not None:
            self.offset = max(self.offset, offset + 1)
        alert = self.book.apply(event)
        if alert is None:
            return
        self.counters["events"] += 1
        self._pending.append(event)
        self._dirty = True
        kind = event["type"]
        if kind == "notified":
            return
        if kind in ("opened", "resolved"):
            self.counters[kind] += 1
            log.info("alert %s %s: %s", alert["id"], kind, event.get("message") or event.get("comment") or "")
        if not replaying and self.notifier is not None:
            self.notifier.submit(_notification(event, alert))

    def record_delivery(self, delivery) -> None:
        """The notifier's callback (its threads): the attempt goes to the alert topic."""
        event = events.notified(delivery)
        self._deliveries.put(event)
        try:
            self._producer.send(self.settings.alert_topic, key=event["alert_id"].encode(), value=orjson.dumps(event))
        except kafka.KafkaError as error:
            log.warning("cannot record a delivery of %s on the topic (%s)", delivery.event_id, error)

    # --- facts ------------------------------------------------------------------------

    def facts(self, consumer) -> PipelineFacts:
        """What the health rules judge; the Kafka and lake parts refreshed every few seconds."""
        now = time.time()
        if now - self._facts_at >= FACTS_EVERY_SECONDS:
            self._facts_at = now
            self._facts = {**self._kafka_facts(consumer, now), **self._lake_facts(now)}
        return PipelineFacts(
            now=datetime.fromtimestamp(now, UTC),
            fallback_engaged=self.settings.weather_source == "auto" and self._last_source == "synthetic",
            **self._facts,
        )

    def _kafka_facts(self, consumer, now: float) -> dict:
        settings = self.settings
        try:
            partitions = self._observation_partitions(consumer)
            ends = consumer.end_offsets(partitions)
            dlq = [kafka.TopicPartition(settings.kafka_dlq_topic, p)
                   for p in sorted(consumer.partitions_for_topic(settings.kafka_dlq_topic) or ())]
            dead = sum(consumer.end_offsets(dlq).values()) if dlq else 0
        except (kafka.KafkaError, BrokerError) as error:
            log.warning("alerts: cannot read end offsets (%s)", error)
            return {}
        samples = self._dead_letters
        samples.append((now, dead))
        while len(samples) > 1 and samples[0][0] < now - DEAD_LETTER_WINDOW_SECONDS:
            samples.popleft()
        first_at, first = samples[0]
        rate = (dead - first) / ((now - first_at) / 60) if now - first_at >= 60 else None
        try:
            committed = layout.sink_positions(self.lake, settings.kafka_topic)
        except (LakeError, OSError) as error:
            log.warning("alerts: cannot read the sink's positions (%s)", error)
            committed = None
        lag = None
        if committed is not None:
            lag = sum(max(end - committed.get(tp.partition, 0), 0) for tp, end in ends.items())
        return {"dead_letters_per_minute": rate, "sink_lag_records": lag}

    def _lake_facts(self, now: float) -> dict:
        try:
            snapshot = read_snapshot(self.lake)
            pointers = [read_pointer(self.lake, view) for view in VIEWS]
            scheduler = self.lake.read_atomic(SCHEDULER_STATUS)
        except (LakeError, OSError) as error:
            log.warning("alerts: cannot read the lake (%s)", error)
            return {"live_anomalies": None}  # unknown: anomaly alerts stay as they are
        published = [p["published_at"] for p in pointers if p and p.get("published_at")]
        speed_age = None
        anomalies: tuple = ()
        if snapshot and snapshot.get("generated_at"):
            speed_age = max(now - parse_utc(snapshot["generated_at"]).timestamp(), 0.0)
            anomalies = tuple(a for city in snapshot.get("cities", {}).values() for a in city.get("anomalies", []))
        return {
            "speed_lag_seconds": speed_age,
            "last_batch_success": parse_utc(max(published)) if published else None,
            "last_batch_failed": bool(scheduler) and not orjson.loads(scheduler).get("ok", True),
            "live_anomalies": anomalies,
        }

    # --- the lake -------------------------------------------------------------------------

    def _write_state(self) -> None:
        """Append the events applied since the last write to the archive, then replace
        alerts/current.json (the archive file first: a crash between the two writes the
        same file again, with what came after it, at the next start)."""
        if not self._dirty:
            return
        self.book.prune(seconds_text((datetime.now(UTC) - KEEP_RESOLVED).timestamp()))
        sequence = self.sequence + 1
        try:
            if self._pending:
                day = self._pending[0]["at"][:10]
                lines = b"".join(orjson.dumps(event) + b"\n" for event in self._pending)
                self.lake.write(join(EVENTS_DIR, f"date={day}", f"events-{sequence:012d}.jsonl"), lines)
            self.lake.write_atomic(STATE_PATH, orjson.dumps(self.state()))
        except (LakeError, OSError) as error:
            log.warning("cannot write %s (%s); trying again at the next tick", STATE_PATH, error)
            return
        self.sequence = sequence
        self._pending = []
        self._dirty = False
        self._written_at = time.monotonic()

    def state(self) -> dict:
        """The document in alerts/current.json (and what /api/alerts serves)."""
        return {
            "format": FORMAT,
            "sequence": self.sequence + 1,
            "generated_at": utc_now_seconds(),
            "topic": self.settings.alert_topic,
            "topic_id": self.topic_id,
            "offset": self.offset,
            "rules": [rule.name for rule in self.rules],
            "counts": self.book.counts(),
            "alerts": events.newest_first(list(self.book.alerts.values())),
            "deliveries": self.book.deliveries,
        }


def event_alert_id(event: dict) -> str:
    return event.get("alert_id") or event["event_id"].split(":", 1)[0]


def _notification(event: dict, alert: dict) -> Notification:
    summary = {k: v for k, v in alert.items() if k != "history"}
    return Notification(event_id=event["event_id"], event=event["type"], alert=summary, at=event["at"])
