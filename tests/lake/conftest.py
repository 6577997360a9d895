"""Fixtures for the lake tests: each backend, and the WebHDFS double for the HDFS one."""

from __future__ import annotations

import pytest

from tests.conftest import HDFS_USER, hdfs_lake_root
from tests.webhdfs_double import WebHdfsDouble
from weatherlake.lake import LocalLake, WebHdfsLake

ROOT = "/weather_data"
#: Retries that take milliseconds, and timeouts that keep a broken test from hanging.
FAST_RETRIES = {"tries": 3, "backoff_seconds": 0.001, "max_backoff_seconds": 0.004, "timeout_seconds": (2.0, 2.0)}


@pytest.fixture
def hdfs(tmp_path):
    """A WebHDFS NameNode + DataNode double backed by a temporary directory."""
    with WebHdfsDouble(tmp_path / "hdfs") as double:
        yield double
    assert not double.internal_errors, double.internal_errors[0]


@pytest.fixture
def make_webhdfs_lake(hdfs):
    """Build WebHdfsLakes against the double (fast retries unless overridden); closed after."""
    lakes = []

    def make(url: str | None = None, **options) -> WebHdfsLake:
        lake = WebHdfsLake(url or hdfs.url, "hadoop", ROOT, **{**FAST_RETRIES, **options})
        lakes.append(lake)
        return lake

    yield make
    for lake in lakes:
        lake.close()


@pytest.fixture(params=["local", "webhdfs-double", pytest.param("hdfs", marks=pytest.mark.engines)])
def lake(request, tmp_path):
    """Every backend in turn: the contract suite runs against each.

    ``hdfs`` is the real thing (the session's engines); the double stays for the faults
    real HDFS cannot be made to show on demand.
    """
    if request.param == "local":
        yield LocalLake(tmp_path / "local" / ROOT.strip("/"))
    elif request.param == "webhdfs-double":
        yield request.getfixturevalue("make_webhdfs_lake")()
    else:
        engines = request.getfixturevalue("engines")
        lake = WebHdfsLake(engines.hdfs.webhdfs_url, HDFS_USER, hdfs_lake_root())
        yield lake
        lake.close()
