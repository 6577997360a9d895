"""The sink's commit protocol, crashed at every step and recovered: exactly once, every time."""

from __future__ import annotations

import contextlib

import orjson
import pytest

from tests.crashing_lake import Crash, CrashingLake
from tests.factories import key_of, observation
from tests.lakeview import committed
from weatherlake.errors import LakeError
from weatherlake.ingest.sink import TMP, Fenced, PartitionState, PartitionWriter, file_name, parse_file_name
from weatherlake.lake import LocalLake

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
            writer.commit(dead_letters.extend)
    writer.commit(dead_letters.extend)


def assert_exactly_once(lake) -> None:
    rows = committed(lake)
    keys = [key_of(record) for _, _, record in rows]
    expected = [key_of(observation(i)) for i in range(COUNT) if i not in BAD]
    assert sorted(keys) == sorted(expected), "records lost or duplicated"
    for directory, _, record in rows:
        assert directory == f"date={record['timestamp'][:10]}"
    assert lake.list(TMP) == []
    state = PartitionState.from_json(lake.read_atomic("raw/_state/weather.observations+0.json"))
    assert state.next_offset == COUNT


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
    assert steps > 20
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
    current.commit(list)
    with pytest.raises(Fenced):
        zombie.commit(list)
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
    first.commit(list)
    # The broker came back empty: same topic name, new id, offsets from 0 again.
    second = PartitionWriter(lake, TOPIC, 0, topic_id="id-2")
    assert second.recover() == 0
    for offset in range(3):
        second.batch.add(offset, "2026-11-20", orjson.dumps(observation(100 + offset)))
    second.commit(list)
    names = lake.list("raw/date=2026-11-20")
    assert names == [file_name(TOPIC, 0, 0, 4), file_name(TOPIC, 0, 5, 7)]
    assert len(committed(lake)) == 8
    state = PartitionState.from_json(lake.read_atomic("raw/_state/weather.observations+0.json"))
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
        writer.commit(list, sealed)
    assert committed(lake.inner) == []
    assert writer.commit(list, sealed) == 5  # the same batch again, intact
    assert writer.commit(list) == 8
    assert writer.seal() is None  # nothing left to commit
    assert sorted(key_of(r) for _, _, r in committed(lake.inner)) == sorted(key_of(observation(i)) for i in range(8))
    assert lake.inner.list("raw/date=2026-11-20") == [file_name(TOPIC, 0, 0, 4), file_name(TOPIC, 0, 5, 7)]
