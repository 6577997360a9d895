"""One local SparkSession for the whole batch test session (Spark's own testing advice).

local[2] with 2 shuffle partitions: the machine is small and shared, and the test data
is tiny, so more partitions would only add task overhead.
"""

from __future__ import annotations

import os
import sys

import pytest

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)

TEST_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.driver.memory": "1g",
    "spark.sql.adaptive.coalescePartitions.enabled": "false",
}


@pytest.fixture(scope="session")
def spark():
    from weatherlake.batch.session import build_session

    session = build_session("weatherlake-batch-tests", master="local[2]", conf=TEST_CONF)
    yield session
    session.stop()
