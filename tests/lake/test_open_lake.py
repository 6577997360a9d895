"""open_lake picks the backend from LAKE_URL."""

from __future__ import annotations

import pytest

from weatherlake.config import Settings
from weatherlake.errors import ConfigError
from weatherlake.lake import LocalLake, WebHdfsLake, open_lake


def test_a_file_url_gives_a_local_lake_under_the_root(tmp_path):
    settings = Settings.from_env({"LAKE_URL": tmp_path.as_uri(), "LAKE_ROOT": "/weather_data"})
    lake = open_lake(settings)
    assert isinstance(lake, LocalLake)
    assert lake.root == tmp_path / "weather_data"
    assert settings.lake_uri == lake.url  # what Spark is given is where the lake writes


def test_an_hdfs_url_gives_a_webhdfs_lake(tmp_path):
    settings = Settings.from_env({"LAKE_URL": "hdfs://namenode:8020", "HDFS_USER": "hadoop", "LAKE_ROOT": "/lake"})
    with open_lake(settings) as lake:
        assert isinstance(lake, WebHdfsLake)
        assert lake.url == "http://namenode:9870/webhdfs/v1/lake"
        assert lake.root == "/lake"


def test_an_explicit_webhdfs_url_is_used():
    settings = Settings.from_env({"LAKE_URL": "hdfs://namenode:8020", "WEBHDFS_URL": "http://nn.example:50070"})
    with open_lake(settings) as lake:
        assert lake.url == "http://nn.example:50070/webhdfs/v1/weather_data"


def test_a_remote_file_url_is_refused():
    settings = Settings(lake_url="file://otherhost/data")
    with pytest.raises(ConfigError):
        open_lake(settings)
