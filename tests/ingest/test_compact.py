"""Compaction merges small files without ever losing or doubling a record, even when crashed."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime

import orjson
import pytest

from tests.conftest import HDFS_USER, hdfs_lake_root
from tests.crashing_lake import Crash, CrashingLake
from tests.factories import key_of, observation
from tests.ingest.test_pipeline import wait_for
from tests.lakeview import commit_batch, committed
from tests.scheduler_process import scheduler_process
from weatherlake.config import Settings
from weatherlake.ingest.compact import (
    CompactionRunning,
    compact_date,
    due_dates,
    live_files,
    locked,
    needs_compaction,
    plan,
)
from weatherlake.ingest.sink import TMP, PartitionWriter, file_name
from weatherlake.lake import LocalLake, WebHdfsLake, open_lake

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
                commit_batch(writer)
        commit_batch(writer)
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
        compact_date(inner, DAY, stale_lock_seconds=0)  # the crashed run is known to be gone
        assert sorted(day_keys(inner)) == expected
        assert len(inner.list(f"raw/date={DAY}")) == 2
        assert not [n for n in inner.list(TMP) if n.startswith("compact")]
        assert not inner.exists(f"raw/_state/compact+{DAY}.json")
        assert [n for n in inner.list("raw/_state") if n.startswith(("compact", ".compact"))] == []


def test_the_sink_keeps_working_after_compaction(make_lake):
    lake = make_lake("lake")
    fill(lake, partitions=1, per_partition=8)
    compact_date(lake, DAY)
    writer = PartitionWriter(lake, TOPIC, 0)
    assert writer.recover() == 8
    record = observation(8)
    writer.batch.add(8, record["timestamp"][:10], orjson.dumps(record))
    commit_batch(writer)
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


def test_a_second_compaction_of_a_date_is_refused_while_one_runs(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    fill(lake)
    with locked(lake, DAY):
        with pytest.raises(CompactionRunning, match="another compaction"):
            compact_date(lake, DAY)
        assert len(lake.list(f"raw/date={DAY}")) > 2  # nothing merged meanwhile
    assert compact_date(lake, DAY).merged_files == 2


def test_the_lock_of_a_process_that_is_gone_is_taken_over(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    fill(lake)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lake.write(f"raw/_state/compact+{DAY}.lock", orjson.dumps(
        {"token": "dead", "since": time.time(), "host": socket.gethostname(), "pid": int(gone.stdout)}))
    assert compact_date(lake, DAY).merged_files == 2
    assert not lake.exists(f"raw/_state/compact+{DAY}.lock")


def test_recovery_keeps_the_inputs_when_the_merged_file_is_missing(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    fill(lake)
    before = sorted(day_keys(lake))
    inputs = [f"raw/date={DAY}/{name}" for name in lake.list(f"raw/date={DAY}")][:3]
    journal = {"merges": [{"tmp": f"{TMP}/compact+{DAY}+gone.jsonl", "output": f"raw/date={DAY}/gone.jsonl",
                           "inputs": inputs}]}
    lake.write_atomic(f"raw/_state/compact+{DAY}.json", orjson.dumps(journal))
    compact_date(lake, DAY)
    assert sorted(day_keys(lake)) == before


def test_a_sink_finishing_its_commit_after_compaction_merged_the_file_loses_nothing(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    fill(lake, partitions=1, per_partition=8)
    # A writer creates its state generation and stops before its renames (a crash).
    writer = PartitionWriter(lake, TOPIC, 0)
    writer.recover()
    for offset in range(8, 12):
        record = observation(offset)
        writer.batch.add(offset, record["timestamp"][:10], orjson.dumps(record))
    # Its tmp files, the staged state and the state's rename go through; the first rename crashes.
    writer.lake = CrashingLake(lake, crash_at=len(writer.batch.lines) + 3)
    with pytest.raises(Crash):
        commit_batch(writer)
    compact_date(lake, DAY)  # merges the committed files, not the pending one
    # Then the sink again: it finishes the renames, and a second recovery finds all in place.
    assert PartitionWriter(lake, TOPIC, 0).recover() == 12
    compact_date(lake, DAY)
    assert PartitionWriter(lake, TOPIC, 0).recover() == 12
    assert sorted(day_keys(lake)) == sorted(key_of(observation(i)) for i in range(12))


def test_closed_days_left_in_small_files_are_due_and_merged_ones_are_not(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    fill(lake)  # 8 files a partition
    assert due_dates(lake, today="2026-11-21") == [DAY]
    assert due_dates(lake, today=DAY) == []  # not closed: the sink still writes it
    compact_date(lake, DAY)
    assert due_dates(lake, today="2026-11-21") == []


def test_a_day_merged_into_files_near_the_target_size_is_not_due_however_many():
    merged = {file_name(TOPIC, 0, n * 1000, n * 1000 + 999): 120 * 2**20 for n in range(9)}
    assert not needs_compaction(merged)  # 9 files, but no two fit in one
    assert needs_compaction({**merged, file_name(TOPIC, 0, 9000, 9009): 2**20, file_name(TOPIC, 0, 9010, 9019): 2**20})


def test_the_scheduler_compacts_closed_days_on_its_own_exactly_once(tmp_path):
    settings = Settings.from_env({"LAKE_URL": tmp_path.as_uri()})
    lake = open_lake(settings)
    fill(lake)
    before = sorted(day_keys(lake))
    with scheduler_process({"LAKE_URL": tmp_path.as_uri()}, "--every", "1h", "--wait-first", "--compact-every", "1s",
                           "--backup-every", "0", "--no-report-daily") as process:
        today = datetime.now(UTC).date().isoformat()
        wait_for(lambda: not due_dates(lake, today), 60, "the closed day compacted")
    assert sorted(day_keys(lake)) == before
    log = process.stderr.read()
    assert f"compacted {DAY}: " in log, log


READER = """\
#!{python}
# Stands in for spark-submit: lists the closed day's files as Spark does, reads them a few
# seconds later, and says which were gone by then.
import json, os, sys, time
from pathlib import Path
Path(os.environ["FAKE_STARTED"]).touch()
while not os.path.exists(os.environ["FAKE_GO"]):
    time.sleep(0.05)
listed = [str(p) for p in Path(os.environ["FAKE_LAKE"]).rglob("*") if "date={day}" in str(p) and p.is_file()]
time.sleep(3)
Path(os.environ["FAKE_READ"]).write_text(json.dumps({{"listed": len(listed),
                                                     "gone": [p for p in listed if not os.path.exists(p)]}}))
print("WEATHERLAKE_RESULT " + {result!r}, flush=True)
"""


def test_the_scheduler_never_compacts_while_its_analytics_run_reads(tmp_path, monkeypatch):
    """A closed day becomes due while an analytics run reads the lake: compaction, ticking
    every second, waits for the run to end instead of deleting the files it listed."""
    from tests.batch.test_commands import RESULT

    lake_root = tmp_path / "lake"
    settings = Settings.from_env({"LAKE_URL": lake_root.as_uri()})
    lake = open_lake(settings)
    reader = tmp_path / "fake-spark-submit"
    reader.write_text(READER.format(python=sys.executable, day=DAY, result=json.dumps(RESULT)))
    reader.chmod(0o755)
    started, go, read = tmp_path / "started", tmp_path / "go", tmp_path / "read.json"
    monkeypatch.setenv("FAKE_STARTED", str(started))
    monkeypatch.setenv("FAKE_GO", str(go))
    monkeypatch.setenv("FAKE_LAKE", str(lake_root))
    monkeypatch.setenv("FAKE_READ", str(read))
    with scheduler_process({"LAKE_URL": lake_root.as_uri(), "SPARK_MASTER": "local[1]"}, "--every", "1h",
                           "--compact-every", "1s", "--backup-every", "0", "--no-report-daily",
                           "--spark-submit", str(reader)) as process:
        wait_for(started.exists, 60, "the analytics run to start")
        fill(lake)  # a closed day in small files, due for compaction from now on
        go.touch()
        wait_for(read.exists, 60, "the analytics run to read what it listed")
        today = datetime.now(UTC).date().isoformat()
        wait_for(lambda: not due_dates(lake, today), 60, "the closed day compacted after the run")
    outcome = json.loads(read.read_text())
    assert outcome["listed"] >= 8 and outcome["gone"] == [], outcome
    assert f"compacted {DAY}: " in process.stderr.read()
