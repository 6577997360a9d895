"""End to end: records committed by the sink -> `weatherlake analytics` -> spark-submit
(local mode, a real child process) -> every view published, checked against plain Python."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner

from tests.batch import lakefiles, reference, weather
from weatherlake.batch import VIEWS
from weatherlake.batch.commands import analytics
from weatherlake.config import Settings
from weatherlake.timefmt import parse_utc

pytestmark = [pytest.mark.spark, pytest.mark.slow]

START = datetime(2026, 11, 19, tzinfo=weather.UTC)
HOURS = 96
SPARK_ARGS = [
    "--driver-memory", "1g",
    "--conf", "spark.sql.shuffle.partitions=2",
    "--conf", "spark.default.parallelism=2",
    "--conf", "spark.ui.enabled=false",
]


def as_observation(record: dict) -> dict:
    """What the batch layer should see of an accepted record."""
    return {
        "city_id": record["city_id"],
        "city": record["city"],
        "ts": parse_utc(record["timestamp"]),
        **{m: record[m] for m in ("temperature", "humidity", "pressure", "wind_speed", "rainfall")},
    }


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    base = tmp_path_factory.mktemp("e2e")
    root = base / "weather_data"
    climates = weather.cities(3)
    spike = weather.Injected(climates[1].id, START + timedelta(hours=50), "temperature", 9.0)
    rows = list(weather.observations(climates, START, HOURS, seed=21, anomalies=[spike]))
    recs = lakefiles.as_records(rows, {c.id: c for c in climates})
    lakefiles.sink_write(root, recs)
    lakefiles.sink_write(root, recs[100:130])  # a replay: the same records again, at new offsets
    lakefiles.write_raw_file(  # not from the sink: a hand-copied file with bad lines
        root,
        "2026-11-20",
        "weather.observations+7+0000000000+0000000002.jsonl",
        ['{"city_id": "city-00-xx", "timestamp": "2026-11-20T0', "### not json ###",
         json.dumps({**recs[5], "humidity": 140.0, "timestamp": "2026-11-20T05:30:00Z"})],
    )
    (root / "raw" / "_tmp").mkdir(parents=True, exist_ok=True)
    (root / "raw" / "_tmp" / "weather.observations+0+0000099999+0000099999.jsonl").write_text("in progress\n")
    settings = Settings.from_env({"LAKE_URL": base.as_uri(), "SPARK_MASTER": "local[2]"})
    result = CliRunner().invoke(analytics, ["--job", "all", *SPARK_ARGS], obj=settings)
    return {"root": root, "records": recs, "spike": spike, "result": result}


def test_the_command_runs_spark_submit_and_reports_the_figures(lake):
    result = lake["result"]
    assert result.exit_code == 0, result.output
    assert "reading 4 date directories" in result.output  # the job's progress, streamed
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith("run ") and "city_stats" in summary and "30 duplicates" in summary


def test_every_view_is_published_with_a_correct_latest(lake):
    root, recs = lake["root"], lake["records"]
    pointers = {view: lakefiles.latest(root, view) for view in VIEWS}
    run_ids = {p["run_id"] for p in pointers.values()}
    assert len(run_ids) == 1
    for view, pointer in pointers.items():
        assert pointer["path"] == f"analytics/{view}/run={pointer['run_id']}"
        assert pointer["cutoff"] == lakefiles.iso(START + timedelta(hours=HOURS - 1))
        assert pointer["input"] == {
            "dates": 4,
            "records": len(recs) + 30 + 3,
            "accepted": len(recs),
            "rejected": 3,
            "malformed": 2,
            "impossible": 1,
            "duplicates": 30,
        }
        assert pointer["rows"] == len(lakefiles.read_view(root, view))
        # Every city reports every hour here (no gap), and four days are too few for a
        # forecast's backtest (it needs two weeks of climatology first).
        assert pointer["rows"] > 0 or view in ("gaps", "forecast", "forecast_skill")
        assert pointer["duration_seconds"] > 0 and pointer["format"] == "jsonl"


def test_figures_equal_a_plain_python_computation(lake):
    root = lake["root"]
    observations = [as_observation(r) for r in lake["records"]]
    reference.assert_rows_match(
        lakefiles.read_view(root, "city_stats"), reference.city_stats(observations), ("city_id", "period", "period_start")
    )
    reference.assert_rows_match(
        lakefiles.read_view(root, "hourly_trends"), reference.hourly_trends(observations), ("city_id", "hour")
    )
    reference.assert_rows_match(
        lakefiles.read_view(root, "diurnal_profile"), reference.diurnal_profile(observations), ("city_id", "hour_of_day")
    )


def test_the_injected_spike_is_an_anomaly_with_its_baseline(lake):
    spike = lake["spike"]
    rows = lakefiles.read_view(lake["root"], "anomalies")
    hits = [r for r in rows if (r["city_id"], r["timestamp"], r["metric"]) ==
            (spike.city_id, lakefiles.iso(spike.hour), "temperature")]
    assert len(hits) == 1, rows
    hit = hits[0]
    assert hit["score"] >= 4 and hit["severity"] in ("moderate", "severe", "extreme")
    assert abs(hit["value"] - hit["baseline"] - 9.0) < 2.5  # the 9 degrees, give or take the weather
    assert len(rows) <= 3  # 3 cities x 4 days of ordinary weather besides it


def test_duckdb_reads_the_raw_data_and_the_views_in_one_line_each_and_agrees_with_the_api(lake):
    """The queries of docs/elt.md, run by DuckDB on the lake the run above read and wrote."""
    import duckdb

    from weatherlake.web import create_app

    root = lake["root"]
    db = duckdb.connect()

    def one(sql: str):
        return db.execute(sql).fetchone()[0]

    # Raw data: every committed line, a `date` column from the directory names. The
    # hand-copied file's two broken lines are rows of NULLs; its impossible record is read.
    raw = (f"read_json_auto('{root}/raw/date=*/*.jsonl', format = 'newline_delimited', hive_partitioning = true, "
           "ignore_errors = true)")
    assert one(f"SELECT count(*) FROM {raw}") == len(lake["records"]) + 30 + 3
    assert one(f"SELECT count(*) FROM {raw} WHERE city_id IS NULL") == 2
    distinct = f"(SELECT DISTINCT ON (city_id, timestamp) * FROM {raw} WHERE humidity <= 100)"
    assert one(f"SELECT count(*) FROM {distinct}") == len(lake["records"])
    assert one(f"SELECT count(DISTINCT date) FROM {raw}") == 4
    # A view: the run its _LATEST names.
    view = (f"read_json_auto('{root}/analytics/city_stats/run=*/*.json', hive_partitioning = true) "
            f"WHERE run = (SELECT run_id FROM read_json_auto('{root}/analytics/city_stats/_LATEST'))")
    assert one(f"SELECT count(*) FROM {view}") == len(lakefiles.read_view(root, "city_stats"))
    window = dict(db.execute(f"SELECT city_id, avg_temperature FROM {view} AND period IS NULL").fetchall())

    settings = Settings.from_env({"LAKE_URL": root.parent.as_uri()})
    app = create_app(settings, {"TESTING": True, "RELOAD_SECONDS": 0, "BACKGROUND_REFRESH": False})
    answer = app.test_client().get("/api/city-statistics").get_json()["data"]
    assert {row["city_id"]: row["avg_temperature"] for row in answer} == window
    # The same averages from the raw data, deduplicated.
    from_raw = dict(db.execute(f"SELECT city_id, round(avg(temperature), 4) FROM {distinct} GROUP BY city_id").fetchall())
    assert from_raw == pytest.approx(window, abs=1e-4)


def test_spark_sql_reads_the_raw_data_with_its_date_partitions(lake, spark):
    raw = spark.read.json(f"file://{lake['root']}/raw")  # _tmp and _state are skipped: Spark ignores names with _
    assert "date" in raw.columns
    clean = raw.where("humidity <= 100").dropDuplicates(["city_id", "timestamp"])
    assert clean.count() == len(lake["records"])
