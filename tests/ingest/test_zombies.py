"""Members frozen past their session (zombies), killed and restarted, callbacks that fail.

The randomized run's only assertion is the lake's content: every record exactly once.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time

import orjson
import pytest

from tests.factories import observation
from tests.ingest.test_pipeline import expected_keys, lake_keys, publish, sinks_on, start_cli, wait_for
from tests.lakeview import committed
from weatherlake.errors import BrokerError, LakeError
from weatherlake.ingest import kafka
from weatherlake.ingest.sink import REJOIN_SECONDS, STALL_WARNING_SECONDS, LakeSink, PartitionWriter, SinkError
from weatherlake.lake import LocalLake, open_lake


@pytest.mark.slow
@pytest.mark.parametrize("on", ["embedded", pytest.param("apache", marks=pytest.mark.engines)])
def test_members_frozen_past_their_session_killed_and_restarted_leave_every_record_once(
        on, request, make_settings, tmp_path):
    """On the embedded broker and a local lake; on Apache Kafka and HDFS (slower commits, a
    spell of safe mode while a member is frozen, and one of a frozen DataNode: writes hang)."""
    settings, env = sinks_on(on, request, make_settings)
    kafka.ensure_topics(settings)
    lake = open_lake(settings)
    count, chunk = 9000, 50
    errors: list[BaseException] = []

    def feed():
        try:
            for start in range(0, count, chunk):
                publish(settings, chunk, start=start)
                time.sleep(0.15)
        except BaseException as error:  # surfaced below
            errors.append(error)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    log_path = tmp_path / "sinks.log"
    members = [start_cli(env, "consume", log_path=log_path) for _ in range(2)]
    rng = random.Random(13)
    try:
        wait_for(lambda: len(committed(lake)) > 300, 60, "both members to commit")
        for round_ in range(4):
            member = rng.choice([m for m in members if m.poll() is None])
            if round_ == 2:  # a crash among the freezes
                member.send_signal(signal.SIGKILL)
                member.wait()
                members.append(start_cli(env, "consume", log_path=log_path))
            elif round_ == 1 and on == "apache":  # the lake refuses writes for a while (safe mode)
                engines = request.getfixturevalue("engines")
                engines.hdfs.safe_mode("enter")
                member.send_signal(signal.SIGSTOP)
                time.sleep(rng.uniform(7.0, 9.0))
                engines.hdfs.safe_mode("leave")
                member.send_signal(signal.SIGCONT)
            elif round_ == 3 and on == "apache":  # the lake hangs: writes wait on a frozen DataNode
                datanode = request.getfixturevalue("engines").hdfs.datanode.pid()
                os.kill(datanode, signal.SIGSTOP)
                try:
                    member.send_signal(signal.SIGSTOP)
                    time.sleep(rng.uniform(7.0, 9.0))
                    member.send_signal(signal.SIGCONT)
                finally:
                    os.kill(datanode, signal.SIGCONT)
            else:  # frozen past the 6 s session timeout: the group moves on without it
                member.send_signal(signal.SIGSTOP)
                time.sleep(rng.uniform(7.0, 9.0))
                member.send_signal(signal.SIGCONT)
            time.sleep(rng.uniform(1.0, 3.0))
        feeder.join(180)
        assert not feeder.is_alive() and not errors, errors
        wait_for(lambda: len(committed(lake)) >= count, 180, f"all {count} records")
        time.sleep(2)  # a zombie's late commit would land now
        for member in members:
            if member.poll() is None:
                member.send_signal(signal.SIGTERM)
                assert member.wait(60) == 0
    finally:
        for member in members:
            if member.poll() is None:
                member.send_signal(signal.SIGCONT)
                member.kill()
                member.wait()
    assert lake_keys(lake) == expected_keys(count)
    assert lake.list("raw/_tmp") == []


class BrokenLake(LocalLake):
    """A lake whose reads fail with an error the sink does not expect (a bug, say)."""

    def read(self, path: str) -> bytes:
        raise RuntimeError("unexpected failure reading " + path)

    def list(self, directory: str) -> list[str]:
        raise RuntimeError("unexpected failure listing " + directory)


@pytest.mark.broker
def test_a_failing_rebalance_callback_stops_the_sink_with_an_error(broker, make_settings, tmp_path, caplog):
    settings = make_settings(broker)
    kafka.ensure_topics(settings)
    publish(settings, 10)
    sink = LakeSink(settings, BrokenLake(tmp_path / "lake"))
    stop = threading.Event()
    timer = threading.Timer(60, stop.set)  # a bound, should the sink sit silent
    timer.start()
    try:
        with pytest.raises(SinkError, match="cannot own its partitions: unexpected failure"):
            sink.run(stop)
    finally:
        timer.cancel()
    assert not stop.is_set(), "the sink sat silent until stopped"
    assert any("rebalance callback on_partitions_assigned failed" in r.getMessage() for r in caplog.records)


class TimingOutProducer:
    def send(self, *args, **kwargs):
        raise kafka.KafkaTimeoutError("Failed to update metadata after 60.0 secs.")

    def flush(self, timeout=None):
        pass


def test_a_dead_letter_send_that_times_out_is_a_broker_outage_not_a_crash(make_settings, tmp_path):
    sink = LakeSink(make_settings(), LocalLake(tmp_path / "lake"))
    sink.dlq = TimingOutProducer()
    with pytest.raises(BrokerError, match="dead-letter topic .* is unreachable: KafkaTimeoutError"):
        sink._send_dead_letters([(None, b"{bad", [])])


class Message:
    def __init__(self, offset: int) -> None:
        self.offset, self.key = offset, b"london-gb"
        self.value = orjson.dumps(observation(offset))


class SeekingConsumer:
    """What _absorb asks of the consumer when a fetch does not start where it must."""

    def __init__(self, earliest: int) -> None:
        self.earliest, self.seeks = earliest, []

    def seek(self, tp, offset: int) -> None:
        self.seeks.append(offset)

    def beginning_offsets(self, partitions):
        return {tp: self.earliest for tp in partitions}

    def pause(self, *partitions) -> None:
        pass

    def resume(self, *partitions) -> None:
        pass


def test_a_fetch_after_a_gap_is_read_again_then_accepted_as_a_loss_at_kafka(make_settings, tmp_path, caplog):
    tp = kafka.TopicPartition("t", 0)
    sink = LakeSink(make_settings(), LocalLake(tmp_path / "lake"))
    sink.consumer = SeekingConsumer(earliest=15)
    writer = PartitionWriter(sink.lake, "t", 0)
    writer.recover()
    writer.batch.start = 10  # the lake's state says: go on at 10
    sink.writers[tp] = writer
    fetch = [Message(offset) for offset in range(15, 20)]
    sink._absorb(tp, fetch)
    assert sink.consumer.seeks == [10] and writer.batch.count == 0  # read again from 10, this fetch dropped
    sink._absorb(tp, fetch)  # the same gap again: offsets 10-14 are gone (retention)
    assert writer.batch.count == 5 and writer.batch.start == 15
    assert any("offsets 10-14 are deleted by retention" in r.getMessage() for r in caplog.records)


def test_records_before_the_expected_offset_are_skipped_one_by_one(make_settings, tmp_path):
    tp = kafka.TopicPartition("t", 0)
    sink = LakeSink(make_settings(), LocalLake(tmp_path / "lake"))
    sink.consumer = SeekingConsumer(earliest=0)
    writer = PartitionWriter(sink.lake, "t", 0)
    writer.recover()
    writer.batch.start = 12
    sink.writers[tp] = writer
    sink._absorb(tp, [Message(offset) for offset in range(10, 16)])  # 10 and 11 are in the lake already
    assert sink.consumer.seeks == [] and (writer.batch.start, writer.batch.last, writer.batch.count) == (12, 15, 4)


@pytest.mark.parametrize(("dropped", "fallback", "expected"), [(None, None, None), (40, None, 40), (40, 25, 25)])
def test_a_partition_without_lake_state_resumes_where_this_member_dropped_records(make_settings, tmp_path, dropped,
                                                                                  fallback, expected):
    """A member given back a partition keeps its fetch position, past the batch it dropped."""
    sink = LakeSink(make_settings(), LocalLake(tmp_path / "lake"))
    sink.consumer = SeekingConsumer(earliest=0)
    tp = kafka.TopicPartition("t", 0)
    if dropped is not None:
        writer = PartitionWriter(sink.lake, "t", 0)
        writer.recover()
        for offset in range(dropped, dropped + 3):
            writer.batch.add(offset, "2026-11-20", orjson.dumps(observation(offset)))
        sink.writers[tp] = writer
        sink.on_partitions_revoked([tp])
    sink._take(tp, fallback=fallback)
    assert sink.consumer.seeks == ([] if expected is None else [expected])
    assert sink.writers[tp].batch.start == expected


class FailingWrites(LocalLake):
    """A lake whose writes fail while ``down`` is set."""

    down = True

    def write(self, path: str, data: bytes) -> None:
        if self.down:
            raise LakeError("the lake is down")
        super().write(path, data)


@pytest.mark.broker
def test_partitions_given_back_after_a_lake_outage_are_fetched_again(broker, make_settings, tmp_path):
    """kafka-python keeps a partition's paused flag through a rebalance that gives it back.

    Found on the engines: a member paused its partitions while the DataNode was down, lost
    them in a rebalance, saw the lake answer again while it held none (so resumed nothing),
    and was given the same two partitions back, still paused: it fetched nothing more.
    """
    settings = make_settings(broker)
    kafka.ensure_topics(settings)
    lake = FailingWrites(tmp_path / "lake")
    sink = LakeSink(settings, lake)
    sink.consumer = kafka.consumer(settings, None)
    partitions = [kafka.TopicPartition(settings.kafka_topic, p) for p in range(2)]
    sink.consumer.assign(partitions)  # the same fetch state a rebalance keeps for kept partitions
    try:
        sink.on_partitions_assigned(partitions)
        sink.writers[partitions[0]].batch.add(0, "2026-11-20", orjson.dumps(observation(0)))
        sink._flush()  # the lake is down: the batch is held and fetching paused
        assert sink.committer.holding and sink.consumer.paused() == set(partitions)

        sink.on_partitions_revoked(partitions)
        sink.on_partitions_assigned(partitions)  # given back while still holding: stays paused
        assert sink.consumer.paused() == set(partitions)

        sink.on_partitions_revoked(partitions)
        lake.down = False
        sink.committer.retry_at = time.monotonic() - 1
        sink._commit_due()  # the lake answers while the member holds no partition
        assert not sink.committer.holding
        sink.on_partitions_assigned(partitions)
        assert sink.consumer.paused() == set()
    finally:
        sink.committer.close()
        sink.consumer.close(autocommit=False)


@pytest.mark.broker
def test_a_partition_left_paused_with_nothing_committed_is_reported_and_resumed(broker, make_settings, tmp_path,
                                                                                caplog):
    settings = make_settings(broker)
    kafka.ensure_topics(settings)
    sink = LakeSink(settings, LocalLake(tmp_path / "lake"))
    sink.consumer = kafka.consumer(settings, None)
    tp = kafka.TopicPartition(settings.kafka_topic, 0)
    sink.consumer.assign([tp])
    try:
        sink.on_partitions_assigned([tp])
        sink.consumer.pause(tp)
        sink._watch_progress()
        assert sink.consumer.paused() == {tp}, "reported before the stall limit"
        sink._progress[tp] -= STALL_WARNING_SECONDS + 1
        sink._watch_progress()
        assert sink.consumer.paused() == set()
        assert any("none committed for" in r.getMessage() and "left paused" in r.getMessage()
                   for r in caplog.records)
    finally:
        sink.consumer.close(autocommit=False)


class UnansweredConsumer:
    """A member whose join the group never answers: no rebalance callback ever runs."""

    def __init__(self) -> None:
        self.closed, self.topics = False, None

    def subscribe(self, topics, listener=None) -> None:
        self.topics = topics

    def close(self, autocommit=True, timeout_ms=None) -> None:
        self.closed = True


def test_a_member_whose_join_goes_unanswered_joins_again_as_a_new_member(make_settings, tmp_path, monkeypatch,
                                                                         caplog):
    made = []
    monkeypatch.setattr(kafka, "consumer", lambda *args, **kwargs: made.append(UnansweredConsumer()) or made[-1])
    sink = LakeSink(make_settings(), LocalLake(tmp_path / "lake"))
    sink._join()
    sink._watch_assignment()
    assert len(made) == 1, "joined again before the group had time to answer"
    sink._joining_since -= REJOIN_SECONDS
    sink._watch_assignment()
    assert len(made) == 2 and made[0].closed and sink.consumer is made[1]
    assert made[1].topics == [sink.settings.kafka_topic]
    assert any("joining again as a new member" in r.getMessage() for r in caplog.records)
    sink.on_partitions_assigned([])  # the group answers, with nothing to give: no more rejoining
    sink._watch_assignment()
    assert len(made) == 2 and sink._joining_since is None
