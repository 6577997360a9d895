"""The ELT clients of docs/elt.md, run as written against a live server: Airbyte's declarative
manifest (with Airbyte's own runner, ``source-declarative-manifest``) and the plain script."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import orjson
import pytest
from werkzeug.serving import make_server

from tests.lake.test_export import Feed, lake_lines
from tests.web.lakedata import publish_view
from tests.web.test_export_api import TOKEN, line_of
from weatherlake.ingest.compact import compact_date
from weatherlake.lake import layout, open_lake
from weatherlake.web import create_app

ROOT = Path(__file__).resolve().parents[2]
ELT_DOC = ROOT / "docs" / "elt.md"
#: Airbyte's CDK lives in a virtualenv of its own (scripts/bootstrap.sh --test makes it).
AIRBYTE = ROOT / ".venv-airbyte" / "bin" / "source-declarative-manifest"
CITY_STATS = [{"city_id": f"city-{i:04d}", "record_count": i, "avg_temperature": i / 10} for i in range(1500)]


def doc_block(language: str, after: str) -> str:
    """The first ``language`` code block of docs/elt.md after the heading ``after``."""
    text = ELT_DOC.read_text()
    start = text.index(after)
    return re.search(rf"```{language}\n(.*?)```", text[start:], re.S)[1]


@pytest.fixture
def served(make_settings, tmp_path):
    """(lake, feed, base url) of a live server exporting a lake the sink's way of writing filled."""
    tokens = tmp_path / "export_tokens"
    tokens.write_text(f"warehouse {TOKEN}\n")
    settings = make_settings(export_tokens=str(tokens))
    lake = open_lake(settings)
    feed = Feed(lake)
    feed.rounds(6)
    publish_view(lake, "city_stats", CITY_STATS, cutoff="2026-11-21T00:00:00Z")
    httpd = make_server("127.0.0.1", 0, create_app(settings, {"RELOAD_SECONDS": 0}), threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield lake, feed, f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(10)


def airbyte_read(workdir: Path, url: str, state: list | None) -> tuple[list[dict], list]:
    """One sync of every stream; (observations, the final state of each of their streams). The
    city_stats stream must give the view's rows, all of them (over 1,000: it pages), every time."""
    manifest = workdir / "manifest.yaml"
    manifest.write_text(doc_block("yaml", "## Airbyte"))
    (workdir / "config.json").write_bytes(orjson.dumps({"url": url, "token": TOKEN}))
    streams = [{"stream": {"name": f"observations_{n}", "json_schema": {}, "supported_sync_modes": ["incremental"]},
                "sync_mode": "incremental", "destination_sync_mode": "append"} for n in range(3)]
    streams.append({"stream": {"name": "city_stats", "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
                    "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"})
    (workdir / "catalog.json").write_bytes(orjson.dumps({"streams": streams}))
    (workdir / "state.json").write_bytes(orjson.dumps(state or []))
    run = subprocess.run(
        [str(AIRBYTE), "read", "--config", "config.json", "--catalog", "catalog.json", "--state", "state.json",
         "--manifest-path", str(manifest)],
        cwd=workdir, capture_output=True, text=True, timeout=300)
    messages = [orjson.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    failures = [m for m in messages if m.get("type") == "TRACE" and m["trace"].get("type") == "ERROR"]
    assert run.returncode == 0 and not failures, (run.stderr[-3000:], failures)
    records = [m["record"]["data"] for m in messages if m["type"] == "RECORD" and m["record"]["stream"] != "city_stats"]
    views = [m["record"]["data"] for m in messages if m["type"] == "RECORD" and m["record"]["stream"] == "city_stats"]
    assert views == CITY_STATS
    states: dict[str, dict] = {}
    for message in messages:
        if message["type"] == "STATE" and message["state"]["stream"]["stream_descriptor"]["name"] != "city_stats":
            stream_state = message["state"]["stream"]
            states[stream_state["stream_descriptor"]["name"]] = message["state"]
    return records, list(states.values())


def test_the_airbyte_manifest_syncs_everything_once_then_only_what_is_new(served, tmp_path):
    lake, feed, url = served
    feed.rounds(250, size=10)  # over 1,000 records a partition: the manifest's page size, so it pages
    first, state = airbyte_read(tmp_path, url, None)
    assert Counter(line_of(r) for r in first) == lake_lines(lake)
    assert min(Counter(r["_partition"] for r in first).values()) > 1000
    assert sorted(s["stream"]["stream_state"]["_position"] for s in state) == sorted(
        max(r["_position"] for r in first if r["_partition"] == p) for p in {r["_partition"] for r in first})
    for day in layout.raw_dates(lake):  # compaction between two syncs changes nothing for the client
        compact_date(lake, day)
    feed.rounds(2)
    second, _ = airbyte_read(tmp_path, url, state)
    assert second and Counter(line_of(r) for r in first + second) == lake_lines(lake)


def test_the_plain_script_appends_everything_once_across_runs(served, tmp_path):
    lake, feed, url = served
    script = tmp_path / "export.py"
    script.write_text(doc_block("python", "## A plain script"))
    env = {**os.environ, "WEATHERLAKE_URL": url, "WEATHERLAKE_EXPORT_TOKEN": TOKEN}

    def run() -> None:
        done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr

    run()
    feed.rounds(2)
    run()
    output = tmp_path / "observations.jsonl"
    exported = [orjson.loads(line) for line in output.read_bytes().splitlines()]
    assert Counter(line_of(r) for r in exported) == lake_lines(lake)
    # A run that died after writing a page but before saving its cursor: the next run drops that page.
    state = orjson.loads((tmp_path / "observations.state.json").read_bytes())
    with output.open("ab") as sink:
        sink.write(b'{"half": "a page"}\n')
    run()
    assert output.stat().st_size == state["bytes"]
