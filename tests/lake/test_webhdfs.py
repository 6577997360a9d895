"""WebHdfsLake against the WebHDFS double: redirects, retries, giving up, partial writes."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from tests.webhdfs_double import WebHdfsDouble
from weatherlake.errors import ConfigError, LakeError, LakeUnavailable, TargetExists
from weatherlake.lake import WebHdfsLake

pytestmark = pytest.mark.timeout(30)

COMMITTED = "raw/date=2026-11-23/weather.observations+0+0000000042+0000000141.jsonl"
TMP = "raw/_tmp/weather.observations+0+0000000042.jsonl"


def test_write_and_read_follow_the_redirect_to_the_datanode(hdfs, make_webhdfs_lake):
    lake = make_webhdfs_lake()
    lake.write(COMMITTED, b"0123456789")
    assert lake.read(COMMITTED) == b"0123456789"
    path = "/weather_data/" + COMMITTED
    assert hdfs.ops() == [
        ("namenode", "CREATE", path),
        ("datanode", "CREATE", path),
        ("namenode", "OPEN", path),
        ("datanode", "OPEN", path),
    ]
    first, second = hdfs.requests[:2]
    assert first.body_size == 0 and first.params["user.name"] == "hadoop"
    assert second.body_size == 10 and second.params["overwrite"].lower() == "true"
    assert second.params["namenoderpcaddress"]  # the client used the Location as given
    assert hdfs.local_path(path).read_bytes() == b"0123456789"


def test_the_datanode_is_reached_by_the_host_name_in_the_redirect(tmp_path):
    with WebHdfsDouble(tmp_path / "hdfs", datanode_host="localhost") as double:
        with WebHdfsLake(double.url, "hadoop", "/weather_data", tries=1) as lake:
            lake.write("a.json", b"{}")
        [datanode_put] = [r for r in double.requests if r.server == "datanode"]
        assert datanode_put.body_size == 2


@pytest.mark.parametrize("kind", ["connection", "server_error", "standby", "lost_response"])
def test_transient_namenode_failures_are_retried(hdfs, make_webhdfs_lake, kind):
    lake = make_webhdfs_lake(tries=4)
    hdfs.fail_next(3, kind)
    lake.write(COMMITTED, b"data")
    assert lake.read(COMMITTED) == b"data"
    creates = [r for r in hdfs.requests if r.server == "namenode" and r.op == "CREATE"]
    assert [r.fault for r in creates] == [kind, kind, kind, None]


@pytest.mark.parametrize("kind", ["safemode", "retriable"])
def test_safe_mode_refusals_are_retried_where_hdfs_raises_them(hdfs, make_webhdfs_lake, kind):
    lake = make_webhdfs_lake(tries=3)
    hdfs.fail_next(2, kind)  # CREATE is refused by the DataNode's create() call
    lake.write(TMP, b"data")
    hdfs.fail_next(2, kind)  # MKDIRS before the rename
    hdfs.fail_next(2, kind, op="RENAME")
    lake.rename(TMP, COMMITTED)
    assert lake.read(COMMITTED) == b"data"
    assert hdfs.pending_faults() == 0
    refused = [(r.server, r.op) for r in hdfs.requests if r.fault == kind]
    assert refused == [("datanode", "CREATE")] * 2 + [("namenode", "MKDIRS")] * 2 + [("namenode", "RENAME")] * 2


def test_a_namenode_leaving_safe_mode_lets_the_write_through(hdfs, make_webhdfs_lake):
    lake = make_webhdfs_lake(tries=12, backoff_seconds=0.02, max_backoff_seconds=0.1)
    hdfs.safe_mode = True
    threading.Timer(0.1, setattr, (hdfs, "safe_mode", False)).start()
    lake.write(COMMITTED, b"after safe mode")
    assert lake.read(COMMITTED) == b"after safe mode"


def test_a_hung_namenode_times_out_and_is_retried(hdfs, make_webhdfs_lake):
    lake = make_webhdfs_lake(timeout_seconds=(1.0, 0.2))
    hdfs.fail_next(1, "hang", op="GETFILESTATUS")
    started = time.monotonic()
    assert lake.exists(COMMITTED) is False
    assert time.monotonic() - started < 2


def test_each_retry_is_logged_at_warning_with_op_path_and_attempt(hdfs, make_webhdfs_lake, caplog):
    lake = make_webhdfs_lake(tries=3)
    hdfs.fail_next(2, "safemode", op="DELETE")
    with caplog.at_level(logging.WARNING, logger="weatherlake.lake.webhdfs"):
        assert lake.delete(COMMITTED) is False
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(messages) == 2
    assert "delete" in messages[0] and COMMITTED in messages[0] and "attempt 1 of 3" in messages[0]
    assert "SafeModeException" in messages[0]
    assert "attempt 2 of 3" in messages[1]


def test_gives_up_after_the_bounded_tries_with_a_clear_message(hdfs, make_webhdfs_lake):
    secret_url = hdfs.url.replace("http://", "http://hadoop:s3cret@")
    lake = make_webhdfs_lake(secret_url, tries=4)
    hdfs.fail_next(100, "connection")
    started = time.monotonic()
    with pytest.raises(LakeUnavailable) as raised:
        lake.write(COMMITTED, b"data")
    assert time.monotonic() - started < 2
    message = str(raised.value)
    assert hdfs.url in message and "s3cret" not in message and "user.name" not in message
    assert "write" in message and COMMITTED in message and "4 times" in message
    assert len(hdfs.requests) == 4


def test_gives_up_on_persistent_safe_mode(hdfs, make_webhdfs_lake):
    lake = make_webhdfs_lake(tries=3)
    hdfs.safe_mode = True
    with pytest.raises(LakeUnavailable, match="SafeModeException"):
        lake.write_atomic("speed/current.json", b"{}")
    assert lake.read_atomic("speed/current.json") is None  # reads still work in safe mode


def test_an_unreachable_namenode_is_unavailable_quickly(hdfs, make_webhdfs_lake):
    url = hdfs.url
    hdfs.stop()
    lake = make_webhdfs_lake(url, tries=3)
    started = time.monotonic()
    with pytest.raises(LakeUnavailable, match="exists"):
        lake.exists("raw")
    assert time.monotonic() - started < 2


def test_an_unreachable_datanode_is_unavailable(tmp_path):
    with (
        WebHdfsDouble(tmp_path / "hdfs", advertised_datanode="127.0.0.1:9") as double,
        WebHdfsLake(double.url, "hadoop", "/weather_data", tries=2, backoff_seconds=0.001) as lake,
        pytest.raises(LakeUnavailable, match="write"),
    ):
        lake.write(COMMITTED, b"data")


def test_refusals_that_retrying_cannot_fix_are_not_retried(hdfs, make_webhdfs_lake):
    lake = make_webhdfs_lake(tries=5)
    hdfs.fail_next(1, "access_denied")
    with pytest.raises(LakeError, match="AccessControlException") as raised:
        lake.write(COMMITTED, b"data")
    assert not isinstance(raised.value, LakeUnavailable)
    assert len(hdfs.requests) == 1


def test_datanode_dying_mid_write_is_retried_in_full(hdfs, make_webhdfs_lake):
    lake = make_webhdfs_lake()
    data = bytes(range(256)) * 1024
    hdfs.fail_next(1, "datanode_dies", op="CREATE")
    lake.write(COMMITTED, data)
    assert lake.read(COMMITTED) == data


def test_datanode_dying_mid_write_leaves_nothing_at_the_final_name(hdfs, make_webhdfs_lake):
    """Why callers write a temporary name and rename: the partial file is real."""
    lake = make_webhdfs_lake(tries=2)
    data = b"x" * 100_000
    hdfs.fail_next(2, "datanode_dies", op="CREATE")
    with pytest.raises(LakeUnavailable):
        lake.write(TMP, data)
        lake.rename(TMP, COMMITTED)
    assert not lake.exists(COMMITTED)
    assert lake.list("raw") == ["_tmp"]
    partial = hdfs.local_path("/weather_data/" + TMP).read_bytes()
    assert 0 < len(partial) < len(data)  # HDFS keeps what the DataNode received


def test_datanode_dying_mid_read_is_never_returned_as_data(hdfs, make_webhdfs_lake):
    lake = make_webhdfs_lake()
    data = bytes(range(256)) * 512
    lake.write(COMMITTED, data)
    hdfs.fail_next(1, "datanode_dies", op="OPEN")
    assert lake.read(COMMITTED) == data
    hdfs.fail_next(10, "datanode_dies", op="OPEN")
    with pytest.raises(LakeUnavailable):
        lake.read(COMMITTED)


def test_a_rename_whose_answer_was_lost_is_not_reported_as_a_failure(hdfs, make_webhdfs_lake):
    lake = make_webhdfs_lake()
    lake.write(TMP, b"data")
    hdfs.fail_next(1, "lost_response", op="RENAME")
    lake.rename(TMP, COMMITTED)  # the retry answers false: the move was already done
    assert lake.read(COMMITTED) == b"data"
    assert not lake.exists(TMP)


def test_rename_refusal_is_diagnosed_even_when_the_target_appears_late(hdfs, make_webhdfs_lake):
    lake = make_webhdfs_lake()
    lake.write(TMP, b"new")
    other = make_webhdfs_lake()
    # Another writer commits the same name between our check and our RENAME, and our
    # first RENAME is lost on the way: the retry's "false" must still mean TargetExists.
    hdfs.fail_next(1, "connection", op="RENAME")
    original_rename = lake._client.rename

    def rename_after_a_competitor(src, dst):
        if not other.exists(COMMITTED):
            other.write(COMMITTED, b"theirs")
        return original_rename(src, dst)

    lake._client.rename = rename_after_a_competitor
    with pytest.raises(TargetExists):
        lake.rename(TMP, COMMITTED)
    assert lake.read(COMMITTED) == b"theirs"
    assert lake.read(TMP) == b"new"


def test_write_atomic_uses_the_next_protocol_on_hdfs(hdfs, make_webhdfs_lake):
    lake = make_webhdfs_lake()
    lake.write_atomic("speed/current.json", b"v1")
    before = len(hdfs.requests)
    lake.write_atomic("speed/current.json", b"v2")
    path = "/weather_data/speed/current.json"
    assert [(r.server, r.op, r.path, r.params.get("destination")) for r in hdfs.requests[before:]] == [
        ("namenode", "GETFILESTATUS", path, None),  # the main file is there: no crash to recover from
        ("namenode", "CREATE", path + ".next", None),
        ("datanode", "CREATE", path + ".next", None),
        ("namenode", "DELETE", path, None),
        ("namenode", "GETFILESTATUS", path, None),  # rename: the target is free
        ("namenode", "RENAME", path + ".next", path),
    ]
    assert lake.read_atomic("speed/current.json") == b"v2"


def test_the_lake_url_names_the_root_without_credentials():
    lake = WebHdfsLake("http://hadoop:s3cret@namenode:9870/?delegation=abc", "hadoop", "/weather_data/")
    assert lake.url == "http://namenode:9870/webhdfs/v1/weather_data"
    lake.close()


@pytest.mark.parametrize("url", ["", "namenode:9870", "hdfs://namenode:8020", "http://"])
def test_a_bad_webhdfs_url_is_a_config_error(url):
    with pytest.raises(ConfigError, match="WEBHDFS_URL"):
        WebHdfsLake(url, "hadoop")


def test_bad_retry_settings_are_refused():
    with pytest.raises(ValueError):
        WebHdfsLake("http://namenode:9870", "hadoop", tries=0)
