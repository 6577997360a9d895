"""Backups while the pipeline runs, verification, retention, restore, and the sink resuming exactly once."""

from __future__ import annotations

import getpass
import threading
import uuid
from collections import Counter

import orjson
import pytest
import requests
from click.testing import CliRunner

from tests.conftest import HDFS_USER
from tests.factories import key_of, observation
from tests.ingest.test_pipeline import expected_keys, lake_keys, publish, running_sink, wait_for
from tests.lake.test_export import Feed, lake_lines
from tests.lakeview import commit_batch
from tests.scheduler_process import scheduler_process
from weatherlake.backup import core
from weatherlake.backup.commands import backup, restore
from weatherlake.backup.core import BackupError, create_backup, list_backups, restore_backup, verify_backup
from weatherlake.config import Settings
from weatherlake.errors import ConfigError
from weatherlake.ingest import kafka
from weatherlake.ingest.compact import compact_date
from weatherlake.ingest.sink import LakeSink, SinkError
from weatherlake.lake import LocalLake, WebHdfsLake, layout, open_lake, open_location


def snapshottable_root(engines) -> str:
    """A lake root of its own that its user may snapshot (made so by HDFS's superuser, as
    scripts/init_hdfs.sh does; not under the engines' /weather_data, which is snapshottable
    itself, and HDFS does not nest them)."""
    return owned_root(engines, "/backup-tests", {"op": "ALLOWSNAPSHOT"})


def owned_root(engines, parent: str, *more: dict) -> str:
    """A new directory under ``parent`` that HDFS's superuser made the lake user's."""
    root = f"{parent}/test-{uuid.uuid4().hex[:10]}"
    for params in ({"op": "MKDIRS", "permission": "755"}, {"op": "SETOWNER", "owner": HDFS_USER}, *more):
        answer = requests.put(f"{engines.hdfs.webhdfs_url}/webhdfs/v1{root}",
                              params={"user.name": getpass.getuser(), **params}, timeout=10)
        assert answer.ok, answer.text
    return root


@pytest.fixture(params=["local", pytest.param("hdfs", marks=pytest.mark.engines)])
def on(request, make_settings):
    """(settings on the embedded broker or the engines, the lake they name)."""
    if request.param == "local":
        broker = request.getfixturevalue("broker")
        settings = make_settings(broker, sink_max_records=400, sink_max_age_seconds=0.3)
    else:
        engines = request.getfixturevalue("engines")
        settings = make_settings(engines=engines, sink_max_records=400, sink_max_age_seconds=0.3,
                                 lake_root=snapshottable_root(engines))
    lake = open_lake(settings)
    yield settings, lake
    if isinstance(lake, WebHdfsLake):
        for backup_id in lake.list(core.BACKUPS):
            if core.BACKUP_ID.fullmatch(backup_id):
                lake.delete_snapshot(backup_id)
    lake.close()


@pytest.mark.broker
def test_a_lake_backed_up_while_data_flows_is_restored_and_the_sink_resumes_exactly_once(on):
    settings, lake = on
    kafka.ensure_topics(settings)
    total = 4000
    with running_sink(settings, lake):
        publish(settings, 1500)
        wait_for(lambda: len(lake_keys(lake)) >= 1500, 60, "1500 records in the lake")
        for day in layout.raw_dates(lake):
            compact_date(lake, day, target_bytes=16 * 1024)
        feeding = threading.Thread(target=publish, args=(settings, 1500, 1500))
        feeding.start()  # the backup is taken while records arrive and the sink commits
        manifest = create_backup(lake, keep=3)
        feeding.join()
        publish(settings, total - 3000, 3000)
        wait_for(lambda: len(lake_keys(lake)) >= total, 90, f"{total} records in the lake")
    assert lake_keys(lake) == expected_keys(total)
    assert not verify_backup(lake, manifest.id)[1]
    # The lake is damaged: a day's files gone, another file's bytes changed.
    days = layout.raw_dates(lake)
    lake.delete_tree(layout.date_dir(days[0]))
    with pytest.raises(BackupError, match="holds data"):
        restore_backup(lake, manifest.id)
    restore_backup(lake, manifest.id, force=True)
    in_backup = len(lake_keys(lake))
    assert 1500 <= in_backup < total
    with running_sink(settings, lake):
        wait_for(lambda: len(lake_keys(lake)) >= total, 90, f"{total} records in the lake again")
    keys = Counter(key_of(r) for r in [observation(i) for i in range(total)])
    assert Counter(lake_keys(lake)) == keys  # every record once: none lost, none twice


def test_a_merged_file_reaching_past_the_backups_state_is_cut_at_its_segment(tmp_path, monkeypatch):
    """The sink commits and compaction merges after the state was linked: the restore keeps
    only the commits the state knows, so the sink takes the rest from Kafka again."""
    lake = LocalLake(tmp_path / "lake")
    feed = Feed(lake, partitions=1)
    feed.rounds(3)
    before = lake_lines(lake)
    state_offset = feed.offsets[0]
    locked = core._date_locked

    def later_commits_then_lock(lake_, date, wait):
        if not getattr(later_commits_then_lock, "done", False):
            later_commits_then_lock.done = True
            feed.rounds(2)
            for day in layout.raw_dates(lake):
                compact_date(lake, day)
        return locked(lake_, date, wait)

    monkeypatch.setattr(core, "_date_locked", later_commits_then_lock)
    manifest = create_backup(lake, keep=3)
    assert manifest.partitions["weather.observations+0"]["next_offset"] == state_offset
    restore_backup(lake, manifest.id, force=True)
    assert lake_lines(lake) == before
    writer = feed.writers[0].__class__(lake, "weather.observations", 0)
    assert writer.recover() == state_offset  # the sink resumes at the backup's state
    record = observation(10_000)
    writer.batch.add(state_offset, record["timestamp"][:10], orjson.dumps(record))
    commit_batch(writer)
    assert lake_lines(lake) == before + Counter([orjson.dumps(record)])


def test_verify_names_a_changed_and_a_missing_file(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    Feed(lake).rounds(3)
    manifest = create_backup(lake, keep=3)
    assert verify_backup(lake, manifest.id)[1] == []
    frozen = core.frozen_lake(lake, manifest.id)
    raw = [f["path"] for f in manifest.files if f["path"].startswith("raw/date=")]
    with open(frozen.root / raw[0], "r+b") as file:  # a flipped bit in the backup's copy
        first = file.read(1)
        file.seek(0)
        file.write(bytes([first[0] ^ 1]))
    frozen.delete(raw[1])
    problems = verify_backup(lake, manifest.id)[1]
    assert problems == [f"{raw[0]}: its SHA-256 differs from the manifest's", f"{raw[1]}: missing"]
    with pytest.raises(BackupError, match="does not match its manifest"):
        restore_backup(lake, manifest.id, force=True)


@pytest.mark.parametrize("backend", ["local", pytest.param("hdfs", marks=pytest.mark.engines)])
def test_only_the_newest_backups_are_kept(backend, request, tmp_path):
    if backend == "local":
        lake = LocalLake(tmp_path / "lake")
    else:
        engines = request.getfixturevalue("engines")
        lake = WebHdfsLake(engines.hdfs.webhdfs_url, HDFS_USER, snapshottable_root(engines))
    Feed(lake).rounds(2)
    ids = [create_backup(lake, keep=2).id for _ in range(3)]
    assert [m.id for m in list_backups(lake)] == ids[1:]
    assert sorted(n for n in lake.list(core.BACKUPS) if core.BACKUP_ID.fullmatch(n)) == ids[1:]
    status = core.backup_status(lake)
    assert status["last"]["ok"] and [run["backup_id"] for run in status["runs"]] == ids
    if backend == "hdfs":
        assert lake.sublake(".snapshot").list(".") == ids[1:]
        for backup_id in ids[1:]:
            lake.delete_snapshot(backup_id)


@pytest.mark.parametrize("place", ["local", pytest.param("hdfs", marks=pytest.mark.engines)])
def test_a_copy_in_a_second_place_restores_a_lake_lost_whole(place, request, tmp_path):
    """The commands with --copy-to and --from: a file:/// directory, or another HDFS
    named by its WebHDFS address (webhdfs://namenode:9870/dir)."""
    def settings_of(lake_dir):
        return Settings.from_env({"LAKE_URL": (tmp_path / lake_dir).as_uri(), "HDFS_USER": HDFS_USER})

    settings = settings_of("lake")
    lake = open_lake(settings)
    Feed(lake).rounds(4)
    before = lake_lines(lake)
    if place == "local":
        second = (tmp_path / "offsite").as_uri()
    else:
        engines = request.getfixturevalue("engines")
        address = engines.hdfs.webhdfs_url.removeprefix("http://")
        second = f"webhdfs://{address}{owned_root(engines, '/backup-copies')}"
    made = CliRunner().invoke(backup, ["--copy-to", second], obj=settings)
    assert made.exit_code == 0, made.output
    backup_id = made.stdout.strip().removeprefix("BACKUP_ID=")
    assert core.load_manifest(lake, backup_id)[0].copies == [open_location(settings, second).url]
    lost = settings_of("new-lake")  # the lake and its own backups are gone
    verified = CliRunner().invoke(backup, ["verify", backup_id, "--from", second], obj=lost)
    assert verified.exit_code == 0, verified.output
    restored = CliRunner().invoke(restore, [backup_id, "--from", second], obj=lost)
    assert restored.exit_code == 0, restored.output
    assert lake_lines(open_lake(lost)) == before


@pytest.mark.parametrize(("url", "webhdfs"), [
    ("hdfs://namenode:8020/backups", "http://webhdfs-of-the-lake:9870"),  # the lake's own HDFS: WEBHDFS_URL
    ("hdfs://other:8020/backups", "http://other:9870"),
    ("webhdfs://other:50070/backups", "http://other:50070"),
    ("webhdfs://other/backups", "http://other:9870"),
])
def test_a_second_place_on_hdfs_is_reached_over_webhdfs(url, webhdfs):
    settings = Settings.from_env({"LAKE_URL": "hdfs://namenode:8020/weather_data",
                                  "WEBHDFS_URL": "http://webhdfs-of-the-lake:9870"})
    place = open_location(settings, url)
    assert isinstance(place, WebHdfsLake) and place.url == f"{webhdfs}/webhdfs/v1/backups"


@pytest.mark.parametrize("url", ["s3://bucket/backups", "hdfs:///no-host", "webhdfs://other:port/x", "file://host/x",
                                 "relative/dir"])
def test_a_second_place_it_cannot_reach_is_one_config_error(url):
    with pytest.raises(ConfigError, match="--copy-to"):
        open_location(Settings.from_env({}), url)


def test_the_sink_does_not_start_while_a_restore_is_unfinished(make_settings):
    settings = make_settings()
    lake = open_lake(settings)
    lake.write_atomic(layout.RESTORE_MARKER, b'{"backup_id": "20261206T000000Z-abcd"}')
    with pytest.raises(SinkError, match="restore of the lake is in progress"):
        LakeSink(settings, lake).run(threading.Event())


def test_the_commands_back_up_list_verify_and_restore(make_settings, tmp_path):
    settings = make_settings()
    lake = open_lake(settings)
    Feed(lake).rounds(3)
    before = lake_lines(lake)
    made = CliRunner().invoke(backup, [], obj=settings)
    assert made.exit_code == 0, made.output
    backup_id = made.stdout.strip().removeprefix("BACKUP_ID=")
    assert core.BACKUP_ID.fullmatch(backup_id)
    listed = CliRunner().invoke(backup, ["list"], obj=settings)
    assert listed.exit_code == 0 and listed.stdout.startswith(backup_id)
    assert CliRunner().invoke(backup, ["verify", backup_id], obj=settings).exit_code == 0
    refused = CliRunner().invoke(restore, [backup_id], obj=settings)
    assert refused.exit_code == 1 and "--force" in str(refused.exception or refused.output)
    lake.delete_tree("raw")
    done = CliRunner().invoke(restore, [backup_id, "--force"], obj=settings)
    assert done.exit_code == 0, done.output
    assert lake_lines(lake) == before
    assert CliRunner().invoke(restore, ["not-an-id", "--force"], obj=settings).exit_code == 1


def test_the_scheduler_backs_the_lake_up_on_its_own_rhythm_and_records_each_run(tmp_path):
    settings = Settings.from_env({"LAKE_URL": tmp_path.as_uri(), "BACKUP_KEEP": "2"})
    lake = open_lake(settings)
    Feed(lake).rounds(2)
    with scheduler_process({"LAKE_URL": tmp_path.as_uri(), "BACKUP_KEEP": "2"}, "--every", "1h", "--wait-first",
                           "--backup-every", "1s", "--no-report-daily") as process:
        wait_for(lambda: len((core.backup_status(lake) or {}).get("runs", [])) >= 3, 60, "three scheduled backups")
    status = core.backup_status(lake)
    assert all(run["ok"] for run in status["runs"])
    assert len(list_backups(lake)) == 2  # BACKUP_KEEP
    assert "a backup every 1s" in process.stderr.read()
