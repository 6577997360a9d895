"""`weatherlake analytics` on real HDFS and a real Spark standalone cluster, served by the API.

Raw records are committed into a lake on the engines' HDFS the way the sink commits them
(WebHDFS, as the lake's user). A standalone Spark master and one worker (1 core, 1g) are
started from the virtualenv's pyspark with the code ``weatherlake up`` uses. Then
``weatherlake analytics`` runs spark-submit against ``hdfs://``, its Hadoop client acting
as HADOOP_USER_NAME. What is proven:

* the job ran on the standalone cluster (an executor on the worker) and read exactly the
  raw files the sink committed (not its ``raw/_tmp`` or ``raw/_state``), a replay's
  copies counted as duplicates;
* every view is published on HDFS: ``analytics/<view>/run=<id>/`` complete with
  ``_SUCCESS``, ``_LATEST`` replaced (an older pointer was there) and naming it, the older
  run pruned, every file owned by the lake's user (driver and executors alike);
* the figures equal a plain-Python computation of the same records;
* the Flask API, reading the lake over WebHDFS, serves those views.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from tests.batch import lakefiles, reference, weather
from tests.conftest import HDFS_USER, free_port, hdfs_lake_root
from tests.ingest.test_pipeline import wait_for
from weatherlake.batch import VIEWS
from weatherlake.batch.commands import analytics
from weatherlake.config import Settings
from weatherlake.ingest.broker import port_open
from weatherlake.lake import WebHdfsLake, open_lake
from weatherlake.speed.published import read_rows
from weatherlake.timefmt import parse_utc
from weatherlake.up import Supervisor, start_spark
from weatherlake.web import create_app

pytestmark = [pytest.mark.spark, pytest.mark.slow]

START = datetime(2026, 11, 19, tzinfo=weather.UTC)
HOURS = 96
REPLAYED = slice(100, 130)
DUPLICATES = REPLAYED.stop - REPLAYED.start
#: A run published before this one: its _LATEST must be replaced and its files pruned.
OLD_RUN = "20200101T000000Z-0000"
#: Short-lived JVMs on a small shared machine: C1 only, so that compiling the JIT's second
#: tier does not take the CPU from the job (halves the run here; results are the same).
QUICK_JIT = "-XX:TieredStopAtLevel=1"
SPARK_ARGS = [
    "--driver-memory", "1g",
    "--conf", "spark.sql.shuffle.partitions=2",
    "--conf", "spark.default.parallelism=2",
    "--conf", "spark.ui.enabled=false",
    "--conf", f"spark.driver.extraJavaOptions={QUICK_JIT}",
    "--conf", f"spark.executor.extraJavaOptions={QUICK_JIT}",
    "--keep-runs", "1",
]


@dataclass(frozen=True)
class SparkCluster:
    master_url: str
    master_ui: str
    work_dir: Path


def alive_workers(master_ui: str) -> int:
    try:
        return requests.get(f"{master_ui}/json/", timeout=5).json().get("aliveworkers", 0)
    except (requests.RequestException, ValueError):
        return 0


@pytest.fixture(scope="module")
def spark_cluster(tmp_path_factory, engines):
    """A standalone master and one worker (1 core, 1g), stopped (by process group) at the end.

    They get what `weatherlake engines start` prints, as `up --engines apache` gives them.
    """
    work_dir = tmp_path_factory.mktemp("spark-work")
    # The worker keeps executors' directories here rather than inside the installed pyspark.
    supervisor = Supervisor({**engines.client_settings(), "SPARK_WORKER_DIR": str(work_dir),
                             "SPARK_DAEMON_MEMORY": "256m", "SPARK_DAEMON_JAVA_OPTS": QUICK_JIT})
    master_ui_port = free_port()
    try:
        master_url = start_spark(supervisor, master_port=free_port(), master_ui_port=master_ui_port,
                                 worker_ui_port=free_port(), worker_cores=1, worker_memory="1g")
        master_ui = f"http://127.0.0.1:{master_ui_port}"
        wait_for(lambda: alive_workers(master_ui) == 1, 120, "the Spark worker to register with the master",
                 interval=0.5)
        yield SparkCluster(master_url, master_ui, work_dir)
    finally:
        supervisor.stop_all()
    assert [name for name, child in supervisor.children if child.poll() is None] == []
    assert not port_open("127.0.0.1", int(master_url.rsplit(":", 1)[1]))


def as_observation(record: dict) -> dict:
    """What the batch layer should see of an accepted record (as in tests/batch/test_end_to_end.py)."""
    return {
        "city_id": record["city_id"],
        "city": record["city"],
        "ts": parse_utc(record["timestamp"]),
        **{m: record[m] for m in ("temperature", "humidity", "pressure", "wind_speed", "rainfall")},
    }


def seed_old_run(lake: WebHdfsLake, view: str) -> None:
    """A complete earlier run of ``view`` and its _LATEST, as an earlier analytics run leaves them."""
    run = f"analytics/{view}/run={OLD_RUN}"
    lake.write(f"{run}/part-00000-old.json", b'{"city_id": "gone-xx"}\n')
    lake.write(f"{run}/_SUCCESS", b"")
    lake.write_atomic(f"analytics/{view}/_LATEST",
                      json.dumps({"view": view, "run_id": OLD_RUN, "path": run, "rows": 1}).encode())


@pytest.fixture(scope="module")
def run(engines, spark_cluster):
    """Raw records committed into HDFS, then one `weatherlake analytics` run over them."""
    settings = Settings.from_env(
        {}, lake_url=engines.hdfs.url, webhdfs_url=engines.hdfs.webhdfs_url, hdfs_user=HDFS_USER,
        lake_root=hdfs_lake_root(), spark_master=spark_cluster.master_url,
    )
    climates = weather.cities(3)
    spike = weather.Injected(climates[1].id, START + timedelta(hours=50), "temperature", 9.0)
    rows = list(weather.observations(climates, START, HOURS, seed=21, anomalies=[spike]))
    recs = lakefiles.as_records(rows, {c.id: c for c in climates})
    with open_lake(settings) as lake:
        lakefiles.sink_write(lake, recs)
        lakefiles.sink_write(lake, recs[REPLAYED])  # a replay: the same records again, at new offsets
        lake.write("raw/_tmp/weather.observations+0+0000099999+0000099999.jsonl", b"in progress\n")
        for view in VIEWS:
            seed_old_run(lake, view)
    # What `weatherlake engines start` prints: HADOOP_USER_NAME is how Spark's Hadoop client
    # (driver and executors) knows the lake's user, HADOOP_CONF_DIR gives it HDFS's settings.
    client = engines.client_settings()
    result = CliRunner().invoke(analytics, ["--job", "all", *SPARK_ARGS], obj=settings,
                                env={k: client[k] for k in ("HADOOP_USER_NAME", "HADOOP_CONF_DIR")})
    return {"settings": settings, "records": recs, "spike": spike, "result": result}


@pytest.fixture(scope="module")
def lake(run):
    with open_lake(run["settings"]) as opened:
        yield opened


def latest(lake: WebHdfsLake, view: str) -> dict:
    data = lake.read_atomic(f"analytics/{view}/_LATEST")
    assert data is not None, f"{view} has no _LATEST"
    return json.loads(data)


def view_rows(lake: WebHdfsLake, view: str) -> list[dict]:
    return read_rows(lake, latest(lake, view))


def statuses(settings: Settings, directory: str) -> dict[str, dict]:
    """Each entry of a lake directory as the NameNode reports it (owner, replication, ...)."""
    answer = requests.get(f"{settings.webhdfs_url}/webhdfs/v1{settings.lake_root}/{directory}",
                          params={"op": "LISTSTATUS", "user.name": HDFS_USER}, timeout=10)
    answer.raise_for_status()
    return {s["pathSuffix"]: s for s in answer.json()["FileStatuses"]["FileStatus"]}


def owners(settings: Settings, directory: str) -> dict[str, str]:
    return {name: status["owner"] for name, status in statuses(settings, directory).items()}


def test_the_command_runs_on_the_standalone_cluster_over_hdfs(run, spark_cluster):
    result, settings = run["result"], run["settings"]
    assert result.exit_code == 0, result.output
    assert settings.lake_uri.startswith("hdfs://")
    assert f"Running all on {spark_cluster.master_url} over {settings.lake_uri}" in result.output
    assert f"reading 4 date directories under {settings.lake_uri}/raw" in result.output
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith("run ") and f"{DUPLICATES} duplicates" in summary
    # An executor ran on the worker: the job did not fall back to running in the driver.
    assert list(spark_cluster.work_dir.glob("app-*/*/stderr")), "no executor ran on the worker"


def test_every_view_is_published_on_hdfs_with_its_latest(run, lake):
    recs = run["records"]
    pointers = {view: latest(lake, view) for view in VIEWS}
    (run_id,) = {p["run_id"] for p in pointers.values()}
    assert run_id > OLD_RUN
    for view, pointer in pointers.items():
        assert pointer["path"] == f"analytics/{view}/run={run_id}"
        assert lake.exists(f"{pointer['path']}/_SUCCESS")
        assert pointer["cutoff"] == lakefiles.iso(START + timedelta(hours=HOURS - 1))
        assert pointer["input"] == {
            "dates": 4, "records": len(recs) + DUPLICATES, "accepted": len(recs), "rejected": 0,
            "malformed": 0, "impossible": 0, "duplicates": DUPLICATES,
        }
        assert pointer["rows"] == len(view_rows(lake, view))
        # No gap in these days, and too few of them for a forecast's backtest.
        assert pointer["rows"] > 0 or view in ("gaps", "forecast", "forecast_skill")
        # _LATEST replaced in place (no staged copy left), the older run pruned (--keep-runs 1).
        assert lake.list(f"analytics/{view}") == ["_LATEST", f"run={run_id}"]


def test_spark_wrote_every_file_as_the_lakes_user(run, lake):
    settings = run["settings"]
    for view in VIEWS:
        directory = latest(lake, view)["path"]
        assert set(owners(settings, f"analytics/{view}").values()) == {HDFS_USER}  # _LATEST: the driver
        part_owners = {name: owner for name, owner in owners(settings, directory).items() if name.startswith("part-")}
        assert part_owners and set(part_owners.values()) == {HDFS_USER}  # part files: the executor
        # One replica, as HDFS's own settings say (a client without them asks for 3, which
        # a one-DataNode HDFS never provides).
        files = [s for s in statuses(settings, directory).values() if s["type"] == "FILE"]
        assert {s["replication"] for s in files} == {1}, view


def test_figures_equal_a_plain_python_computation(run, lake):
    observations = [as_observation(r) for r in run["records"]]
    reference.assert_rows_match(
        view_rows(lake, "city_stats"), reference.city_stats(observations), ("city_id", "period", "period_start")
    )
    reference.assert_rows_match(
        view_rows(lake, "hourly_trends"), reference.hourly_trends(observations), ("city_id", "hour")
    )
    reference.assert_rows_match(
        view_rows(lake, "diurnal_profile"), reference.diurnal_profile(observations), ("city_id", "hour_of_day")
    )
    spike = run["spike"]
    hits = [r for r in view_rows(lake, "anomalies")
            if (r["city_id"], r["timestamp"], r["metric"]) == (spike.city_id, lakefiles.iso(spike.hour), "temperature")]
    assert len(hits) == 1


def test_the_api_serves_the_views_read_from_hdfs(run):
    app = create_app(run["settings"], {"TESTING": True, "RELOAD_SECONDS": 0, "BACKGROUND_REFRESH": False})
    client = app.test_client()
    health = client.get("/api/health").get_json()
    assert health["status"] == "ok" and health["views"] == {view: "ready" for view in VIEWS}

    stats = client.get("/api/city-statistics")
    assert stats.status_code == 200, stats.get_data(as_text=True)[:500]
    observations = [as_observation(r) for r in run["records"]]
    whole_window = [row for row in reference.city_stats(observations) if row["period"] is None]
    served = stats.get_json()["data"]
    assert {row["layer"] for row in served} == {"batch"}
    reference.assert_rows_match(served, whole_window, ("city_id",))

    spike = run["spike"]
    anomalies = client.get(f"/api/anomalies?cities={spike.city_id}&metric=temperature").get_json()["data"]
    assert lakefiles.iso(spike.hour) in {row["timestamp"] for row in anomalies}
