"""Publishing: run directories, the _LATEST pointer, pruning; and the Spark-side Lake."""

from __future__ import annotations

import json
from datetime import UTC

import pytest

from weatherlake.batch import publish
from weatherlake.batch.hadoopfs import SparkLake
from weatherlake.errors import TargetExists
from weatherlake.lake import LocalLake

pytestmark = pytest.mark.spark


@pytest.fixture
def lake(spark, tmp_path):
    return SparkLake(spark, (tmp_path / "weather_data").as_uri())


def test_spark_lake_implements_the_lake_interface(lake, tmp_path):
    lake.write("a/b/one.json", b"{}")
    assert lake.read("a/b/one.json") == b"{}"
    assert lake.exists("a/b/one.json") and lake.exists("a/b") and not lake.exists("a/c")
    assert lake.list("a/b") == ["one.json"] and lake.list("missing") == []
    assert lake.sizes("a/b") == {"one.json": 2}
    lake.write("a/b/two.json", b"[]")
    with pytest.raises(TargetExists):
        lake.rename("a/b/one.json", "a/b/two.json")
    lake.rename("a/b/one.json", "a/c/one.json")
    with pytest.raises(FileNotFoundError):
        lake.read("a/b/one.json")
    assert lake.delete("a/c/one.json") and not lake.delete("a/c/one.json")
    assert lake.delete_tree("a") and not lake.exists("a/b/two.json")
    # The same files the local backend sees (file:// lakes are plain directories).
    lake.write_atomic("x/_LATEST", b'{"run_id": "1"}')
    lake.write_atomic("x/_LATEST", b'{"run_id": "2"}')
    assert LocalLake(tmp_path / "weather_data").read_atomic("x/_LATEST") == b'{"run_id": "2"}'


def test_run_ids_sort_by_time_and_are_valid_lake_names():
    from datetime import datetime

    first = publish.new_run_id(datetime(2026, 11, 23, 9, 5, tzinfo=UTC))
    second = publish.new_run_id(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    assert first < second and first.startswith("20261123T090500Z-")
    assert publish.RUN_ID.fullmatch(first) and ":" not in first


def test_a_view_is_written_then_published_then_old_runs_pruned(spark, lake, tmp_path):
    rows = spark.createDataFrame([("oslo-no", 1), ("rome-it", 2)], "city_id string, n int")
    run_ids = [f"20261123T10{minute:02d}00Z-abcd" for minute in range(5)]
    for run_id in run_ids:
        publisher = publish.Publisher(lake, run_id)
        written = publisher.write("city_stats", rows)
        assert written.rows == 2 and written.path == f"analytics/city_stats/run={run_id}"
        assert lake.exists(f"{written.path}/_SUCCESS")
        assert publisher.publish("city_stats", {"run_id": run_id, "path": written.path})
        publisher.prune("city_stats", keep=2)

    names = LocalLake(tmp_path / "weather_data").list("analytics/city_stats")
    assert [n for n in names if n.startswith("run=")] == [f"run={r}" for r in run_ids[-2:]]
    latest = json.loads(LocalLake(tmp_path / "weather_data").read_atomic("analytics/city_stats/_LATEST"))
    assert latest == {"run_id": run_ids[-1], "path": f"analytics/city_stats/run={run_ids[-1]}"}
    lines = [json.loads(line) for part in sorted((tmp_path / "weather_data" / latest["path"]).glob("part-*"))
             for line in part.read_text().splitlines()]
    assert sorted(lines, key=lambda r: r["n"]) == [{"city_id": "oslo-no", "n": 1}, {"city_id": "rome-it", "n": 2}]


def test_an_older_run_never_replaces_a_newer_latest_nor_prunes_it(spark, lake):
    newer, older = "20261123T110000Z-aaaa", "20261123T100000Z-bbbb"
    publish.Publisher(lake, newer).publish("anomalies", {"run_id": newer})
    lake.write(f"analytics/anomalies/run={newer}/_SUCCESS", b"")
    lake.write(f"analytics/anomalies/run={older}/_SUCCESS", b"")
    late = publish.Publisher(lake, older)
    assert not late.publish("anomalies", {"run_id": older})
    assert late.read_latest("anomalies")["run_id"] == newer
    assert late.prune("anomalies", keep=1) == []  # its own run is the one kept; the newer is not its to judge
    assert lake.exists(f"analytics/anomalies/run={newer}")


def test_a_run_directory_is_never_overwritten(spark, lake):
    rows = spark.createDataFrame([(1,)], "n int")
    publisher = publish.Publisher(lake, "20261123T100000Z-cccc")
    publisher.write("diurnal_profile", rows)
    with pytest.raises(Exception, match="already exists"):
        publisher.write("diurnal_profile", rows)
