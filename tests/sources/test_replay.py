"""Replaying a JSON Lines file: good lines as records, bad lines kept byte for byte."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from weatherlake import records
from weatherlake.errors import InvalidRecord, SourceError
from weatherlake.sources import RawLine, ReplaySource, SyntheticSource

T0 = datetime(2026, 11, 23, 10, tzinfo=UTC)


@pytest.fixture
def recording(tmp_path, three_cities):
    """Two hours of three cities, with bad lines mixed in; returns (path, good records)."""
    good = list(SyntheticSource(seed=11).history(three_cities, T0, T0 + timedelta(hours=2)))
    good[1]["source"] = "openweathermap"  # recorded from a real provider: it keeps its origin
    del good[2]["source"]  # no source at all: replay names itself
    lines = [records.encode(r) for r in good[:3]]
    lines.append(b'{"city_id": "london-gb", "temperature": ')  # cut short
    lines.append(b"\xff\xfe not utf-8 at all")
    lines.append(b"")  # blank: skipped
    lines.append(b"[1, 2, 3]")
    lines += [records.encode(r) for r in good[3:]]
    lines.append(records.encode({**good[0], "humidity": 140.0}))  # decodes, but invalid: for the producer
    path = tmp_path / "recording.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\r\n")
    return path, good


def test_every_line_comes_out_in_order(recording):
    path, good = recording
    items = list(ReplaySource(path).lines())
    kinds = ["raw" if isinstance(item, RawLine) else "record" for item in items]
    assert kinds == ["record"] * 3 + ["raw", "raw", "raw"] + ["record"] * 4
    cut, not_utf8, array = items[3:6]
    assert cut.data == b'{"city_id": "london-gb", "temperature": '
    assert not_utf8.data == b"\xff\xfe not utf-8 at all"
    assert array.data == b"[1, 2, 3]"
    assert cut.reason.startswith("not valid JSON: ")
    assert not_utf8.reason.startswith("not valid JSON: ")
    assert array.reason == "not valid JSON: expected an object, got array"
    assert [raw.line_number for raw in (cut, not_utf8, array)] == [4, 5, 7]
    assert cut.path == str(path)


def test_records_keep_their_fields_but_are_ingested_now(recording):
    path, good = recording
    before = datetime.now(UTC) - timedelta(seconds=1)
    replayed = [item for item in ReplaySource(path).lines() if isinstance(item, dict)]
    for original, item in zip(good, replayed[:-1], strict=True):
        assert {k: v for k, v in item.items() if k not in ("ingested_at", "source")} == {
            k: v for k, v in original.items() if k not in ("ingested_at", "source")
        }
        assert datetime.fromisoformat(item["ingested_at"]) >= before
    assert [item["source"] for item in replayed[:3]] == ["synthetic", "openweathermap", "replay"]
    for item in replayed[:-1]:
        records.validate(item)
    with pytest.raises(InvalidRecord, match="humidity 140.0 out of range"):
        records.validate(replayed[-1])


def test_current_returns_one_tick_per_call(recording):
    path, _ = recording
    source = ReplaySource(path)
    first = source.current()
    assert [type(item).__name__ for item in first] == ["dict"] * 3 + ["RawLine"] * 3
    assert {item["timestamp"] for item in first if isinstance(item, dict)} == {"2026-11-23T10:00:00Z"}
    second = source.current()
    assert [item["timestamp"] for item in second] == ["2026-11-23T11:00:00Z"] * 3
    third = source.current()
    assert [item["timestamp"] for item in third] == ["2026-11-23T10:00:00Z"]  # the invalid copy at the end
    assert source.exhausted  # the end of the file was reached while reading the last tick
    assert source.current() == []
    assert source.current() == []


def test_history_keeps_the_period_and_everything_unreadable(recording, three_cities):
    path, _ = recording
    items = list(ReplaySource(path).history(three_cities, T0 + timedelta(hours=1), T0 + timedelta(hours=2)))
    assert sum(isinstance(item, RawLine) for item in items) == 3
    assert [item["timestamp"] for item in items if isinstance(item, dict)] == ["2026-11-23T11:00:00Z"] * 3


def test_a_missing_file_is_a_source_error(tmp_path):
    source = ReplaySource(tmp_path / "nope.jsonl")
    with pytest.raises(SourceError, match="cannot read replay file"):
        source.current()
    with pytest.raises(SourceError):
        list(source.lines())
