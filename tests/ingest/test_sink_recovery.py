"""The sink's commit protocol, crashed at every step and recovered: exactly once, every time."""

from __future__ import annotations

import contextlib

import orjson
import pytest

from tests.crashing_lake import Crash, CrashingLake, PausingLake
from tests.factories import key_of, observation
from tests.lakeview import commit_batch, committed
from weatherlake.errors import LakeError
from weatherlake.ingest.sink import (
    TMP,
    Commit,
    Committer,
    Fenced,
    LostCommit,
    PartitionWriter,
    file_name,
    parse_file_name,
)
from weatherlake.lake import LocalLake, layout

TOPIC = "weather.observations"
COUNT = 40  # 7 minutes apart from 20:00 UTC: the stream crosses midnight
BATCH = 10
BAD = {7, 23}  # offsets holding undecodable messages (dead-lettered)


def message(offset: int) -> bytes:
    return b"{not json" if offset in BAD else orjson.dumps(observation(offset))


def consume(lake, dead_letters: list, stop_after: int | None = None) -> None:
    """What the sink does for one partition: recover, re-read from there, commit in batches."""
    writer = PartitionWriter(lake, TOPIC, 0)
    resume = writer.recover() or 0
    for offset in range(resume, COUNT):
        value = message(offset)
        if offset in BAD:
            writer.batch.add_dead(offset, None, value, [("dlq.reason", b"bad json")])
        else:
            writer.batch.add(offset, orjson.loads(value)["timestamp"][:10], value)
        if writer.batch.count == BATCH:
            commit_batch(writer, dead_letters.extend)
    commit_batch(writer, dead_letters.extend)


def assert_exactly_once(lake) -> None:
    rows = committed(lake)
    keys = [key_of(record) for _, _, record in rows]
    expected = [key_of(observation(i)) for i in range(COUNT) if i not in BAD]
    assert sorted(keys) == sorted(expected), "records lost or duplicated"
    for directory, _, record in rows:
        assert directory == f"date={record['timestamp'][:10]}"
    assert lake.list(TMP) == []
    assert layout.load_state(lake, TOPIC, 0).next_offset == COUNT


def clean_run_operations(tmp_path) -> int:
    lake = CrashingLake(LocalLake(tmp_path / "probe"))
    consume(lake, [])
    return lake.operations


def test_clean_run_commits_every_record_once_in_its_date(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    dead = []
    consume(lake, dead)
    assert_exactly_once(lake)
    assert len(dead) == len(BAD)
    dates = {directory for directory, _, _ in committed(lake)}
    assert dates == {"date=2026-11-20", "date=2026-11-21"}


def test_crash_at_every_step_then_recover(tmp_path):
    steps = clean_run_operations(tmp_path)
    assert steps > 12
    for crash_at in range(1, steps + 1):
        inner = LocalLake(tmp_path / f"crash-{crash_at}")
        dead = []
        with pytest.raises(Crash):
            consume(CrashingLake(inner, crash_at), dead)
        seen = [key_of(record) for _, _, record in committed(inner)]
        assert len(seen) == len(set(seen)), "a reader saw a duplicate right after the crash"
        consume(inner, dead)
        assert_exactly_once(inner)
        assert all(headers == [("dlq.reason", b"bad json")] for _, _, headers in dead)
        assert len(dead) >= len(BAD)  # the dead-letter topic is at-least-once


def test_crash_during_recovery_too(tmp_path):
    steps = clean_run_operations(tmp_path)
    for first in range(1, steps + 1, 3):
        for second in range(1, 12):
            inner = LocalLake(tmp_path / f"c-{first}-{second}")
            with pytest.raises(Crash):
                consume(CrashingLake(inner, first), [])
            with contextlib.suppress(Crash):
                consume(CrashingLake(inner, second), [])
            consume(inner, [])
            assert_exactly_once(inner)


def test_a_zombie_writer_is_fenced(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    current = PartitionWriter(lake, TOPIC, 0)
    zombie = PartitionWriter(lake, TOPIC, 0)
    current.recover()
    zombie.recover()
    for writer in (current, zombie):
        writer.batch.add(0, "2026-11-20", orjson.dumps(observation(0)))
    commit_batch(current)
    with pytest.raises(Fenced):
        commit_batch(zombie)
    assert len(committed(lake)) == 1


def test_the_state_file_alone_says_where_to_resume(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    consume(lake, [])
    writer = PartitionWriter(lake, TOPIC, 0)
    assert writer.recover() == COUNT
    assert PartitionWriter(lake, TOPIC, 1).recover() is None


def test_file_names_carry_topic_partition_and_offsets():
    name = file_name(TOPIC, 2, 42, 141)
    assert name == "weather.observations+2+0000000042+0000000141.jsonl"
    assert parse_file_name(name) == (TOPIC, 2, 42, 141)
    assert parse_file_name("_SUCCESS") is None
    assert parse_file_name("a+b+c+d.jsonl") is None


def test_fenced_is_a_lake_error():
    assert issubclass(Fenced, LakeError)


def test_a_recreated_topic_continues_the_lakes_offsets_instead_of_reusing_names(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    first = PartitionWriter(lake, TOPIC, 0, topic_id="id-1")
    assert first.recover() is None
    for offset in range(5):
        first.batch.add(offset, "2026-11-20", orjson.dumps(observation(offset)))
    commit_batch(first)
    # The broker came back empty: same topic name, new id, offsets from 0 again.
    second = PartitionWriter(lake, TOPIC, 0, topic_id="id-2")
    assert second.recover() == 0
    for offset in range(3):
        second.batch.add(offset, "2026-11-20", orjson.dumps(observation(100 + offset)))
    commit_batch(second)
    names = lake.list("raw/date=2026-11-20")
    assert names == [file_name(TOPIC, 0, 0, 4), file_name(TOPIC, 0, 5, 7)]
    assert len(committed(lake)) == 8
    state = layout.load_state(lake, TOPIC, 0)
    assert (state.next_offset, state.base, state.topic_id) == (3, 5, "id-2")
    # The same topic again: no rebase.
    assert PartitionWriter(lake, TOPIC, 0, topic_id="id-2").recover() == 3


def test_a_sealed_batch_is_committed_on_retry_and_the_next_one_follows_it(tmp_path):
    """The sink seals a batch, commits it in its committer thread and consumes on meanwhile."""
    lake = CrashingLake(LocalLake(tmp_path / "lake"), crash_at=1)  # its first write fails
    writer = PartitionWriter(lake, TOPIC, 0)
    writer.recover()
    for offset in range(5):
        writer.batch.add(offset, "2026-11-20", orjson.dumps(observation(offset)))
    sealed = writer.seal()
    for offset in range(5, 8):  # consumed while the sealed batch is on its way
        writer.batch.add(offset, "2026-11-20", orjson.dumps(observation(offset)))
    with pytest.raises(Crash):
        writer.commit(sealed, list)
    assert committed(lake.inner) == []
    assert writer.commit(sealed, list) == 5  # the same batch again, intact
    assert commit_batch(writer) == 8
    assert writer.seal() is None  # nothing left to commit
    assert sorted(key_of(r) for _, _, r in committed(lake.inner)) == sorted(key_of(observation(i)) for i in range(8))
    assert lake.inner.list("raw/date=2026-11-20") == [file_name(TOPIC, 0, 0, 4), file_name(TOPIC, 0, 5, 7)]



def test_the_committer_retries_a_failed_batch_before_the_next_and_says_when_one_went_through(tmp_path):
    lake = CrashingLake(LocalLake(tmp_path / "lake"), crash_at=1)  # its first write fails
    writer = PartitionWriter(lake, TOPIC, 0)
    writer.recover()
    batches = []
    for first in (0, 5):
        for offset in range(first, first + 5):
            writer.batch.add(offset, "2026-11-20", orjson.dumps(observation(offset)))
        batches.append(writer.seal())
    committer = Committer(list)
    try:
        committer.start(Commit("tp", writer, batches[0]))
        with pytest.raises(Crash):
            committer.finish(wait=True)
        assert (committer.failed(), committer.failed()) == (0.5, 1.0)  # the backoff doubles
        assert committer.holding and not committer.recovered()  # the failed batch is still to go
        done = committer.finish(wait=True)  # started again
        assert (done.batch, done.next_offset) == (batches[0], 5)
        assert committer.recovered() and not committer.holding
        committer.start(Commit("tp", writer, batches[1]))
        assert committer.finish(wait=True).next_offset == 10
        assert committer.finish(wait=True) is None and committer.idle
    finally:
        committer.close()
    assert len(committed(lake.inner)) == 10

# -- zombies: a writer paused mid-commit while the partition's new owner goes on ---------------

ZOMBIE_COUNT = 30


def consume_range(lake, writer: PartitionWriter, end: int, batch: int = 5) -> None:
    """Read the partition from the writer's lake position up to ``end``, committing every
    ``batch`` records; when fenced, start over from the lake's position, as the sink does."""
    while True:
        resume = writer.recover() or 0
        try:
            for offset in range(resume, end):
                record = observation(offset)
                writer.batch.add(offset, record["timestamp"][:10], orjson.dumps(record))
                if writer.batch.count == batch:
                    commit_batch(writer)
            commit_batch(writer)
            return
        except Fenced:
            writer = PartitionWriter(lake, TOPIC, 0)


def zombie_commit_operations(tmp_path) -> int:
    probe = CrashingLake(LocalLake(tmp_path / "probe"))
    consume_range(probe.inner, PartitionWriter(probe.inner, TOPIC, 0), 10)
    zombie = PartitionWriter(probe, TOPIC, 0)
    consume_range(probe, zombie, 20, batch=10)
    return probe.operations


def test_a_writer_paused_at_any_step_of_its_commit_while_the_new_owner_commits_loses_and_doubles_nothing(tmp_path):
    steps = zombie_commit_operations(tmp_path)
    assert steps >= 4  # its tmp file(s), the staged state, the state's rename, the rename(s)
    for pause_at in range(1, steps + 2):
        lake = LocalLake(tmp_path / f"pause-{pause_at}")
        consume_range(lake, PartitionWriter(lake, TOPIC, 0), 10)  # committed before the rebalance
        zombie = PartitionWriter(PausingLake(lake, pause_at, lambda lake=lake: consume_range(
            lake, PartitionWriter(lake, TOPIC, 0), 25)), TOPIC, 0)
        zombie.recover()
        for offset in range(10, 20):  # what the zombie consumed before it froze
            record = observation(offset)
            zombie.batch.add(offset, record["timestamp"][:10], orjson.dumps(record))
        with contextlib.suppress(Fenced):
            commit_batch(zombie)
        consume_range(lake, PartitionWriter(lake, TOPIC, 0), ZOMBIE_COUNT)  # the owner goes on
        keys = [key_of(record) for _, _, record in committed(lake)]
        assert sorted(keys) == sorted(key_of(observation(i)) for i in range(ZOMBIE_COUNT)), f"paused at {pause_at}"
        assert lake.list(TMP) == [], f"paused at {pause_at}: tmp files left"
        assert layout.load_state(lake, TOPIC, 0).next_offset == ZOMBIE_COUNT


def test_a_retry_after_the_commit_point_finishes_its_own_commit(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    writer = PartitionWriter(lake, TOPIC, 0)
    writer.recover()
    for offset in range(5):
        writer.batch.add(offset, "2026-11-20", orjson.dumps(observation(offset)))
    sealed = writer.seal()
    # The tmp file, the staged state and the state's rename go through; the rename of the
    # data file fails (the lake went away): the commit point is passed.
    writer.lake = CrashingLake(lake, crash_at=4)
    with pytest.raises(Crash):
        writer.commit(sealed, list)
    assert layout.load_state(lake, TOPIC, 0).next_offset == 5 and committed(lake) == []
    writer.lake = lake
    assert writer.commit(sealed, list) == 5  # not Fenced by its own generation
    assert len(committed(lake)) == 5 and lake.list(TMP) == []
    assert layout.generations(lake, TOPIC, 0) == [1]


def test_a_missing_file_is_never_taken_for_an_already_finished_rename(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    writer = PartitionWriter(lake, TOPIC, 0)
    writer.recover()
    writer.batch.add(0, "2026-11-20", orjson.dumps(observation(0)))
    writer.lake = CrashingLake(lake, crash_at=4)
    with pytest.raises(Crash):
        commit_batch(writer)
    (pending,) = layout.load_state(lake, TOPIC, 0).pending
    lake.delete(pending[0])  # the committed lines vanish from the lake (by hand)
    with pytest.raises(LostCommit, match="not there"):
        PartitionWriter(lake, TOPIC, 0).recover()


def test_a_lake_written_with_the_single_state_file_is_resumed_and_migrated(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    lake.write_atomic(f"raw/_state/{TOPIC}+0.json", b'{"next_offset": 7, "pending": [], "topic_id": null}')
    writer = PartitionWriter(lake, TOPIC, 0)
    assert writer.recover() == 7
    writer.batch.add(7, "2026-11-20", orjson.dumps(observation(7)))
    assert commit_batch(writer) == 8
    assert not lake.exists(f"raw/_state/{TOPIC}+0.json")
    assert layout.sink_positions(lake, TOPIC) == {0: 8}


def test_a_writer_far_behind_is_fenced_even_where_its_generation_was_pruned(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    behind = PartitionWriter(lake, TOPIC, 0)
    behind.recover()  # knows no state: generation 0
    consume_range(lake, PartitionWriter(lake, TOPIC, 0), 30, batch=5)  # six commits meanwhile
    assert layout.generations(lake, TOPIC, 0)[0] > 1  # generation 1 was pruned: its name is free
    for offset in range(0, 5):
        behind.batch.add(offset, "2026-11-20", orjson.dumps(observation(offset)))
    with pytest.raises(Fenced):
        commit_batch(behind)
    assert layout.load_state(lake, TOPIC, 0).next_offset == 30
    assert sorted(key_of(r) for _, _, r in committed(lake)) == sorted(key_of(observation(i)) for i in range(30))
    assert lake.list(TMP) == []
