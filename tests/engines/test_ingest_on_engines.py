"""Producer -> Apache Kafka -> two sink members -> HDFS, through every fault a cluster shows.

While records stream in, a sink member is SIGKILLed, the Kafka broker is stopped and
started (it keeps its log on disk), the DataNode is stopped and started, and the NameNode
is put into safe mode and let out. Every record must land exactly once.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest

from tests.engines.helpers import log_lines_with
from tests.ingest.test_pipeline import (
    expected_keys,
    group_offsets,
    lake_keys,
    lake_positions,
    publish,
    sink_env,
    start_cli,
    wait_for,
)
from tests.lakeview import committed
from weatherlake.ingest import kafka
from weatherlake.lake import open_lake

pytestmark = pytest.mark.slow

#: What a member says while the lake refuses it: holding a batch, or (in the middle of a
#: rebalance) waiting to read a partition's state.
HOLDING = ("cannot commit to the lake", "lake unavailable while")


def lake_env(settings, **extra) -> dict:
    return sink_env(settings, WEBHDFS_URL=settings.webhdfs_url, HDFS_USER=settings.hdfs_user,
                    LAKE_ROOT=settings.lake_root, **extra)


class Feeder(threading.Thread):
    """Publishes records in small chunks until stopped (or ``most`` are out), keeping any
    error for the test: records flow through every fault however fast the machine is."""

    def __init__(self, settings, chunk: int, pause: float, most: int) -> None:
        super().__init__(daemon=True)
        self.settings, self.chunk, self.pause, self.most = settings, chunk, pause, most
        self.sent = 0
        self.errors: list[BaseException] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.is_set() and self.sent < self.most:
                publish(self.settings, self.chunk, start=self.sent)
                self.sent += self.chunk
                time.sleep(self.pause)
        except BaseException as error:  # surfaced by the test
            self.errors.append(error)

    def finish(self) -> int:
        """Stop publishing; the number of records published."""
        self.stopped.set()
        self.join(60)
        assert not self.is_alive() and not self.errors, self.errors
        return self.sent


def test_records_land_exactly_once_through_kills_a_broker_restart_a_datanode_restart_and_safe_mode(
        engines, make_settings, tmp_path):
    settings = make_settings(engines=engines)
    kafka.ensure_topics(settings)
    lake = open_lake(settings)
    env = lake_env(settings, SINK_MAX_RECORDS=100, SINK_MAX_AGE_SECONDS=0.3)
    feeder = Feeder(settings, chunk=50, pause=0.2, most=60_000)
    feeder.start()
    log_path = tmp_path / "sinks.log"
    members = [start_cli(env, "consume", log_path=log_path) for _ in range(2)]
    try:
        def progress(more: int, what: str) -> None:
            before = len(committed(lake))
            wait_for(lambda: len(committed(lake)) >= before + more, 90, what)

        progress(500, "both members to commit")
        members[0].send_signal(signal.SIGKILL)
        members[0].wait()
        progress(300, "the survivor to take over the killed member's partitions")
        members.append(start_cli(env, "consume", log_path=log_path))

        engines.kafka.daemon.stop()
        time.sleep(2)
        engines.kafka.start()
        progress(300, "commits after the broker's restart")

        holding = len(log_lines_with(log_path, *HOLDING))
        engines.hdfs.datanode.stop()
        wait_for(lambda: len(log_lines_with(log_path, *HOLDING)) > holding, 90,
                 "a member to hold its batch while the DataNode is down")
        engines.hdfs.start()
        progress(300, "commits after the DataNode's restart")

        holding = len(log_lines_with(log_path, *HOLDING))
        engines.hdfs.safe_mode("enter")
        try:
            wait_for(lambda: len(log_lines_with(log_path, *HOLDING)) > holding, 90,
                     "a member to hold its batch while the NameNode is in safe mode")
            assert any("safe mode" in line.lower() for line in log_lines_with(log_path, *HOLDING)[holding:])
        finally:
            engines.hdfs.safe_mode("leave")

        count = feeder.finish()
        wait_for(lambda: len(committed(lake)) >= count, 180, f"all {count} records")
        for member in members[1:]:
            member.send_signal(signal.SIGTERM)
            assert member.wait(60) == 0
    finally:
        feeder.stopped.set()
        for member in members:
            if member.poll() is None:
                member.kill()
                member.wait()
    assert lake_keys(lake) == expected_keys(count)
    assert log_lines_with(log_path, "commits resumed")
    # Apache Kafka's watermarks are exact: the group's committed offsets are the topic's
    # end offsets, and the lake's files cover every offset exactly once.
    committed_offsets, end = group_offsets(settings)
    assert committed_offsets == end == lake_positions(committed(lake))
