"""Compaction merges small files without ever losing or doubling a record, even when crashed."""

from __future__ import annotations

import orjson
import pytest

from tests.conftest import HDFS_USER, hdfs_lake_root
from tests.crashing_lake import Crash, CrashingLake
from tests.factories import key_of, observation
from tests.lakeview import committed
from weatherlake.ingest.compact import compact_date, live_files, plan
from weatherlake.ingest.sink import TMP, PartitionWriter, file_name
from weatherlake.lake import LocalLake, WebHdfsLake

TOPIC = "weather.observations"
DAY = "2026-11-20"


def fill(lake, partitions=2, per_partition=30, batch=4) -> set:
    """Commit small batches as the sink does; return the keys written."""
    keys = set()
    for partition in range(partitions):
        writer = PartitionWriter(lake, TOPIC, partition)
        writer.recover()
        for offset in range(per_partition):
            record = observation(offset * partitions + partition)
            writer.batch.add(offset, record["timestamp"][:10], orjson.dumps(record))
            keys.add(key_of(record))
            if writer.batch.count == batch:
                writer.commit(list)
        writer.commit(list)
    return keys


@pytest.fixture(params=["local", pytest.param("hdfs", marks=pytest.mark.engines)])
def make_lake(request, tmp_path):
    """Fresh lakes: directories, or lake roots of their own on the real HDFS."""
    lakes = []

    def make(name: str):
        if request.param == "local":
            return LocalLake(tmp_path / name)
        engines = request.getfixturevalue("engines")
        lakes.append(WebHdfsLake(engines.hdfs.webhdfs_url, HDFS_USER, hdfs_lake_root()))
        return lakes[-1]

    yield make
    for lake in lakes:
        lake.close()


def day_keys(lake) -> list:
    return [key_of(r) for d, _, r in committed(lake) if d == f"date={DAY}"]


def test_compaction_merges_each_partitions_files_into_one(make_lake):
    lake = make_lake("lake")
    fill(lake)
    before = sorted(day_keys(lake))
    files_before = lake.list(f"raw/date={DAY}")
    result = compact_date(lake, DAY)
    files_after = lake.list(f"raw/date={DAY}")
    assert sorted(day_keys(lake)) == before
    assert len(files_after) == 2 < len(files_before)
    assert result.input_files == len(files_before) and result.merged_files == 2
    assert compact_date(lake, DAY).merged_files == 0  # nothing left to do


def test_crash_at_every_step_is_recovered_and_readers_never_see_doubles(make_lake):
    probe = CrashingLake(make_lake("probe"))
    fill(probe.inner, per_partition=12)
    compact_date(probe, DAY)
    steps = probe.operations
    for crash_at in range(1, steps + 1):
        inner = make_lake(f"crash-{crash_at}")
        fill(inner, per_partition=12)
        expected = sorted(day_keys(inner))
        with pytest.raises(Crash):
            compact_date(CrashingLake(inner, crash_at), DAY)
        assert sorted(day_keys(inner)) == expected, f"reader saw a loss or a double after crash {crash_at}"
        compact_date(inner, DAY)
        assert sorted(day_keys(inner)) == expected
        assert len(inner.list(f"raw/date={DAY}")) == 2
        assert not [n for n in inner.list(TMP) if n.startswith("compact")]
        assert not inner.exists(f"raw/_state/compact+{DAY}.json")


def test_the_sink_keeps_working_after_compaction(make_lake):
    lake = make_lake("lake")
    fill(lake, partitions=1, per_partition=8)
    compact_date(lake, DAY)
    writer = PartitionWriter(lake, TOPIC, 0)
    assert writer.recover() == 8
    record = observation(8)
    writer.batch.add(8, record["timestamp"][:10], orjson.dumps(record))
    writer.commit(list)
    assert len(day_keys(lake)) == 9


def test_live_files_drop_what_a_merged_file_covers():
    small = [file_name(TOPIC, 0, 0, 9), file_name(TOPIC, 0, 10, 19), file_name(TOPIC, 1, 0, 9)]
    merged = file_name(TOPIC, 0, 0, 19)
    assert live_files([*small, merged]) == sorted([merged, file_name(TOPIC, 1, 0, 9)])
    assert live_files(small) == sorted(small)


def test_plan_merges_only_consecutive_small_files():
    a, b, big, c, d = (file_name(TOPIC, 0, i * 10, i * 10 + 9) for i in range(5))
    sizes = {a: 10, b: 10, big: 1000, c: 10, d: 10}
    assert plan(list(sizes), sizes, target_bytes=100) == [[a, b], [c, d]]
    assert plan([a], {a: 10}, target_bytes=100) == []
