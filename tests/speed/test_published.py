"""Reading what the batch layer published, at the paths weatherlake.batch.publish writes."""

from __future__ import annotations

import orjson
import pytest

from tests.web.lakedata import publish_view
from weatherlake.lake import open_lake
from weatherlake.speed import published


@pytest.fixture
def lake(make_settings):
    with open_lake(make_settings()) as lake:
        yield lake


def test_the_pointer_is_read_where_the_batch_publisher_writes_it(lake):
    publish = pytest.importorskip("weatherlake.batch.publish")  # imports pyspark, starts no JVM
    lake.write_atomic(publish.latest_path("anomalies"), b'{"run_id": "1", "path": "x"}')
    assert published.read_pointer(lake, "anomalies") == {"run_id": "1", "path": "x"}
    assert publish.run_dir("anomalies", "20261121T000000Z-0001") == "analytics/anomalies/run=20261121T000000Z-0001"


def test_a_view_not_published_yet_has_no_pointer(lake):
    assert published.read_pointer(lake, "hourly_trends") is None
    assert published.read_snapshot(lake) is None


def test_rows_come_from_the_part_files_only(lake):
    rows = [{"city_id": "london-gb", "hour_of_day": h, "avg_temperature": 10.0 + h} for h in range(3)]
    pointer = publish_view(lake, "diurnal_profile", rows, cutoff="2026-11-21T05:21:00Z")
    lake.write(pointer["path"] + "/part-00001-5f1c-c000.json", b'{"city_id": "tokyo-jp", "hour_of_day": 0}\n\n')
    loaded = published.read_pointer(lake, "diurnal_profile")
    assert loaded == pointer
    assert [r["city_id"] for r in published.read_rows(lake, loaded)] == ["london-gb"] * 3 + ["tokyo-jp"]


def test_an_unreadable_pointer_is_ignored(lake):
    lake.write_atomic("analytics/city_stats/_LATEST", b"{not json")
    assert published.read_pointer(lake, "city_stats") is None
    lake.write_atomic("analytics/city_stats/_LATEST", b'{"run_id": "x"}')
    assert published.read_pointer(lake, "city_stats") is None


def snapshot_of(temperatures: dict[str, float]) -> dict:
    return {"format": 2, "sequence": 7, "cutoff": "2026-11-21T05:21:00Z", "offsets": {"0": 12},
            "cities": {city_id: {"city": city_id.title(), "latest": {"temperature": t}, "hours": [{"hour": "h"}]}
                       for city_id, t in temperatures.items()}}


def test_a_snapshot_is_a_header_line_and_a_line_per_city_and_decodes_to_what_was_written():
    snapshot = snapshot_of({"london-gb": 8.5, "tokyo-jp": 14.0})
    data = published.encode_snapshot(snapshot)
    assert data.count(b"\n") == 3 and b'"cities"' not in data.splitlines()[0]
    assert published.SnapshotDecoder().decode(data) == snapshot


def test_the_decoder_reuses_the_entries_of_unchanged_cities_and_reads_changed_ones():
    decoder = published.SnapshotDecoder()
    first = decoder.decode(published.encode_snapshot(snapshot_of({"london-gb": 8.5, "tokyo-jp": 14.0})))
    second = decoder.decode(published.encode_snapshot(snapshot_of({"london-gb": 8.5, "tokyo-jp": 15.0, "a-b": 1.0})))
    assert second["cities"]["london-gb"] is first["cities"]["london-gb"]
    assert second["cities"]["tokyo-jp"] == {"city": "Tokyo-Jp", "latest": {"temperature": 15.0}, "hours": [{"hour": "h"}]}
    assert set(second["cities"]) == {"london-gb", "tokyo-jp", "a-b"}


def test_a_snapshot_written_as_one_document_still_decodes(lake):
    snapshot = snapshot_of({"london-gb": 8.5})
    lake.write_atomic(published.SNAPSHOT_PATH, orjson.dumps(snapshot))  # format 1
    assert published.read_snapshot(lake) == snapshot


@pytest.mark.parametrize("data", [b"{not json", b"[1, 2]\n", b'{"format": 2}\n{"no_city_id": 1}\n', b"{}\n[]\n"])
def test_an_unreadable_snapshot_is_ignored(lake, data):
    lake.write_atomic(published.SNAPSHOT_PATH, data)
    assert published.read_snapshot(lake) is None
