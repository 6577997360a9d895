"""The lake sink: Kafka -> date-partitioned JSON Lines, exactly once.

How it stays exactly-once (the scheme of Kafka Connect's HDFS sink):

* Records are buffered per Kafka partition. A batch is committed when it reaches a record
  or byte limit, or an age limit (checked on a timer, so it fires with no new records).
* Committing a batch of partition p covering offsets [start, last]:
  1. dead-lettered records of the batch are sent and flushed;
  2. each date's lines are written completely to ``raw/_tmp/<name>``;
  3. p's write-ahead state ``raw/_state/<topic>+<p>.json`` is replaced with
     ``{"next_offset": last + 1, "pending": [[tmp, final], ...]}`` — the commit point;
  4. each tmp file is renamed to ``raw/date=D/<name>`` (renames never overwrite);
  5. Kafka's offset is committed (a convenience: the lake is the source of truth).
* On (re)assignment the state file alone says where to resume: pending renames are
  finished, stray tmp files of p are deleted, and the consumer seeks to ``next_offset``.
  A crash before step 3 leaves only tmp files (redone from Kafka); after it, recovery
  completes the renames. Nothing is written twice and nothing skipped, and resuming
  reads one small file per partition, never a listing of the lake.
* Before step 3 the state is re-read: if another writer (a zombie from an old rebalance)
  moved it, this batch is dropped and the partition re-read from the new position.

A topic deleted and created again (always, when the memory-only embedded broker
restarts) starts its offsets at 0 again. The state file remembers the topic's Kafka id;
when it changes, the lake's offsets continue where they were: names use the Kafka
offset plus ``base``, the lake offset at which the new topic began. So nothing is
skipped and no name is reused.

File names carry topic, partition and the first/last offset of the lines they hold:
``weather.observations+0+0000000042+0000000141.jsonl``. One batch spanning two dates
becomes two files whose offset ranges interleave but never repeat an offset.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import orjson

from weatherlake import records
from weatherlake.config import Settings
from weatherlake.errors import BrokerError, InvalidRecord, LakeError, TargetExists
from weatherlake.ingest import kafka
from weatherlake.lake import Lake, join

log = logging.getLogger(__name__)

GROUP_ID = "weatherlake-sink"
RAW = "raw"
TMP = "raw/_tmp"
STATE = "raw/_state"


def file_name(topic: str, partition: int, first: int, last: int) -> str:
    return f"{topic}+{partition}+{first:010d}+{last:010d}.jsonl"


def parse_file_name(name: str) -> tuple[str, int, int, int] | None:
    """(topic, partition, first, last) of a committed file name, or None for other files."""
    if not name.endswith(".jsonl"):
        return None
    parts = name[: -len(".jsonl")].split("+")  # Kafka topic names cannot contain '+'
    if len(parts) != 4 or not all(p.isdigit() for p in parts[1:]):
        return None
    return parts[0], int(parts[1]), int(parts[2]), int(parts[3])


def date_dir(date: str) -> str:
    return f"{RAW}/date={date}"


def dead_letter_headers(reason: str, topic: str, partition: int, offset: int) -> list[tuple[str, bytes]]:
    return [
        ("dlq.reason", reason.encode()),
        ("dlq.origin.topic", topic.encode()),
        ("dlq.origin.partition", str(partition).encode()),
        ("dlq.origin.offset", str(offset).encode()),
    ]


class Fenced(LakeError):
    """Another writer committed this partition since we last looked."""


@dataclass
class PartitionState:
    """What ``raw/_state/<topic>+<p>.json`` holds.

    ``next_offset`` is the next Kafka offset to read; ``base`` is added to Kafka offsets in
    file names (non-zero once the topic was recreated); ``topic_id`` is Kafka's id of the
    topic the offsets belong to.
    """

    next_offset: int
    pending: list[tuple[str, str]] = field(default_factory=list)
    topic_id: str | None = None
    base: int = 0

    def to_json(self) -> bytes:
        return orjson.dumps(
            {"next_offset": self.next_offset, "pending": self.pending, "topic_id": self.topic_id, "base": self.base}
        )

    @classmethod
    def from_json(cls, data: bytes | None) -> PartitionState | None:
        if data is None:
            return None
        try:
            obj = orjson.loads(data)
            pending = [(str(a), str(b)) for a, b in obj["pending"]]
            return cls(int(obj["next_offset"]), pending, obj.get("topic_id"), int(obj.get("base", 0)))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            # Only a first-ever state write can be torn (see Lake.write_atomic): no commit yet.
            log.warning("ignoring a torn sink state file (no batch was committed with it)")
            return None


@dataclass
class Batch:
    """One partition's records since its last commit."""

    start: int | None  # the offset the batch must begin at (None: whatever comes first)
    lines: dict[str, list[bytes]] = field(default_factory=dict)
    bounds: dict[str, list[int]] = field(default_factory=dict)  # date -> [first, last]
    dead: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]] = field(default_factory=list)
    last: int | None = None
    count: int = 0
    dead_count: int = 0
    size: int = 0
    opened: float = 0.0

    def note(self, offset: int) -> None:
        if self.last is None:
            self.opened = time.monotonic()
            if self.start is None:
                self.start = offset
        self.last = offset
        self.count += 1

    def add(self, offset: int, date: str, line: bytes) -> None:
        self.note(offset)
        lines = self.lines.get(date)
        if lines is None:
            self.lines[date] = [line]
            self.bounds[date] = [offset, offset]
        else:
            lines.append(line)
            self.bounds[date][1] = offset
        self.size += len(line) + 1

    def add_dead(self, offset: int, key: bytes | None, value: bytes, headers: list) -> None:
        self.note(offset)
        self.dead_count += 1
        self.dead.append((key, value, headers))
        self.size += len(value)


class PartitionWriter:
    """Commits one Kafka partition's batches into the lake; knows nothing of Kafka."""

    def __init__(self, lake: Lake, topic: str, partition: int, topic_id: str | None = None) -> None:
        self.lake = lake
        self.topic = topic
        self.partition = partition
        self.topic_id = topic_id
        self.base = 0
        self.state_path = join(STATE, f"{topic}+{partition}.json")
        self.batch = Batch(start=None)

    def _load(self) -> PartitionState | None:
        return PartitionState.from_json(self.lake.read_atomic(self.state_path))

    def recover(self) -> int | None:
        """Finish an interrupted commit, drop stray tmp files; return where to resume (None: no state)."""
        state = self._load()
        pending = set(state.pending) if state else set()
        for tmp, final in sorted(pending):
            self._finish_rename(tmp, final)
        keep = {tmp for tmp, _ in pending}
        prefix = f"{self.topic}+{self.partition}+"
        for name in self.lake.list(TMP):
            path = join(TMP, name)
            if name.startswith(prefix) and path not in keep:
                self.lake.delete(path)
                log.info("deleted uncommitted %s", path)
        if state and self.topic_id and state.topic_id and state.topic_id != self.topic_id:
            state = self._rebase(state)
        self.base = state.base if state else 0
        self.batch = Batch(start=state.next_offset if state else None)
        return state.next_offset if state else None

    def _rebase(self, old: PartitionState) -> PartitionState:
        """The topic was created anew: its offsets restart at 0, the lake's carry on."""
        new = PartitionState(0, [], self.topic_id, old.base + old.next_offset)
        self.lake.write_atomic(self.state_path, new.to_json())
        log.warning(
            "%s[%d] was recreated (topic id %s -> %s): reading it from offset 0; its files continue at lake "
            "offset %d", self.topic, self.partition, old.topic_id, self.topic_id, new.base,
        )
        return new

    def _finish_rename(self, tmp: str, final: str) -> None:
        try:
            self.lake.rename(tmp, final)
        except FileNotFoundError:
            pass  # renamed before the crash
        except TargetExists:
            self.lake.delete(tmp)  # the same lines are already in place

    def due(self, now: float, settings: Settings) -> bool:
        b = self.batch
        if b.last is None:
            return False
        return (
            b.count >= settings.sink_max_records
            or b.size >= settings.sink_max_bytes
            or now - b.opened >= settings.sink_max_age_seconds
        )

    def seal(self) -> Batch | None:
        """Take the batch for a commit and start the next one after it; None if it is empty."""
        batch = self.batch
        if batch.last is None:
            return None
        self.batch = Batch(start=batch.last + 1)
        return batch

    def commit(self, send_dead_letters, batch: Batch | None = None) -> int | None:
        """Make a batch durable in the lake; return the next offset, or None if empty.

        ``batch`` is one taken with :meth:`seal`; by default the current batch, which a
        new one replaces once it is committed. ``send_dead_letters(entries)`` must deliver
        the batch's dead letters durably or raise. On any error the batch is kept intact
        (the current one, or the caller's sealed one), so the call can be retried.
        """
        sealed = batch is not None
        if batch is None:
            batch = self.batch
        if batch.last is None:
            return None
        if batch.dead:
            send_dead_letters(batch.dead)
            batch.dead = []  # delivered; a retry after a later failure must not resend them
        moves = []
        for date, lines in batch.lines.items():
            first, last = batch.bounds[date]
            name = file_name(self.topic, self.partition, first + self.base, last + self.base)
            tmp, final = join(TMP, name), join(date_dir(date), name)
            self.lake.write(tmp, b"\n".join(lines) + b"\n")
            moves.append((tmp, final))
        current = self._load()
        if current is not None and current.next_offset != batch.start:
            raise Fenced(
                f"{self.topic}[{self.partition}] was committed up to {current.next_offset} by another "
                f"writer while this one held offsets {batch.start}-{batch.last}"
            )
        next_offset = batch.last + 1
        state = PartitionState(next_offset, moves, self.topic_id or (current.topic_id if current else None), self.base)
        self.lake.write_atomic(self.state_path, state.to_json())
        for tmp, final in moves:
            self._finish_rename(tmp, final)
        log.info(
            "committed %s[%d] offsets %d-%d: %d records in %d file(s)%s",
            self.topic,
            self.partition,
            batch.start,
            batch.last,
            batch.count - batch.dead_count,
            len(moves),
            "".join(f" date={d}" for d in sorted(batch.lines)),
        )
        if not sealed:
            self.batch = Batch(start=next_offset)
        return next_offset


class _Listener(kafka.ConsumerRebalanceListener):
    """kafka-python wants a subclass; it calls these inside poll()."""

    def __init__(self, sink: LakeSink) -> None:
        self.sink = sink

    def on_partitions_revoked(self, revoked) -> None:
        self.sink.on_partitions_revoked(revoked)

    def on_partitions_assigned(self, assigned) -> None:
        self.sink.on_partitions_assigned(assigned)


@dataclass
class Commit:
    """A sealed batch of one partition on its way into the lake."""

    tp: object  # kafka TopicPartition
    writer: PartitionWriter
    batch: Batch
    future: Future | None = None  # None: not started, or failed and waiting to be retried


class LakeSink:
    """Consumes the observation topic into the lake; ``run(stop)`` until ``stop`` is set."""

    def __init__(self, settings: Settings, lake: Lake, *, group_id: str = GROUP_ID, **consumer_overrides) -> None:
        self.settings = settings
        self.lake = lake
        self.group_id = group_id
        self.consumer_overrides = consumer_overrides
        self.writers: dict = {}  # TopicPartition -> PartitionWriter
        self.consumer = None
        self.dlq = None
        self.committed_records = 0
        self.dead_lettered = 0
        self._retry_at = 0.0
        self._backoff = 0.5
        self._stop = threading.Event()
        self.topic_id: str | None = None
        # Batches are committed in this thread while the main one goes on consuming: the
        # lake's writes and fsyncs release the GIL, so they overlap the next polls.
        self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lake-commit")
        self._inflight: Commit | None = None  # one batch at a time, so commits keep their order

    # -- rebalance listener (kafka-python calls these inside poll) --------------------
    def on_partitions_revoked(self, revoked) -> None:
        commit = self._inflight
        if commit and commit.tp in revoked:
            # Let it end (committed, or not: then the next owner re-reads those records)
            # before the partition is given away; its outcome is the next owner's business.
            if commit.future is not None:
                with contextlib.suppress(Exception):
                    commit.future.result()
            self._inflight = None
        for tp in revoked:
            writer = self.writers.pop(tp, None)
            if writer and writer.batch.last is not None:
                log.info("%s[%d] revoked; its %d uncommitted records will be re-read by the next owner",
                         tp.topic, tp.partition, writer.batch.count)

    def on_partitions_assigned(self, assigned) -> None:
        if assigned:
            # Asked at every assignment: a broker that lost its topics (the memory-only
            # embedded one, restarted) makes the group rejoin, and shows up here.
            self.topic_id = kafka.topic_id(self.settings, self.settings.kafka_topic)
        for tp in assigned:
            self._take(tp)

    def _take(self, tp) -> None:
        writer = PartitionWriter(self.lake, tp.topic, tp.partition, self.topic_id)
        resume = self._until_lake_answers(f"recovering {tp.topic}[{tp.partition}]", writer.recover)
        if resume is not None:
            self.consumer.seek(tp, resume)
        log.info(
            "assigned %s[%d]; resuming at %s", tp.topic, tp.partition,
            resume if resume is not None else "the committed Kafka offset (no lake state yet)",
        )
        self.writers[tp] = writer

    def _until_lake_answers(self, what: str, action):
        delay = 0.5
        while True:
            try:
                return action()
            except (LakeError, OSError) as error:
                if self._stop.is_set():
                    raise
                log.warning("lake unavailable while %s (%s); retrying in %.1f s", what, error, delay)
                time.sleep(delay)
                delay = min(delay * 2, 30.0)

    # -- main loop --------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        settings = self.settings
        self._stop = stop
        self.consumer = kafka.consumer(settings, self.group_id, **self.consumer_overrides)
        self.dlq = kafka.producer(settings)
        try:
            self.consumer.subscribe([settings.kafka_topic], listener=_Listener(self))
            log.info("sink consuming %s into %s as group %s", settings.kafka_topic, self.lake.url, self.group_id)
            outage = kafka.OutageGuard("sink")
            while not stop.is_set():
                polled = outage.poll(self.consumer, stop, timeout_ms=self._poll_timeout_ms())
                for tp, messages in polled.items():
                    self._absorb(tp, messages)
                self._commit(force=False)
            self._commit(force=True, final=True)
        finally:
            self._committer.shutdown(wait=True)
            self.consumer.close(autocommit=False)
            self.dlq.close()

    def _poll_timeout_ms(self) -> int:
        now = time.monotonic()
        wait = 0.05 if self._inflight else 1.0  # a finished commit is published promptly
        if self._retry_at:
            wait = max(0.05, self._retry_at - now)
        for writer in self.writers.values():
            if writer.batch.last is not None:
                wait = min(wait, writer.batch.opened + self.settings.sink_max_age_seconds - now)
        return max(10, int(wait * 1000))

    def _absorb(self, tp, messages) -> None:
        writer = self.writers.get(tp)
        if writer is None:
            return  # revoked in this very poll
        batch = writer.batch
        date_of = records.validated_date
        max_records, max_bytes = self.settings.sink_max_records, self.settings.sink_max_bytes
        # The first offset not yet in the lake or in the batch; any at all for a new lake.
        floor = batch.start if batch.last is None else batch.last + 1
        if floor is None:
            floor = -1
        for message in messages:
            offset = message.offset
            if offset < floor:
                continue  # already in the lake (a re-delivery after a seek)
            floor = offset + 1
            value = message.value
            try:
                date = date_of(value)
            except InvalidRecord as error:
                log.warning("dead-lettering %s[%d]@%d: %s", tp.topic, tp.partition, offset, error)
                headers = dead_letter_headers(str(error), tp.topic, tp.partition, offset)
                batch.add_dead(offset, message.key, value or b"", headers)
                continue
            if b"\n" in value or b"\r" in value:
                value = records.encode(records.parse(value))  # keep one record per line
            batch.add(offset, date, value)
            if (batch.count >= max_records or batch.size >= max_bytes) and not self._inflight:
                self._commit(only=tp)
                if self.writers.get(tp) is not writer:
                    return  # fenced and re-seeked: the rest of this poll is stale
                batch = writer.batch

    def _commit(self, force: bool = False, final: bool = False, only=None) -> None:
        """Publish a finished commit and start the next due one (all of them, waiting, with
        ``force``; just ``only``'s if given)."""
        now = time.monotonic()
        if self._retry_at and now < self._retry_at and not final:
            return
        try:
            self._finish_commit(wait=force)
            for tp, writer in list(self.writers.items()):
                if self._inflight:
                    break
                if (only is None or tp == only) and (force or writer.due(now, self.settings)):
                    batch = writer.seal()
                    if batch is not None:
                        self._start_commit(Commit(tp, writer, batch))
                        self._finish_commit(wait=force)
        except Fenced as error:
            self._inflight = None
            log.warning("%s; re-reading the partition from the lake's position", error)
            for tp in list(self.writers):
                self._take(tp)
        except (LakeError, OSError, BrokerError) as error:
            self._retry_at = time.monotonic() + self._backoff
            log.warning(
                "cannot commit to the lake (%s); holding the batch, retrying in %.1f s", error, self._backoff
            )
            self._backoff = min(self._backoff * 2, 30.0)
            self._pause(True)
        else:
            if self._retry_at and self._inflight is None:  # the held batch went through
                log.info("lake reachable again; commits resumed")
                self._retry_at = 0.0
                self._backoff = 0.5
                self._pause(False)

    def _start_commit(self, commit: Commit) -> None:
        commit.future = self._committer.submit(commit.writer.commit, self._send_dead_letters, commit.batch)
        self._inflight = commit

    def _finish_commit(self, wait: bool) -> None:
        """Publish the commit in flight once it is done; a failed one is raised, and kept to retry."""
        commit = self._inflight
        if commit is None:
            return
        if commit.future is None:  # it failed: try that batch again before any other
            self._start_commit(commit)
        if not wait and not commit.future.done():
            return
        try:
            next_offset = commit.future.result()
        except BaseException:
            commit.future = None
            raise
        self._inflight = None
        self.committed_records += commit.batch.count - commit.batch.dead_count
        self.dead_lettered += commit.batch.dead_count
        self._commit_kafka({commit.tp: next_offset})

    def _pause(self, paused: bool) -> None:
        partitions = list(self.writers)
        if partitions:
            (self.consumer.pause if paused else self.consumer.resume)(*partitions)

    def _commit_kafka(self, offsets) -> None:
        from kafka.structs import OffsetAndMetadata

        try:
            self.consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in offsets.items()})
        except kafka.KafkaError as error:
            # Harmless: the lake's state files say where to resume.
            log.warning("Kafka offset commit failed (%s); the lake state is authoritative", error)

    def _send_dead_letters(self, entries) -> None:
        topic = self.settings.kafka_dlq_topic
        futures = [self.dlq.send(topic, key=key, value=value, headers=headers) for key, value, headers in entries]
        self.dlq.flush(timeout=30)
        for future in futures:
            if not future.succeeded():
                raise BrokerError(f"dead-letter topic {topic} did not take a record: {future.exception}")


def run_sink(settings: Settings, *, stop: threading.Event) -> tuple[int, int]:
    """The ``weatherlake consume`` service (one group member): (records committed, dead-lettered)."""
    from weatherlake.lake import open_lake
    from weatherlake.workers import streaming_gc

    sink = LakeSink(settings, open_lake(settings))
    streaming_gc()
    sink.run(stop)
    return sink.committed_records, sink.dead_lettered
