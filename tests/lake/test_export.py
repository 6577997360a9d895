"""The raw export gives every committed line exactly once, through compaction, crashes and new commits."""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from tests.conftest import HDFS_USER, hdfs_lake_root
from tests.crashing_lake import Crash, CrashingLake
from tests.factories import observation
from tests.lakeview import commit_batch, committed
from weatherlake.ingest.compact import CompactionRunning, compact_date
from weatherlake.ingest.sink import PartitionWriter
from weatherlake.lake import LocalLake, WebHdfsLake, layout
from weatherlake.lake.export import Exporter
from weatherlake.lake.segments import INDEX, index_path
from weatherlake.web.cache import BoundedCache

TOPIC = "weather.observations"
START = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)


class Feed:
    """Commits batches as the sink does: partitions round-robin, a batch spanning two dates
    now and then (records out of time order), a dead letter now and then (an offset with no line)."""

    def __init__(self, lake, partitions: int = 3, seed: int = 7) -> None:
        self.writers = [PartitionWriter(lake, TOPIC, p) for p in range(partitions)]
        for writer in self.writers:
            writer.recover()
        self.offsets = [0] * partitions
        self.random = random.Random(seed)
        self.count = 0

    def commit(self, partition: int, size: int) -> None:
        writer = self.writers[partition]
        for _ in range(size):
            offset = self.offsets[partition]
            self.offsets[partition] += 1
            if self.random.random() < 0.05:
                writer.batch.add_dead(offset, None, b"not json", [])
                continue
            # Mostly the current time, sometimes a day back: one batch, two dates.
            late = self.random.random() < 0.2
            record = observation(self.count, START - timedelta(days=1) if late else START, timedelta(minutes=3))
            self.count += 1
            writer.batch.add(offset, record["timestamp"][:10], orjson.dumps(record))
        commit_batch(writer)

    def rounds(self, count: int, size: int = 5) -> None:
        for _ in range(count):
            for partition in range(len(self.writers)):
                self.commit(partition, self.random.randint(1, size))


def lake_lines(lake) -> Counter:
    return Counter(orjson.dumps(record) for _, _, record in committed(lake))


def export_all(exporter: Exporter, positions: dict | None = None, limit: int = 7):
    """Page until the end; (lines, positions, [(partition, position)] in order)."""
    positions = dict(positions or {})
    lines, order = [], []
    while True:
        page = exporter.page(positions, limit)
        lines += [record.line for record in page.records]
        order += [(record.partition, record.position) for record in page.records]
        positions.update(page.positions)
        if not page.more:
            return lines, positions, order


def assert_increasing(order: list) -> None:
    last: dict[str, int] = {}
    for partition, position in order:
        assert position > last.get(partition, -1), f"{partition}: position {position} after {last[partition]}"
        last[partition] = position


@pytest.fixture(params=["local", pytest.param("hdfs", marks=pytest.mark.engines)])
def lake(request, tmp_path):
    if request.param == "local":
        yield LocalLake(tmp_path / "lake")
        return
    engines = request.getfixturevalue("engines")
    with WebHdfsLake(engines.hdfs.webhdfs_url, HDFS_USER, hdfs_lake_root()) as hdfs:
        yield hdfs


def dates(lake) -> list[str]:
    return layout.raw_dates(lake)


def test_paging_gives_every_line_once_in_a_stable_order(lake):
    Feed(lake).rounds(6)
    exporter = Exporter(lambda: lake)
    lines, positions, order = export_all(exporter)
    assert Counter(lines) == lake_lines(lake)
    assert_increasing(order)
    assert export_all(Exporter(lambda: lake), limit=1000)[2] == order  # page size does not change the order
    assert exporter.page(positions, 7).records == []  # nothing new


def test_a_client_keeps_its_place_through_compaction_and_new_commits(lake):
    feed = Feed(lake)
    feed.rounds(5)
    exporter = Exporter(lambda: lake, BoundedCache(1 << 20))
    expected = lake_lines(lake)
    first = exporter.page({}, 11)
    got = [r.line for r in first.records]
    positions = dict(first.positions)
    for day in dates(lake):
        compact_date(lake, day, target_bytes=1 << 20)
    feed.rounds(3)  # new commits, then a second compaction merges merged files with new ones
    for day in dates(lake):
        compact_date(lake, day, target_bytes=1 << 20)
    rest, positions, order = export_all(exporter, positions)
    got += rest
    assert Counter(got) == lake_lines(lake) and sum(lake_lines(lake).values()) > sum(expected.values())
    assert_increasing([(r.partition, r.position) for r in first.records] + order)
    feed.rounds(1)
    new, _, _ = export_all(exporter, positions)
    assert Counter(got + new) == lake_lines(lake) and new  # a later call gives only what is new


def test_positions_do_not_move_when_files_are_merged(lake):
    Feed(lake).rounds(4)
    before = export_all(Exporter(lambda: lake), limit=1000)
    for day in dates(lake):
        compact_date(lake, day, target_bytes=1 << 20)
    assert [n for n in lake.list(INDEX)], "compaction wrote no index"
    after = export_all(Exporter(lambda: lake), limit=1000)
    assert after[2] == before[2] and after[0] == before[0]


def test_a_commit_whose_renames_are_owed_is_given_once_it_is_in_place(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    feed = Feed(lake, partitions=1)
    feed.rounds(2)
    exporter = Exporter(lambda: lake)
    _, positions, _ = export_all(exporter)
    writer = feed.writers[0]
    record = observation(1000, START)
    writer.batch.add(feed.offsets[0], record["timestamp"][:10], orjson.dumps(record))
    batch = writer.seal()
    renames = []
    original = writer._finish_rename
    writer._finish_rename = lambda tmp, final: renames.append((tmp, final))  # the writer dies after its commit point
    writer.commit(batch, list)
    assert renames and exporter.page(positions, 10).records == []
    for tmp, final in renames:
        original(tmp, final)
    assert [orjson.loads(r.line)["timestamp"] for r in exporter.page(positions, 10).records] == [record["timestamp"]]


def test_a_merged_file_written_without_an_index_is_one_segment(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    Feed(lake).rounds(4)
    for day in dates(lake):
        compact_date(lake, day, target_bytes=1 << 20)
    for day in dates(lake):  # a lake whose files were merged before indexes were written
        for name in lake.list(f"{INDEX}/date={day}"):
            lake.delete(f"{INDEX}/date={day}/{name}")
    lines, _, order = export_all(Exporter(lambda: lake), limit=5)
    assert Counter(lines) == lake_lines(lake)
    assert_increasing(order)


def test_every_crash_of_compaction_leaves_the_export_unchanged(tmp_path):
    probe = CrashingLake(LocalLake(tmp_path / "probe"))
    Feed(probe.inner, partitions=2).rounds(3)
    day = dates(probe.inner)[-1]
    compact_date(probe, day, target_bytes=1 << 20)
    for crash_at in range(1, probe.operations + 1):
        inner = LocalLake(tmp_path / f"crash-{crash_at}")
        Feed(inner, partitions=2).rounds(3)
        expected = export_all(Exporter(lambda: inner), limit=1000)  # noqa: B023 - used at once
        with pytest.raises(Crash):
            compact_date(CrashingLake(inner, crash_at), day, target_bytes=1 << 20)
        assert export_all(Exporter(lambda: inner), limit=4)[::2] == expected[::2], f"crash at {crash_at}"  # noqa: B023
        compact_date(inner, day, target_bytes=1 << 20, stale_lock_seconds=0)
        assert export_all(Exporter(lambda: inner), limit=4)[::2] == expected[::2], f"crash at {crash_at}"  # noqa: B023
        merged = {n for n in inner.list(layout.date_dir(day)) if inner.exists(index_path(day, n))}
        assert {n.removesuffix(".json") for n in inner.list(f"{INDEX}/date={day}")} == merged


def test_a_client_paging_while_commits_and_compactions_run_gets_every_line_once(lake):
    """Writers commit, compaction merges in a loop, and a client pages meanwhile with small pages."""
    feed = Feed(lake, seed=11)
    feed.rounds(2)
    stop = threading.Event()
    errors = []

    def compact_forever():
        while not stop.is_set():
            for day in dates(lake):
                try:
                    compact_date(lake, day, target_bytes=4096)
                except CompactionRunning:
                    pass
                except Exception as error:  # noqa: BLE001 - reported below
                    errors.append(error)
                    return

    def write():
        try:
            feed.rounds(25, size=8)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=compact_forever), threading.Thread(target=write)]
    for thread in threads:
        thread.start()
    exporter = Exporter(lambda: lake, BoundedCache(1 << 20))
    got, order, positions = [], [], {}
    pages = 0
    while threads[1].is_alive() or pages < 5:
        page = exporter.page(positions, 6)
        got += [r.line for r in page.records]
        order += [(r.partition, r.position) for r in page.records]
        positions.update(page.positions)
        pages += 1
    threads[1].join()
    stop.set()
    threads[0].join()
    assert not errors
    rest, _, rest_order = export_all(exporter, positions)
    got += rest
    assert Counter(got) == lake_lines(lake)
    assert len(got) == feed.count
    assert_increasing(order + rest_order)
    assert pages > 5
