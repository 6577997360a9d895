"""GET /api/export/observations: ELT clients page through the raw lake, exactly once."""

from __future__ import annotations

import threading
from collections import Counter

import orjson
import pytest

from tests.factories import key_of
from tests.ingest.test_pipeline import publish, running_sink, wait_for
from tests.lake.test_export import Feed, lake_lines
from tests.lakeview import committed
from tests.web.lakedata import publish_view
from weatherlake.config import Secret
from weatherlake.errors import ConfigError
from weatherlake.ingest import kafka
from weatherlake.ingest.compact import CompactionRunning, compact_date
from weatherlake.lake import layout, open_lake
from weatherlake.web import create_app
from weatherlake.web.export import decode_cursor, encode_cursor

TOKEN = "token-of-the-warehouse-0123"
URL = "/api/export/observations"


@pytest.fixture
def tokens(tmp_path):
    path = tmp_path / "export_tokens"
    path.write_text(f"# client  token\nwarehouse {TOKEN}\n")
    return str(path)


def make_client(settings, **config):
    app = create_app(settings, {"TESTING": True, "RELOAD_SECONDS": 0, "BACKGROUND_REFRESH": False, **config})
    return app.test_client()


def get(client, token: str | None = TOKEN, **params):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(URL, query_string=params, headers=headers)


def page_to_end(client, cursor: str | None = None, limit: int = 50) -> tuple[list[dict], str]:
    records = []
    while True:
        answer = get(client, **({"cursor": cursor} if cursor else {}), limit=limit)
        assert answer.status_code == 200, answer.get_json()
        body = answer.get_json()
        assert body["count"] == len(body["data"])
        records += body["data"]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            return records, cursor


def line_of(record: dict) -> bytes:
    """The lake's line of an exported record (its fields without the two export ones)."""
    return orjson.dumps({k: v for k, v in record.items() if k not in ("_partition", "_position")})


def test_pages_give_the_lake_once_and_a_later_call_only_what_is_new(make_settings, tokens):
    settings = make_settings(export_tokens=tokens)
    lake = open_lake(settings)
    feed = Feed(lake)
    feed.rounds(6)
    client = make_client(settings)
    records, cursor = page_to_end(client, limit=7)
    assert Counter(line_of(r) for r in records) == lake_lines(lake)
    assert all(r["_partition"].startswith("weather.observations+") for r in records)
    for day in layout.raw_dates(lake):
        compact_date(lake, day)
    assert get(client, cursor=cursor).get_json()["data"] == []
    feed.rounds(2)
    new, _ = page_to_end(client, cursor)
    assert Counter(line_of(r) for r in records + new) == lake_lines(lake) and new


def test_a_partition_and_a_position_page_as_the_cursor_does(make_settings, tokens):
    """The form Airbyte's IncrementingCountCursor uses: one integer per partition."""
    settings = make_settings(export_tokens=tokens)
    lake = open_lake(settings)
    Feed(lake).rounds(4)
    client = make_client(settings)
    everything, _ = page_to_end(client, limit=1000)
    partition = everything[0]["_partition"]
    after, got = -1, []
    while True:
        body = get(client, partition=partition, after=after, limit=5).get_json()
        got += body["data"]
        if not body["data"]:
            break
        after = body["data"][-1]["_position"]
    assert got == [r for r in everything if r["_partition"] == partition]
    paged, cursor = [], None  # the sync starts at after; its pages go on with next_cursor
    while True:
        body = get(client, partition=partition, after=-1, limit=5, **({"cursor": cursor} if cursor else {})).get_json()
        paged += body["data"]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            break
    assert paged == got


def test_the_export_needs_a_clients_token_or_the_api_token(make_settings, tokens):
    disabled = get(make_client(make_settings()))
    assert disabled.status_code == 403 and disabled.get_json()["error"]["code"] == "export_disabled"
    client = make_client(make_settings(export_tokens=tokens, api_token=Secret("the-api-token-of-the-admin")))
    assert get(client, token=None).status_code == 401
    assert get(client, token="not-a-token-of-anyone").status_code == 401
    assert get(client).status_code == 200
    assert get(client, token="the-api-token-of-the-admin").status_code == 200
    only_api = make_client(make_settings(api_token=Secret("the-api-token-of-the-admin")))
    assert get(only_api, token="the-api-token-of-the-admin").status_code == 200 and get(only_api).status_code == 401


def test_bad_parameters_are_400_with_a_json_error(make_settings, tokens):
    client = make_client(make_settings(export_tokens=tokens))
    forged = encode_cursor({"v": 1, "positions": {"weather.observations+0": 5}})[:-3] + "AAA"
    for params in ({"cursor": "!!"}, {"cursor": forged}, {"cursor": "eyJ2IjoyfQ"}, {"after": 3},
                   {"partition": "weather.observations+0"}, {"limit": 0}, {"limit": 10_001},
                   {"partition": "no-number", "after": 1}, {"since": "yesterday"}):
        answer = get(client, **params)
        assert answer.status_code == 400, params
        assert answer.get_json()["error"]["code"] in ("invalid_parameter", "unknown_parameter")
    for positions in ({"t+0": -1}, {"t 0": 1}, {"t+0": "1"}, []):
        answer = get(client, cursor=encode_cursor({"v": 1, "positions": positions}))
        assert answer.status_code == 400, positions
    assert decode_cursor(encode_cursor({"v": 1, "positions": {"t+0": 3}})) == {"v": 1, "positions": {"t+0": 3}}


def test_a_client_over_its_rate_gets_429_with_retry_after(make_settings, tokens):
    client = make_client(make_settings(export_tokens=tokens, export_rate_per_minute=3))
    assert [get(client).status_code for _ in range(3)] == [200, 200, 200]
    answer = get(client)
    assert answer.status_code == 429 and int(answer.headers["Retry-After"]) >= 1


def test_a_bad_tokens_file_stops_the_server_naming_the_line(make_settings, tmp_path):
    path = tmp_path / "export_tokens"
    path.write_text(f"warehouse {TOKEN}\nreports short\n")
    with pytest.raises(ConfigError, match=r"EXPORT_TOKENS .*line 2: the token is shorter than 16"):
        make_client(make_settings(export_tokens=str(path)))


@pytest.mark.broker
def test_a_client_paging_while_data_flows_and_compaction_runs_gets_everything_once(broker, make_settings, tokens):
    """Producer -> broker -> sink -> lake, compaction in a loop, and a client paging all along."""
    settings = make_settings(broker, export_tokens=tokens, sink_max_records=300, sink_max_age_seconds=0.3)
    kafka.ensure_topics(settings)
    lake = open_lake(settings)
    client = make_client(settings)
    stop = threading.Event()
    errors = []

    def compact_forever():
        while not stop.is_set():
            for day in layout.raw_dates(lake):
                try:
                    compact_date(lake, day, target_bytes=64 * 1024)
                except CompactionRunning:
                    pass
                except Exception as error:  # noqa: BLE001 - reported below
                    errors.append(error)
                    return
            stop.wait(0.2)

    count = 6000
    compactor = threading.Thread(target=compact_forever)
    with running_sink(settings, lake):
        compactor.start()
        exported, cursor = [], None
        for burst in range(6):
            publish(settings, count // 6, start=burst * count // 6)
            records, cursor = page_to_end(client, cursor, limit=200)
            exported += records
        wait_for(lambda: len(committed(lake)) >= count, 60, f"{count} records in the lake")
        records, cursor = page_to_end(client, cursor, limit=200)
        exported += records
    stop.set()
    compactor.join()
    assert not errors
    assert lake.list("raw/_index"), "compaction merged nothing while the client paged"
    keys = Counter(key_of(r) for r in exported)
    assert len(keys) == count and set(keys.values()) == {1}
    assert Counter(line_of(r) for r in exported) == lake_lines(lake)


def view_rows(n: int, run: str) -> list[dict]:
    return [{"city_id": f"city-{i:03d}", "record_count": i, "run": run} for i in range(n)]


def get_view(client, view: str = "city_stats", **params):
    return client.get(f"/api/export/{view}", query_string=params, headers={"Authorization": f"Bearer {TOKEN}"})


def page_view(client, cursor: str | None = None, limit: int = 4) -> tuple[list[dict], list[dict], str]:
    """(rows, page bodies, last cursor) until has_more is false."""
    rows, bodies = [], []
    while True:
        answer = get_view(client, limit=limit, **({"cursor": cursor} if cursor else {}))
        assert answer.status_code == 200, answer.get_json()
        body = answer.get_json()
        bodies.append(body)
        rows += body["data"]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            return rows, bodies, cursor


def test_a_view_is_paged_whole_then_replaced_by_its_next_run(make_settings, tokens):
    settings = make_settings(export_tokens=tokens)
    lake = open_lake(settings)
    client = make_client(settings)
    assert get_view(client).status_code == 404
    first_run = "20261121T000000Z-0001"
    publish_view(lake, "city_stats", view_rows(10, "first"), cutoff="2026-11-21T00:00:00Z", run_id=first_run)
    lake.write(f"analytics/city_stats/run={first_run}/part-00001-5f1c-c000.json",
               b"".join(orjson.dumps(r) + b"\n" for r in view_rows(13, "first")[10:]))
    rows, bodies, cursor = page_view(client)
    assert rows == view_rows(13, "first") and len(bodies) >= 4
    assert {b["run_id"] for b in bodies} == {first_run} and {b["replaces"] for b in bodies} == {None}
    assert get_view(client, cursor=cursor).get_json()["data"] == []  # nothing newer
    second_run = "20261121T010000Z-0002"
    publish_view(lake, "city_stats", view_rows(5, "second"), cutoff="2026-11-21T01:00:00Z", run_id=second_run)
    rows, bodies, _ = page_view(client, cursor)
    assert rows == view_rows(5, "second")
    assert bodies[0]["run_id"] == second_run and bodies[0]["replaces"] == first_run


def test_a_view_run_removed_while_it_is_paged_is_410(make_settings, tokens):
    settings = make_settings(export_tokens=tokens)
    lake = open_lake(settings)
    client = make_client(settings)
    publish_view(lake, "anomalies", view_rows(6, "first"), cutoff=None, run_id="20261121T000000Z-0001")
    cursor = get_view(client, "anomalies", limit=2).get_json()["next_cursor"]
    run = "analytics/anomalies/run=20261121T000000Z-0001"
    for name in lake.list(run):  # pruned by a later batch run
        lake.delete(f"{run}/{name}")
    lake.delete(run)
    gone = get_view(client, "anomalies", cursor=cursor)
    assert gone.status_code == 410 and gone.get_json()["error"]["code"] == "run_gone"
    assert get_view(client, "no_such_view").status_code == 404
    assert get_view(client, "city_stats", cursor=cursor).status_code == 400  # another view's cursor
