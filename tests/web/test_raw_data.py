"""`/api/raw-data` under abuse: bounded work per request, shared reads, compaction mid-read.

The lake is real (a directory, or the WebHDFS double for the range reads on HDFS). The
faults are LocalLake subclasses that change one primitive: they follow the lake's
contract and only choose *when* something happens (a listing that waits, a compaction
that lands between the listing and the read).
"""

from __future__ import annotations

import threading
import time
import tracemalloc
from datetime import timedelta

import orjson
import pytest

from tests.web import data
from tests.webhdfs_double import WebHdfsDouble
from weatherlake.ingest.compact import compact_date
from weatherlake.lake import LocalLake, WebHdfsLake
from weatherlake.web import create_app

DAY = "2026-11-20"
DIRECTORY = f"raw/date={DAY}"
CITIES = ("london-gb", "tokyo-jp", "dubai-ae")


def records(count: int, first: int = 0) -> list[dict]:
    """``count`` records, one every 10 s from the start of DAY (so the file order is the time order)."""
    return [data.observation(CITIES[i % 3], data.START + timedelta(seconds=10 * i), i) for i in range(first, first + count)]


def jsonl(rows: list[dict]) -> bytes:
    return b"".join(orjson.dumps(row) + b"\n" for row in rows)


def file_name(partition: int, first: int, last: int) -> str:
    return f"weather.observations+{partition}+{first:010d}+{last:010d}.jsonl"


def newest(rows: list[dict], n: int, city: str | None = None) -> list[str]:
    chosen = [r for r in rows if city is None or r["city_id"] == city]
    return [r["timestamp"] for r in sorted(chosen, key=lambda r: r["timestamp"].replace(".500000", ""), reverse=True)][:n]


def make_app(settings, **config):
    return create_app(settings, {"TESTING": True, "RELOAD_SECONDS": 0, "BACKGROUND_REFRESH": False, **config})


def get(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, (url, response.get_data(as_text=True)[:500])
    return orjson.loads(response.data)


def peak_bytes_of(call) -> tuple[object, int]:
    """(result, the most memory Python held at once during ``call`` beyond what it held before)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = call()
        return result, tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


@pytest.fixture
def big_file(lake):
    """One committed file of 20,000 records (about 6.5 MB)."""
    rows = records(20_000)
    body = jsonl(rows)
    assert len(body) > 6_000_000
    lake.write(f"{DIRECTORY}/{file_name(0, 0, len(rows) - 1)}", body)
    return rows


def test_a_request_reads_the_end_of_a_big_file_not_all_of_it(settings, big_file):
    client = make_app(settings).test_client()
    get(client, "/api/health")  # load the views first: only the raw read is measured
    body, peak = peak_bytes_of(lambda: get(client, "/api/raw-data?limit=5"))
    assert [r["timestamp"] for r in body["data"]] == newest(big_file, 5)
    assert body["complete"] is True
    assert body["scanned"]["bytes"] <= 64 * 1024
    assert peak < 1_000_000, f"{peak:,} bytes held at once to answer 5 rows of a 6.5 MB file"


def test_a_city_that_is_not_in_the_file_stops_at_the_byte_budget(settings, big_file):
    client = make_app(settings, RAW_MAX_BYTES=256 * 1024).test_client()
    get(client, "/api/health")
    body, peak = peak_bytes_of(lambda: get(client, "/api/raw-data?cities=paris-fr"))
    assert body["data"] == [] and body["complete"] is False
    assert body["scanned"]["bytes"] <= 256 * 1024
    assert "complete" in body["message"]
    assert peak < 2_000_000, f"{peak:,} bytes held at once"


def test_records_decoded_are_bounded(settings, big_file):
    client = make_app(settings, RAW_MAX_RECORDS=500).test_client()
    body = get(client, "/api/raw-data?cities=tokyo-jp&limit=1000")
    assert body["scanned"]["records"] == 500 and body["complete"] is False
    # The newest of what was decoded: every third record is Tokyo's.
    assert [r["timestamp"] for r in body["data"]] == newest(big_file[-500:], 1000, "tokyo-jp")


def test_time_is_bounded(settings, big_file):
    # With no time at all, one chunk is read (an answer needs something) and no more.
    client = make_app(settings, RAW_MAX_SECONDS=0).test_client()
    body = get(client, "/api/raw-data?limit=1000")
    assert body["complete"] is False
    assert 0 < body["scanned"]["bytes"] <= 64 * 1024
    assert [r["timestamp"] for r in body["data"]] == newest(big_file, len(body["data"]))


def test_files_are_read_newest_first_across_partitions(settings, lake):
    old, new = records(30), records(30, first=30)
    lake.write(f"{DIRECTORY}/{file_name(1, 0, 29)}", jsonl(old))
    lake.write(f"{DIRECTORY}/{file_name(0, 100, 129)}", jsonl(new))
    body = get(make_app(settings).test_client(), "/api/raw-data?limit=40")
    assert [r["timestamp"] for r in body["data"]] == newest(old + new, 40)
    assert body["complete"] is True and body["date"] == DAY


@pytest.mark.parametrize(
    ("query", "fragment"),
    [("limit=0", "limit must be an integer from 1 to 1000"), ("limit=1001", "limit"), ("limit=ten", "limit"),
     ("date=2026-02-30", "a date like"), ("date=20261120", "a date like"), ("cities=London", "city ids"),
     ("cities=london-gb,", "city ids"), ("day=2026-11-20", "unknown parameter 'day'")],
)
def test_bad_parameters_are_400_json_errors(client, query, fragment):
    body = get(client, "/api/raw-data?" + query, 400)
    assert body["error"]["code"] in ("invalid_parameter", "unknown_parameter")
    assert fragment in body["error"]["message"]


# --- one read for identical requests in flight ---------------------------------------------------


class WaitingLake(LocalLake):
    """Holds every listing of ``raw`` until released, counting them."""

    def __init__(self, root):
        super().__init__(root)
        self.listings = 0
        self.entered = threading.Event()
        self.release = threading.Event()

    def list(self, directory):
        if directory == "raw":
            self.listings += 1
            self.entered.set()
            assert self.release.wait(30), "never released"
        return super().list(directory)


def test_identical_requests_in_flight_share_one_read(settings, lake):
    rows = records(50)
    lake.write(f"{DIRECTORY}/{file_name(0, 0, 49)}", jsonl(rows))
    app = make_app(settings)
    get(app.test_client(), "/api/health")
    waiting = WaitingLake(lake.root)
    app.extensions["weatherlake"]["store"]._lake = waiting
    raw = app.extensions["weatherlake"]["store"].raw
    answers = {}

    def ask(name):
        answers[name] = get(app.test_client(), "/api/raw-data?limit=7")

    first = threading.Thread(target=ask, args=("first",))
    first.start()
    assert waiting.entered.wait(30)
    second = threading.Thread(target=ask, args=("second",))
    second.start()
    deadline = time.monotonic() + 30
    while raw.flights.waiting() < 1 and waiting.listings < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    waiting.release.set()
    first.join(30)
    second.join(30)
    assert waiting.listings == 1
    assert answers["first"]["data"] == answers["second"]["data"]
    assert [r["timestamp"] for r in answers["second"]["data"]] == newest(rows, 7)


def test_a_repeated_request_is_answered_from_the_cache_until_the_reload_period_ends(settings, lake):
    lake.write(f"{DIRECTORY}/{file_name(0, 0, 49)}", jsonl(records(50)))
    app = make_app(settings, RELOAD_SECONDS=3600)
    client = app.test_client()
    first = get(client, "/api/raw-data?limit=3")
    lake.write(f"{DIRECTORY}/{file_name(0, 50, 99)}", jsonl(records(50, first=50)))
    assert get(client, "/api/raw-data?limit=3")["data"] == first["data"]
    assert get(client, "/api/raw-data?limit=4")["data"][0]["timestamp"] == newest(records(100), 1)[0]


# --- compaction mid-read ----------------------------------------------------------------------------


class CompactedWhileRead(LocalLake):
    """Compacts the date partition right after it was first listed: the reader then finds
    the files it listed gone, as when `weatherlake compact` runs during a request."""

    def __init__(self, root):
        super().__init__(root)
        self.compacted = False

    def _listed(self, directory):
        if directory == DIRECTORY and not self.compacted:
            self.compacted = True
            assert compact_date(LocalLake(self.root), DAY).merged_files == 1

    def list(self, directory):
        names = super().list(directory)
        self._listed(directory)
        return names

    def sizes(self, directory):
        sizes = super().sizes(directory)
        self._listed(directory)
        return sizes


def test_a_file_compacted_away_mid_read_is_read_again_not_a_500(settings, lake):
    rows = records(90)
    for first in (0, 30, 60):
        lake.write(f"{DIRECTORY}/{file_name(0, first, first + 29)}", jsonl(rows[first:first + 30]))
    app = make_app(settings)
    get(app.test_client(), "/api/health")
    compacting = CompactedWhileRead(lake.root)
    app.extensions["weatherlake"]["store"]._lake = compacting
    body = get(app.test_client(), "/api/raw-data?limit=40")
    assert compacting.compacted
    assert [r["timestamp"] for r in body["data"]] == newest(rows, 40)
    assert lake.list(DIRECTORY) == [file_name(0, 0, 89)]


# --- HDFS: ranges, not whole files -------------------------------------------------------------------


def test_on_hdfs_only_ranges_at_the_end_of_the_file_are_read(make_settings, tmp_path):
    rows = records(20_000)
    with WebHdfsDouble(tmp_path / "hdfs") as hdfs:
        settings = make_settings(lake_url="hdfs://127.0.0.1:8020", webhdfs_url=hdfs.url, hdfs_user="hadoop")
        with WebHdfsLake(hdfs.url, "hadoop", settings.lake_root) as lake:
            body = jsonl(rows)
            lake.write(f"{DIRECTORY}/{file_name(0, 0, len(rows) - 1)}", body)
        client = make_app(settings).test_client()
        get(client, "/api/health")
        hdfs.reset()
        answer = get(client, "/api/raw-data?limit=5")
        opens = [r for r in hdfs.requests if r.op == "OPEN" and r.server == "namenode" and DIRECTORY in r.path]
    assert [r["timestamp"] for r in answer["data"]] == newest(rows, 5)
    assert opens, "nothing read"
    assert all(int(r.params["offset"]) >= len(body) - 64 * 1024 for r in opens)
    assert sum(int(r.params["length"]) for r in opens) <= 64 * 1024
