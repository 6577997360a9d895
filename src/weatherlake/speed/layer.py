"""The speed layer's Kafka loop: from the batch cutoff to now, snapshot every few seconds.

How it covers exactly the span after the cutoff:

* The cutoff is the newest observation the latest ``hourly_trends`` run included (its
  ``_LATEST`` pointer). Kafka orders by arrival, not by observation time, so the layer
  seeks each partition with ``offsets_for_times`` to the first message *produced* at or
  after ``cutoff - SPEED_SEEK_MARGIN_SECONDS`` (a record is produced after it is
  observed; the margin absorbs clock skew) and then keeps only observations strictly
  after the cutoff. Seeking is what makes the replay short; the event-time filter is
  what makes the view exact.
* Without any batch run it covers the last ``SPEED_MAX_HOURS`` hours.
* When a new batch run publishes a new cutoff, the state is rebuilt: a fresh state, a
  new seek, and no snapshot until the replay has caught up with where the old state was,
  so readers never see the view shrink.

The partitions are assigned, not subscribed: one speed layer writes one snapshot. It
commits its positions to the consumer group ``weatherlake-speed`` after each snapshot, so
Kafka's own tools show its lag, but it resumes from the offsets *in the snapshot*,
which match the state written beside them: a restart loads the snapshot (when its
cutoff is still the current one) and continues from there, counting nothing twice.

Every valid station reading also registers its station in the stations' catalogue
(:mod:`weatherlake.stations.catalogue`), written beside the snapshot when it changed.
Each snapshot also carries the most the sink and this layer lagged behind Kafka in each
recent hour (:mod:`weatherlake.speed.lag`), for the daily report.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from kafka.structs import OffsetAndMetadata

from weatherlake import records
from weatherlake.config import Settings
from weatherlake.errors import BrokerError, InvalidRecord, LakeError
from weatherlake.ingest import kafka
from weatherlake.lake import Lake, layout
from weatherlake.speed import check_settings, lag
from weatherlake.speed.baseline import build_baselines
from weatherlake.speed.published import SNAPSHOT_PATH, encode_snapshot, read_pointer, read_rows, read_snapshot
from weatherlake.speed.state import MAX_CITIES, SpeedState
from weatherlake.stations.catalogue import StationCatalogue
from weatherlake.timefmt import hour_text, parse_utc, seconds_text, utc_now_seconds

log = logging.getLogger(__name__)

GROUP_ID = "weatherlake-speed"
#: 2: JSON Lines, a header line and a line per city (published.encode_snapshot).
SNAPSHOT_FORMAT = 2
#: The view whose cutoff the speed layer takes over from (the one merged hour by hour).
CUTOFF_VIEW = "hourly_trends"
BASELINE_VIEW = "diurnal_profile"


class SpeedLayer:
    """Consumes the observation topic into a :class:`SpeedState` and snapshots it to the lake."""

    def __init__(self, settings: Settings, lake: Lake, *, group_id: str = GROUP_ID, **consumer_overrides) -> None:
        check_settings(settings)
        self.settings = settings
        self.lake = lake
        self.group_id = group_id
        self.consumer_overrides = consumer_overrides
        self.topic = settings.kafka_topic
        self.state = SpeedState(None, max_hours=settings.speed_max_hours)
        self.batch: dict | None = None  # the CUTOFF_VIEW pointer the state is built on
        self.baseline_run: str | None = None
        self.sequence = 0
        self.snapshots_written = 0
        self.counters = {"consumed": 0, "invalid": 0}
        self.catalogue = StationCatalogue()  # read from the lake at the start (_start)
        self.kafka_figures: dict = {}
        self.lag_by_hour: dict[str, dict] = {}  # weatherlake.speed.lag, kept across restarts
        self._lag_sampled_at = -lag.SAMPLE_SECONDS
        self.started_at = utc_now_seconds()
        self.resumed_from_snapshot = False
        self._partitions: list = []
        self._catch_up: dict | None = None

    # --- the loop ------------------------------------------------------------------

    def run(self, stop: threading.Event, connect_timeout: float = 300.0) -> None:
        """Consume until ``stop`` is set; write a last snapshot before returning."""
        consumer = kafka.consumer(
            self.settings, self.group_id, give_up_after=connect_timeout, **self.consumer_overrides
        )
        try:
            if not self._assign(consumer, stop, connect_timeout):
                return
            self._start(consumer)
            interval = self.settings.speed_snapshot_seconds
            next_tick = time.monotonic() + interval
            outage = kafka.OutageGuard("speed layer")
            while not stop.is_set():
                polled = outage.poll(consumer, stop, timeout_ms=min(500, int(interval * 1000)), max_records=10_000)
                for messages in polled.values():
                    self._absorb(messages)
                if time.monotonic() >= next_tick:
                    self._tick(consumer)
                    next_tick = time.monotonic() + interval
            if self._catch_up is None:
                self._snapshot(consumer)
        finally:
            consumer.close()

    def _assign(self, consumer, stop: threading.Event, timeout: float) -> bool:
        """Assign every partition of the topic, waiting for the topic to exist."""
        deadline = time.monotonic() + timeout
        while not stop.is_set():
            partitions = consumer.partitions_for_topic(self.topic)
            if partitions:
                self._partitions = [kafka.TopicPartition(self.topic, p) for p in sorted(partitions)]
                consumer.assign(self._partitions)
                return True
            if time.monotonic() > deadline:
                raise BrokerError(f"topic {self.topic} does not exist on {self.settings.bootstrap_servers}")
            log.info("waiting for topic %s to exist", self.topic)
            stop.wait(1.0)
        return False

    def _start(self, consumer) -> None:
        self.catalogue = StationCatalogue.load(self.lake)
        pointer = read_pointer(self.lake, CUTOFF_VIEW)
        self._rebuild(pointer)
        snapshot = read_snapshot(self.lake)
        self.lag_by_hour = lag.restored((snapshot or {}).get("lag_by_hour"))
        if (
            snapshot
            and snapshot.get("format") == SNAPSHOT_FORMAT
            and snapshot.get("topic") == self.topic
            and snapshot.get("cutoff") == self.state.cutoff
        ):
            self.state.restore(snapshot.get("cities", {}))
            self.state.stats.update(snapshot.get("state_stats", {}))
            self.sequence = int(snapshot.get("sequence", 0))
            offsets = {int(p): int(o) for p, o in snapshot.get("offsets", {}).items()}
            missing = []
            for tp in self._partitions:
                if tp.partition in offsets:
                    consumer.seek(tp, offsets[tp.partition])
                else:
                    missing.append(tp)
            self._seek_by_time(consumer, missing)
            self.resumed_from_snapshot = True
            log.info("resuming from snapshot %d (cutoff %s) at offsets %s", self.sequence, self.state.cutoff, offsets)
        else:
            self._seek_by_time(consumer, self._partitions)

    def _absorb(self, messages) -> None:
        apply = self.state.apply
        register = self.catalogue.observe
        for message in messages:
            self.counters["consumed"] += 1
            try:
                record = records.parse(message.value)
            except InvalidRecord:
                # The sink dead-letters it with the reason; the live view just leaves it out.
                self.counters["invalid"] += 1
                continue
            apply(record)
            register(record)

    def _tick(self, consumer) -> None:
        """Every SPEED_SNAPSHOT_SECONDS: follow new batch runs and partitions, then snapshot."""
        try:
            pointer = read_pointer(self.lake, CUTOFF_VIEW)
        except (LakeError, OSError) as error:
            log.warning("cannot read the batch pointer (%s); keeping cutoff %s", error, self.state.cutoff)
            pointer = self.batch
        if _run_id(pointer) != _run_id(self.batch):
            cutoff = pointer.get("cutoff") if pointer else None
            if cutoff == self.state.cutoff:
                self._load_baselines(pointer)
                self.batch = pointer
            else:
                # Catch up with the furthest position reached so far (a rebuild may interrupt another).
                before = self._catch_up or {tp: consumer.position(tp) for tp in self._partitions}
                log.info("batch run %s moved the cutoff from %s to %s; rebuilding", _run_id(pointer),
                         self.state.cutoff, cutoff)
                self._rebuild(pointer)
                self._seek_by_time(consumer, self._partitions)
                self._catch_up = before
        elif pointer is not None:
            self._follow_new_baseline(pointer)
        self._follow_new_partitions(consumer)
        if self._catch_up is not None:
            if any(consumer.position(tp) < offset for tp, offset in self._catch_up.items()):
                return  # still replaying towards where the old state was
            self._catch_up = None
        self._refresh_kafka_figures(consumer)
        self.catalogue.save(self.lake)
        self._snapshot(consumer)

    # --- batch runs ------------------------------------------------------------------

    def _rebuild(self, pointer: dict | None) -> None:
        cutoff = pointer.get("cutoff") if pointer else None
        self.batch = pointer
        self.state = SpeedState(cutoff, max_hours=self.settings.speed_max_hours, max_cities=MAX_CITIES)
        self._load_baselines(pointer)

    def _load_baselines(self, pointer: dict | None) -> None:
        """Score against the newest diurnal profile and hourly history; none when not published."""
        try:
            diurnal = read_pointer(self.lake, BASELINE_VIEW)
            if diurnal is None or pointer is None:
                self.state.baselines, self.baseline_run = {}, None
                return
            run = f"{_run_id(diurnal)}+{_run_id(pointer)}"
            started = time.monotonic()
            self.state.baselines = build_baselines(
                read_rows(self.lake, diurnal), read_rows(self.lake, pointer), pointer.get("cutoff")
            )
            self.baseline_run = run
            log.info("anomaly baselines for %d cities from runs %s (%.1f s)", len(self.state.baselines), run,
                     time.monotonic() - started)
        except (LakeError, OSError, ValueError) as error:
            log.warning("cannot load the anomaly baselines (%s); scoring nothing until the next run", error)
            self.state.baselines, self.baseline_run = {}, None

    def _follow_new_baseline(self, pointer: dict) -> None:
        """A diurnal_profile run published after the hourly one: score against it from now on."""
        try:
            diurnal = read_pointer(self.lake, BASELINE_VIEW)
        except (LakeError, OSError):
            return
        if diurnal is not None and f"{_run_id(diurnal)}+{_run_id(pointer)}" != self.baseline_run:
            self._load_baselines(pointer)

    # --- Kafka positions ---------------------------------------------------------------

    def _seek_by_time(self, consumer, partitions: list) -> None:
        if not partitions:
            return
        if self.state.cutoff:
            start = parse_utc(self.state.cutoff).timestamp()
        else:
            start = time.time() - self.settings.speed_max_hours * 3600
        target_ms = int((start - self.settings.speed_seek_margin_seconds) * 1000)
        found = consumer.offsets_for_times({tp: target_ms for tp in partitions})
        for tp in partitions:
            hit = found.get(tp)
            # No message that new: Kafka answers None, the embedded Tansu (offset 0, timestamp -1).
            if hit is None or hit.timestamp < 0:
                consumer.seek_to_end(tp)
            else:
                consumer.seek(tp, hit.offset)
        log.info("seeking %s to messages produced from %s (cutoff %s minus %.0f s)", self.topic,
                 seconds_text(target_ms / 1000),
                 self.state.cutoff or "none", self.settings.speed_seek_margin_seconds)

    def _follow_new_partitions(self, consumer) -> None:
        partitions = consumer.partitions_for_topic(self.topic) or set()
        new = [kafka.TopicPartition(self.topic, p) for p in sorted(partitions) if p >= len(self._partitions)]
        if new:
            self._partitions += new
            consumer.assign(self._partitions)
            self._seek_by_time(consumer, new)
            log.info("following %d new partition(s) of %s", len(new), self.topic)

    def _refresh_kafka_figures(self, consumer) -> None:
        """End offsets of the topic and its dead-letter topic, for the pipeline status.

        Approximate: the embedded broker's high watermark can read low right after a
        compressed batch, until the next produce.
        """
        try:
            ends = consumer.end_offsets(self._partitions)
            dlq = self.settings.kafka_dlq_topic
            dlq_partitions = [kafka.TopicPartition(dlq, p) for p in sorted(consumer.partitions_for_topic(dlq) or ())]
            dlq_ends = consumer.end_offsets(dlq_partitions) if dlq_partitions else {}
        except kafka.KafkaError as error:
            log.warning("cannot read end offsets (%s)", error)
            return
        self.kafka_figures = {
            "checked_at": utc_now_seconds(),
            "end_offsets": {str(tp.partition): n for tp, n in ends.items()},
            "dlq_topic": dlq,
            "dlq_end_offsets": {str(tp.partition): n for tp, n in dlq_ends.items()},
        }

    # --- snapshots ---------------------------------------------------------------------

    def snapshot(self, offsets: dict[int, int]) -> dict:
        """The JSON document written to ``speed/current.json``."""
        state = self.state
        return {
            "format": SNAPSHOT_FORMAT,
            "sequence": self.sequence,
            "generated_at": utc_now_seconds(),
            "started_at": self.started_at,
            "topic": self.topic,
            "group_id": self.group_id,
            "cutoff": state.cutoff,
            "batch_run_id": _run_id(self.batch),
            "baseline_run": self.baseline_run,
            "newest": state.newest,
            "offsets": {str(p): o for p, o in sorted(offsets.items())},
            "kafka": self.kafka_figures,
            "lag_by_hour": self.lag_by_hour,
            "stats": {**self.counters, **state.stats, "cities": len(state.cities)},
            "state_stats": state.stats,
            "limits": {"max_hours": state.max_hours, "max_cities": state.max_cities,
                       "snapshot_seconds": self.settings.speed_snapshot_seconds},
            "cities": state.to_snapshot(),
        }

    def _snapshot(self, consumer) -> None:
        offsets = {tp.partition: consumer.position(tp) for tp in self._partitions}
        self._sample_lag(offsets)
        self.sequence += 1
        data = encode_snapshot(self.snapshot(offsets))
        try:
            self.lake.write_atomic(SNAPSHOT_PATH, data)
        except (LakeError, OSError) as error:
            log.warning("cannot write %s (%s); trying again at the next tick", SNAPSHOT_PATH, error)
            return
        self.snapshots_written += 1
        log.debug("snapshot %d: %d cities, offsets %s", self.sequence, len(self.state.cities), offsets)
        try:
            consumer.commit({tp: OffsetAndMetadata(offsets[tp.partition], "", -1) for tp in self._partitions})
        except kafka.KafkaError as error:  # only Kafka's view of our lag; the snapshot holds the truth
            log.warning("cannot commit offsets to group %s (%s)", self.group_id, error)

    def _sample_lag(self, offsets: dict[int, int]) -> None:
        """At most every lag.SAMPLE_SECONDS: the sink's and this layer's lag into ``lag_by_hour``."""
        ends = {int(p): n for p, n in (self.kafka_figures.get("end_offsets") or {}).items()}
        if not ends or time.monotonic() - self._lag_sampled_at < lag.SAMPLE_SECONDS:
            return
        self._lag_sampled_at = time.monotonic()
        try:
            sink = lag.records_behind(ends, layout.sink_positions(self.lake, self.topic))
        except (LakeError, OSError) as error:
            log.warning("cannot read the sink's state for its lag (%s)", error)
            sink = None
        lag.note(self.lag_by_hour, hour_text(datetime.now(UTC)), sink, lag.records_behind(ends, offsets))


def _run_id(pointer: dict | None) -> str | None:
    return pointer.get("run_id") if pointer else None
