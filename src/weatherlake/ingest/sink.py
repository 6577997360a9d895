"""The lake sink: Kafka -> date-partitioned JSON Lines, exactly once.

How it stays exactly-once (the scheme of Kafka Connect's HDFS sink, with the commit
point a compare-and-set on the lake; names and formats in ``lake/layout.py``):

* Records are buffered per Kafka partition. A batch is committed when it reaches a record
  or byte limit, or an age limit (checked on a timer, so it fires with no new records).
* A writer that knows generation G of partition p's state commits a batch covering
  offsets [start, last] (start being G's ``next_offset``) like this:
  1. dead-lettered records of the batch are sent and flushed;
  2. each date's lines are written completely to ``raw/_tmp/<name>.g<G+1>-<token>``,
     names only this writer uses;
  3. generation G + 1 of the state, ``{"next_offset": last + 1, "pending": [[tmp, final],
     ...]}``, is created by a rename that never overwrites: the commit point. If another
     writer created G + 1 first (a zombie, or the new owner after a rebalance), this one
     is fenced: it deletes its tmp files and re-reads the partition from the newer state;
  4. each tmp file is renamed to ``raw/date=D/<name>`` (renames never overwrite);
  5. Kafka's offset is committed (a convenience: the lake is the source of truth).
* On (re)assignment the newest state generation alone says where to resume: its pending
  renames are finished, tmp files whose generation is taken (dead writers' leftovers) are
  deleted, those of a later generation (a live writer's, about to try) are left alone,
  and the consumer seeks to ``next_offset``. A crash before step 3 leaves only tmp files
  (redone from Kafka); after it, whoever comes next completes the renames. A rename
  finds its source gone only if someone else completed it: then the final file is there;
  if not, the sink stops rather than claim records it does not have.
* A retry after the commit point (a rename failed) only finishes the renames: the writer
  knows the generation it created.

A topic deleted and created again (always, when the memory-only embedded broker
restarts) starts its offsets at 0 again. The state remembers the topic's Kafka id; when
it changes, the lake's offsets continue where they were: names use the Kafka offset plus
``base``, the lake offset at which the new topic began. So nothing is skipped and no name
is reused.

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

from weatherlake import records
from weatherlake.config import Settings
from weatherlake.errors import BrokerError, InvalidRecord, LakeError, TargetExists, WeatherlakeError
from weatherlake.ingest import kafka
from weatherlake.lake import Lake, join, layout
from weatherlake.lake.layout import RAW, STATE, TMP, PartitionState, date_dir, file_name, parse_file_name

log = logging.getLogger(__name__)

#: How long a member may hold no partition before it says so (again).
IDLE_WARNING_SECONDS = 60.0
#: How long a member waits for the group to answer its join (an assignment, even an empty
#: one) before it joins again as a new member; a rebalance ends within the rebalance
#: timeout (``max_poll_interval_ms``, 30 s) plus a session.
REJOIN_SECONDS = 60.0
#: How long a partition may have records waiting and see none committed before the member
#: says so (again); at least twice the batch age limit.
STALL_WARNING_SECONDS = 60.0

__all__ = ["RAW", "STATE", "TMP", "Fenced", "LakeSink", "PartitionState", "PartitionWriter", "date_dir",
           "file_name", "parse_file_name", "run_sink"]


def dead_letter_headers(reason: str, topic: str, partition: int, offset: int) -> list[tuple[str, bytes]]:
    return [
        ("dlq.reason", reason.encode()),
        ("dlq.origin.topic", topic.encode()),
        ("dlq.origin.partition", str(partition).encode()),
        ("dlq.origin.offset", str(offset).encode()),
    ]


class Fenced(LakeError):
    """Another writer committed this partition since we last looked."""


class LostCommit(WeatherlakeError):
    """A committed batch's file is neither in its tmp place nor in its final one."""


class SinkError(WeatherlakeError):
    """The sink cannot go on (the process exits non-zero and is restarted)."""


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
    #: Once its state generation is created: the renames it owes (a retry only does these).
    committed: list[tuple[str, str]] | None = None

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
        self.generation = 0  # the newest state generation this writer knows
        self.token = layout.new_token()  # names this writer's tmp files
        self._state_topic_id: str | None = None
        self._others: list[tuple[int, str]] = []  # (generation, path) of other writers' tmp files
        self.batch = Batch(start=None)

    def recover(self) -> int | None:
        """Finish the newest commit, drop dead writers' tmp files; where to resume (None: no state)."""
        state = layout.load_state(self.lake, self.topic, self.partition)
        generation = state.generation if state else 0
        pending = set(state.pending) if state else set()
        for tmp, final in sorted(pending):
            self._finish_rename(tmp, final)
        keep = {tmp for tmp, _ in pending}
        prefix = f"{self.topic}+{self.partition}+"
        for name in self.lake.list(TMP):
            path = join(TMP, name)
            if not name.startswith(prefix) or path in keep:
                continue
            parsed = layout.parse_tmp_name(name)
            if parsed is None or parsed[1] <= generation:  # its generation is taken: a dead writer's
                self.lake.delete(path)
                log.info("deleted uncommitted %s", path)
            else:  # perhaps a live writer's, about to try; dead once its generation is taken
                self._others.append((parsed[1], path))
        if state and self.topic_id and state.topic_id and state.topic_id != self.topic_id:
            state = self._rebase(state)
        self.generation = state.generation if state else 0
        self.base = state.base if state else 0
        self._state_topic_id = state.topic_id if state else None
        self.batch = Batch(start=state.next_offset if state else None)
        return state.next_offset if state else None

    def _rebase(self, old: PartitionState) -> PartitionState:
        """The topic was created anew: its offsets restart at 0, the lake's carry on."""
        new = PartitionState(0, [], self.topic_id, old.base + old.next_offset, old.generation + 1)
        if not layout.create_state(self.lake, self.topic, self.partition, new, self.token):
            raise Fenced(f"{self.topic}[{self.partition}] was committed by another writer while rebasing")
        log.warning(
            "%s[%d] was recreated (topic id %s -> %s): reading it from offset 0; its files continue at lake "
            "offset %d", self.topic, self.partition, old.topic_id, self.topic_id, new.base,
        )
        return new

    def _finish_rename(self, tmp: str, final: str) -> None:
        try:
            self.lake.rename(tmp, final)
        except FileNotFoundError:
            if not layout.in_place(self.lake, final):
                raise LostCommit(
                    f"{tmp} is gone but {final} is not there: the lake lost a committed file (was it deleted "
                    "by hand?); the sink stops rather than skip those records"
                ) from None
            # Renamed by another writer finishing the same commit, or before a crash (and
            # perhaps merged by compaction since).
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

    def commit(self, batch: Batch, send_dead_letters) -> int:
        """Make a sealed batch (:meth:`seal`) durable in the lake; return the next offset.

        ``send_dead_letters(entries)`` must deliver the batch's dead letters durably or
        raise. On any error the batch is kept intact, so the call can be retried with
        it; a retry after the commit point only finishes the renames. Raises
        :class:`Fenced` if another writer committed the partition first.
        """
        if batch.committed is None:
            self._create_generation(batch, send_dead_letters)
        for tmp, final in batch.committed:
            self._finish_rename(tmp, final)
        layout.prune_states(self.lake, self.topic, self.partition, self.generation)
        self._delete_dead_writers_files()
        log.info(
            "committed %s[%d] offsets %d-%d: %d records in %d file(s)%s",
            self.topic,
            self.partition,
            batch.start,
            batch.last,
            batch.count - batch.dead_count,
            len(batch.committed),
            "".join(f" date={d}" for d in sorted(batch.lines)),
        )
        return batch.last + 1

    def _delete_dead_writers_files(self) -> None:
        """Other writers' tmp files seen at recovery, once their generation is taken."""
        alive = []
        for generation, path in self._others:
            if generation <= self.generation:
                if self.lake.delete(path):
                    log.info("deleted uncommitted %s", path)
            else:
                alive.append((generation, path))
        self._others = alive

    def _create_generation(self, batch: Batch, send_dead_letters) -> None:
        """Steps 1-3 of a commit: dead letters, tmp files, the new state generation."""
        if batch.dead:
            send_dead_letters(batch.dead)
            batch.dead = []  # delivered; a retry after a later failure must not resend them
        generation = self.generation + 1
        moves = []
        for date, lines in batch.lines.items():
            first, last = batch.bounds[date]
            name = file_name(self.topic, self.partition, first + self.base, last + self.base)
            tmp, final = join(TMP, layout.tmp_name(name, generation, self.token)), join(date_dir(date), name)
            self.lake.write(tmp, b"\n".join(lines) + b"\n")
            moves.append((tmp, final))
        state = PartitionState(batch.last + 1, moves, self.topic_id or self._state_topic_id, self.base, generation)
        if not layout.create_state(self.lake, self.topic, self.partition, state, self.token):
            for tmp, _ in moves:
                with contextlib.suppress(LakeError, OSError):  # else a later recovery deletes them
                    self.lake.delete(tmp)
            raise Fenced(
                f"{self.topic}[{self.partition}] was committed (state generation {generation}) by another "
                f"writer while this one held offsets {batch.start}-{batch.last}"
            )
        self.generation = generation
        batch.committed = moves


class _Listener(kafka.ConsumerRebalanceListener):
    """kafka-python wants a subclass; it calls these inside poll()."""

    def __init__(self, sink: LakeSink) -> None:
        self.sink = sink

    def on_partitions_revoked(self, revoked) -> None:
        self.sink.in_callback(self.sink.on_partitions_revoked, revoked)

    def on_partitions_assigned(self, assigned) -> None:
        self.sink.in_callback(self.sink.on_partitions_assigned, assigned)


@dataclass
class Commit:
    """A sealed batch of one partition on its way into the lake."""

    tp: object  # kafka TopicPartition
    writer: PartitionWriter
    batch: Batch
    future: Future | None = None  # None: not started, or failed and waiting to be retried
    next_offset: int | None = None  # once committed


class Committer:
    """Commits sealed batches into the lake in a thread of its own, one at a time, in order.

    The lake's writes and fsyncs release Python's GIL, so a commit overlaps the consumer's
    next polls. A commit that fails is kept and retried, after a backoff that doubles up to
    30 s, before any other: the committer is then *holding* until one goes through.
    """

    def __init__(self, send_dead_letters) -> None:
        self._send_dead_letters = send_dead_letters
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lake-commit")
        self.current: Commit | None = None
        self.retry_at = 0.0  # while holding: when to try again; 0 otherwise
        self._backoff = 0.5

    @property
    def idle(self) -> bool:
        return self.current is None

    @property
    def holding(self) -> bool:
        return self.retry_at > 0

    def start(self, commit: Commit) -> None:
        self.current = commit
        commit.future = self._pool.submit(commit.writer.commit, commit.batch, self._send_dead_letters)

    def finish(self, wait: bool) -> Commit | None:
        """The current commit once it has gone through (None: none, or not done yet).

        A failed one is started again first; its error is raised and the commit kept.
        """
        commit = self.current
        if commit is None:
            return None
        if commit.future is None:
            self.start(commit)
        if not wait and not commit.future.done():
            return None
        try:
            commit.next_offset = commit.future.result()
        except BaseException:
            commit.future = None
            raise
        self.current = None
        return commit

    def discard(self) -> Commit | None:
        """Forget the current commit (fenced: another writer has the partition)."""
        commit, self.current = self.current, None
        return commit

    def settle(self, partitions) -> int | None:
        """Let a commit of one of ``partitions`` end before they are given away.

        Returns the offset its batch began at if it did not go through (the records this
        member drops), None otherwise; either way the next owner's business from here.
        """
        commit = self.current
        if commit is None or commit.tp not in partitions:
            return None
        self.current = None
        if commit.future is not None:
            try:
                commit.future.result()
                return None
            except Exception:
                pass
        return commit.batch.start

    def failed(self) -> float:
        """Note a failure; return the seconds until the retry."""
        backoff = self._backoff
        self.retry_at = time.monotonic() + backoff
        self._backoff = min(backoff * 2, 30.0)
        return backoff

    def recovered(self) -> bool:
        """Whether the committer was holding and no longer is (a commit went through)."""
        if not self.holding or self.current is not None:
            return False
        self.retry_at, self._backoff = 0.0, 0.5
        return True

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class LakeSink:
    """Consumes the observation topic into the lake; ``run(stop)`` until ``stop`` is set."""

    def __init__(self, settings: Settings, lake: Lake, *, group_id: str | None = None, **consumer_overrides) -> None:
        self.settings = settings
        self.lake = lake
        self.group_id = group_id or settings.sink_group_id
        self.consumer_overrides = consumer_overrides
        self.writers: dict = {}  # TopicPartition -> PartitionWriter
        self.consumer = None
        self.dlq = None
        self.committed_records = 0
        self.dead_lettered = 0
        self._stop = threading.Event()
        self.topic_id: str | None = None
        self.committer = Committer(self._send_dead_letters)
        self._callback_error: BaseException | None = None
        self._gaps: dict = {}  # TopicPartition -> (expected, found) of a gap seen once
        # TopicPartition -> first offset of the uncommitted records this member dropped
        # when the partition was revoked (the lake's position, while it has no state).
        self._dropped: dict = {}
        self._idle_since: float | None = None  # since when this member holds no partition
        self._joining_since: float | None = None  # since when it waits for an assignment
        self._progress: dict = {}  # TopicPartition -> when it was taken, or last read or committed records

    def in_callback(self, callback, partitions) -> None:
        """Run a rebalance callback, keeping its error: kafka-python would swallow it."""
        try:
            callback(partitions)
        except BaseException as error:
            log.error("rebalance callback %s failed: %s: %s", callback.__name__, type(error).__name__, error)
            self._callback_error = error

    # -- rebalance listener (kafka-python calls these inside poll) --------------------
    def on_partitions_revoked(self, revoked) -> None:
        self._joining_since = time.monotonic()
        commit = self.committer.current
        dropped = self.committer.settle(revoked)
        if dropped is not None:
            self._dropped[commit.tp] = dropped
        for tp in revoked:
            self._progress.pop(tp, None)
            writer = self.writers.pop(tp, None)
            if writer and writer.batch.last is not None:
                log.info("%s[%d] revoked; its %d uncommitted records will be re-read by the next owner",
                         tp.topic, tp.partition, writer.batch.count)
            if writer and writer.batch.start is not None:
                self._dropped.setdefault(tp, writer.batch.start)  # a failed commit's batch began earlier

    def on_partitions_assigned(self, assigned) -> None:
        self._joining_since = None
        if assigned:
            # Asked at every assignment: a broker that lost its topics (the memory-only
            # embedded one, restarted) makes the group rejoin, and shows up here.
            self.topic_id = kafka.topic_id(self.settings, self.settings.kafka_topic)
        else:
            log.info("this member was assigned no partition (the group has more members than partitions)")
        for tp in assigned:
            self._take(tp)

    def _take(self, tp, fallback: int | None = None) -> None:
        """Own ``tp`` and position the consumer where the lake needs it next.

        From the lake state; with none (a new lake), from ``fallback`` or from where a
        batch this member dropped at a revocation began: a partition given back to the
        member that had it keeps its fetch position, past that batch. Otherwise the
        consumer starts at the group's committed offset, or the earliest.
        """
        writer = PartitionWriter(self.lake, tp.topic, tp.partition, self.topic_id)
        resume = self._until_lake_answers(f"recovering {tp.topic}[{tp.partition}]", writer.recover)
        dropped = self._dropped.pop(tp, None)
        origin = "from the lake's state"
        if resume is None:
            resume = fallback if fallback is not None else dropped
            origin = "where the dropped batch began; no lake state yet"
            writer.batch.start = resume
        if resume is None:
            log.info("assigned %s[%d]; resuming at the group's committed offset (no lake state yet)",
                     tp.topic, tp.partition)
        else:
            self.consumer.seek(tp, resume)  # never blocks: this may run inside kafka-python's IO thread
            log.info("assigned %s[%d]; resuming at %d (%s)", tp.topic, tp.partition, resume, origin)
        # A partition given back keeps the paused flag it had (kafka-python keeps a kept
        # partition's fetch state through a rebalance), and a resume may have come while the
        # member held no partition: set it from what the member is doing now.
        (self.consumer.pause if self.committer.holding else self.consumer.resume)(tp)
        self.writers[tp] = writer
        self._gaps.pop(tp, None)
        self._progress[tp] = time.monotonic()

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
        if self.lake.exists(layout.RESTORE_MARKER):
            restoring = (self.lake.read_atomic(layout.RESTORE_MARKER) or b"").decode(errors="replace").strip()
            raise SinkError(f"a restore of the lake is in progress or was interrupted ({layout.RESTORE_MARKER}: "
                            f"{restoring}); let it finish, or run it again with --force")
        self._join()
        self.dlq = kafka.producer(settings)
        try:
            log.info("sink consuming %s into %s as group %s", settings.kafka_topic, self.lake.url, self.group_id)
            outage = kafka.OutageGuard("sink")
            while not stop.is_set():
                polled = outage.poll(self.consumer, stop, timeout_ms=self._poll_timeout_ms())
                if self._callback_error is not None:
                    raise SinkError(f"the sink cannot own its partitions: {self._callback_error}")
                self._watch_assignment()
                self._watch_progress()
                for tp, messages in polled.items():
                    self._absorb(tp, messages)
                self._commit_due()
            self._flush()
        finally:
            self.committer.close()
            self.consumer.close(autocommit=False)
            self.dlq.close()

    def _join(self) -> None:
        """A consumer of its own, subscribed: a member of the group."""
        self.consumer = kafka.consumer(self.settings, self.group_id, **self.consumer_overrides)
        self.consumer.subscribe([self.settings.kafka_topic], listener=_Listener(self))
        self._joining_since = time.monotonic()

    def _poll_timeout_ms(self) -> int:
        now = time.monotonic()
        wait = 1.0 if self.committer.idle else 0.05  # a finished commit is published promptly
        if self.committer.holding:
            wait = max(0.05, self.committer.retry_at - now)
        for writer in self.writers.values():
            if writer.batch.last is not None:
                wait = min(wait, writer.batch.opened + self.settings.sink_max_age_seconds - now)
        return max(10, int(wait * 1000))

    def _watch_assignment(self) -> None:
        """Say so when this member has held no partition for a while: it is not silently idle.

        One that has waited too long for the group to answer its join at all joins again
        as a new member (it holds nothing, so nothing is dropped).
        """
        if self.writers:
            self._idle_since = None
            return
        now = time.monotonic()
        if self._joining_since is not None and now - self._joining_since >= REJOIN_SECONDS:
            log.warning("this member has waited %.0f s for the group %s to assign it partitions; joining again as "
                        "a new member", now - self._joining_since, self.group_id)
            self.consumer.close(autocommit=False, timeout_ms=5000)
            self._join()
            return
        if self._idle_since is None:
            self._idle_since = now
        elif now - self._idle_since >= IDLE_WARNING_SECONDS:
            log.warning("this member has held no partition of %s for %.0f s (more members than partitions, "
                        "or the group coordinator has not assigned any)", self.settings.kafka_topic,
                        now - self._idle_since)
            self._idle_since = now

    def _watch_progress(self) -> None:
        """Say so when a partition this member holds has records waiting and none go through.

        An outage is said already (the member holds its batch and retries); this is for a
        member that is not holding and still commits nothing: a partition left paused is
        resumed, anything else is reported for an operator to look at.
        """
        if self.committer.holding:
            return
        now = time.monotonic()
        limit = max(STALL_WARNING_SECONDS, 2 * self.settings.sink_max_age_seconds)
        for tp, writer in self.writers.items():
            since = self._progress.get(tp, now)
            if now - since < limit:
                continue
            batch = writer.batch
            needed = batch.start if batch.last is None else batch.last + 1
            highwater = self.consumer.highwater(tp)
            waiting = batch.count + max(0, highwater - needed) if highwater is not None and needed is not None \
                else batch.count
            paused = tp in self.consumer.paused()
            if not waiting and not paused:
                continue
            log.warning("%s[%d] has had %d records waiting and none committed for %.0f s%s", tp.topic, tp.partition,
                        waiting, now - since, "; it was left paused, resuming it" if paused else "")
            if paused:
                self.consumer.resume(tp)
            self._progress[tp] = now

    def _absorb(self, tp, messages) -> None:
        writer = self.writers.get(tp)
        if writer is None:
            return  # revoked in this very poll
        if messages:
            self._progress[tp] = time.monotonic()
        if messages and not self._contiguous(tp, writer, messages[0].offset):
            return
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
            if (batch.count >= max_records or batch.size >= max_bytes) and self.committer.idle:
                self._commit_due(only=tp)
                if self.writers.get(tp) is not writer:
                    return  # fenced and re-seeked: the rest of this poll is stale
                batch = writer.batch

    def _contiguous(self, tp, writer: PartitionWriter, first: int) -> bool:
        """Whether a fetch starts where the partition's next record must; handle it if not.

        Stale records (re-delivered before a seek) are skipped record by record in
        ``_absorb``. A fetch that starts *after* the expected offset is a gap: the
        partition is read again from there once; if the gap stays, those offsets do not
        exist (deleted by retention, or never records), which is logged as an error and
        accepted, so the sink goes on instead of stopping the partition for good.
        """
        batch = writer.batch
        expected = batch.start if batch.last is None else batch.last + 1
        if expected is None or first <= expected:
            return True
        if self._gaps.get(tp) != (expected, first):
            self._gaps[tp] = (expected, first)
            log.warning("%s[%d]: expected offset %d, the fetch started at %d; reading again from %d",
                        tp.topic, tp.partition, expected, first, expected)
            self.consumer.seek(tp, expected)
            return False
        earliest = self.consumer.beginning_offsets([tp]).get(tp)
        why = "deleted by retention before the sink read them" if earliest and earliest > expected else \
            "absent from the partition"
        log.error("%s[%d]: offsets %d-%d are %s; the lake will not have them",
                  tp.topic, tp.partition, expected, first - 1, why)
        self._gaps.pop(tp)
        if batch.last is None:
            batch.start = first
        return True

    def _commit_due(self, only=None) -> None:
        """Publish a finished commit and start the next due batch (``only``'s, if given)."""
        if self.committer.holding and time.monotonic() < self.committer.retry_at:
            return
        with self._commit_errors_handled():
            self._publish(self.committer.finish(wait=False))
            if not self.committer.idle:
                return
            now = time.monotonic()
            for tp, writer in list(self.writers.items()):
                if (only is None or tp == only) and writer.due(now, self.settings):
                    self.committer.start(Commit(tp, writer, writer.seal()))
                    self._publish(self.committer.finish(wait=False))
                    return

    def _flush(self) -> None:
        """Commit every buffered record, one batch after the other (at shutdown)."""
        with self._commit_errors_handled():
            self._publish(self.committer.finish(wait=True))
            for tp, writer in list(self.writers.items()):
                batch = writer.seal()
                if batch is not None:
                    self.committer.start(Commit(tp, writer, batch))
                    self._publish(self.committer.finish(wait=True))

    @contextlib.contextmanager
    def _commit_errors_handled(self):
        """A fenced commit re-takes its partition; an unreachable lake or broker holds the batch."""
        try:
            yield
        except Fenced as error:
            commit = self.committer.discard()
            log.warning("%s; re-reading the partition from the lake's position", error)
            if commit is not None and self.writers.get(commit.tp) is commit.writer:
                self._take(commit.tp, fallback=commit.batch.start)
        except (LakeError, OSError, BrokerError) as error:
            backoff = self.committer.failed()
            log.warning("cannot commit to the lake (%s); holding the batch, retrying in %.1f s", error, backoff)
            self._pause(True)
        else:
            if self.committer.recovered():
                log.info("lake reachable again; commits resumed")
                self._pause(False)

    def _publish(self, commit: Commit | None) -> None:
        """Count a commit that went through and tell Kafka its offset."""
        if commit is None:
            return
        self._progress[commit.tp] = time.monotonic()
        self.committed_records += commit.batch.count - commit.batch.dead_count
        self.dead_lettered += commit.batch.dead_count
        self._commit_kafka({commit.tp: commit.next_offset})

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
        """Deliver dead letters or raise BrokerError (then the batch is held, like any outage)."""
        topic = self.settings.kafka_dlq_topic
        try:
            futures = [self.dlq.send(topic, key=key, value=value, headers=headers) for key, value, headers in entries]
            self.dlq.flush(timeout=30)
        except kafka.KafkaError as error:
            raise BrokerError(f"dead-letter topic {topic} is unreachable: {type(error).__name__}: {error}") from None
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
