"""A whole batch run in-process (jobs.run with the test session): windows, reruns, pruning."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.batch import lakefiles, weather
from weatherlake.batch import VIEWS, jobs

pytestmark = pytest.mark.spark

START = datetime(2026, 11, 20, tzinfo=weather.UTC)


@pytest.fixture(scope="module")
def lake_root(tmp_path_factory):
    """Three days for two cities, committed by the sink."""
    root = tmp_path_factory.mktemp("jobs-lake") / "weather_data"
    climates = weather.cities(2)
    rows = list(weather.observations(climates, START, 72, seed=9))
    lakefiles.sink_write(root, lakefiles.as_records(rows, {c.id: c for c in climates}))
    return root


def run(spark, root, views=VIEWS, **kwargs):
    return jobs.run(spark, root.as_uri(), list(views), partitions=2, **kwargs)


def view_files(root, view, run_id):
    folder = root / "analytics" / view / f"run={run_id}"
    return sorted(line for part in folder.glob("part-*") for line in part.read_text().splitlines())


def test_rerunning_over_unchanged_input_gives_the_same_numbers(spark, lake_root):
    first = run(spark, lake_root, run_id="20261123T100000Z-0001")
    second = run(spark, lake_root, run_id="20261123T100100Z-0002")
    assert first["status"] == second["status"] == "published"
    assert first["input"] == second["input"] and first["cutoff"] == second["cutoff"] == "2026-11-22T23:00:00Z"
    for view in VIEWS:
        assert view_files(lake_root, view, first["run_id"]) == view_files(lake_root, view, second["run_id"]), view
        assert lakefiles.latest(lake_root, view)["run_id"] == second["run_id"]


def test_old_runs_are_pruned_keeping_a_few(spark, lake_root):
    for minute in range(2, 6):
        run(spark, lake_root, views=["diurnal_profile"], run_id=f"20261123T10{minute:02d}00Z-00{minute:02d}",
            keep_runs=2)
    runs = sorted(p.name for p in (lake_root / "analytics" / "diurnal_profile").glob("run=*"))
    assert runs == ["run=20261123T100400Z-0004", "run=20261123T100500Z-0005"]


def test_from_and_to_read_only_those_days(spark, lake_root):
    result = run(spark, lake_root, views=["city_stats"], date_from="2026-11-21", date_to="2026-11-21",
                 run_id="20261123T110000Z-0001")
    assert result["input"]["dates"] == 1 and result["input"]["accepted"] == 2 * 24
    assert result["cutoff"] == "2026-11-21T23:00:00Z"
    pointer = lakefiles.latest(lake_root, "city_stats")
    assert pointer["window"] == {"from": "2026-11-21", "to": "2026-11-21"}
    whole = [r for r in lakefiles.read_view(lake_root, "city_stats") if "period" not in r]
    assert {r["first_timestamp"] for r in whole} == {"2026-11-21T00:00:00Z"}


def test_no_raw_data_in_the_window_publishes_nothing(spark, lake_root):
    before = lakefiles.latest(lake_root, "anomalies")
    result = run(spark, lake_root, views=["anomalies"], date_from="2027-01-01")
    assert result["status"] == "no_input" and result["views"] == {}
    assert lakefiles.latest(lake_root, "anomalies") == before


def test_bad_job_arguments_are_refused(spark, lake_root):
    with pytest.raises(jobs.JobError, match="after"):
        run(spark, lake_root, date_from="2026-11-22", date_to="2026-11-21")
    with pytest.raises(jobs.JobError, match="unknown job"):
        jobs.parse_views("city_stats,weekly_magic")
    assert jobs.parse_views("anomalies,city_stats") == ["city_stats", "anomalies"]
    assert jobs.parse_views("all") == list(VIEWS)

