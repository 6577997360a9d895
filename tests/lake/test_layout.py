"""What readers ask the raw layout: the dates, and the files that hold a date's lines."""

from __future__ import annotations

from weatherlake.lake import LocalLake
from weatherlake.lake.layout import (
    date_dir,
    file_name,
    live_file_sizes,
    live_files,
    newest_first,
    raw_dates,
    tmp_name,
)

TOPIC = "weather.observations"


def test_raw_dates_are_the_date_directories_oldest_first(tmp_path):
    lake = LocalLake(tmp_path)
    for day in ("2026-11-21", "2026-11-19", "2026-11-20"):
        lake.write(f"{date_dir(day)}/{file_name(TOPIC, 0, 0, 0)}", b"{}\n")
    lake.write("raw/_tmp/x.jsonl", b"")
    lake.write("raw/_state/weather.observations+0/000000000001.json", b"{}")
    assert raw_dates(lake) == ["2026-11-19", "2026-11-20", "2026-11-21"]
    assert raw_dates(LocalLake(tmp_path / "empty")) == []


def test_live_files_leave_out_what_a_merged_file_covers_and_other_files():
    small = [file_name(TOPIC, 0, 0, 9), file_name(TOPIC, 0, 10, 19)]
    merged = file_name(TOPIC, 0, 0, 19)
    other_partition = file_name(TOPIC, 1, 0, 9)
    names = [*small, merged, other_partition, "_SUCCESS", tmp_name(merged, 3, "ab12")]
    assert live_files(names) == sorted([merged, other_partition])
    assert live_files(small) == sorted(small)


def test_live_file_sizes_come_from_one_listing(tmp_path):
    lake = LocalLake(tmp_path)
    day = "2026-11-20"
    lake.write(f"{date_dir(day)}/{file_name(TOPIC, 0, 0, 1)}", b"a\nb\n")
    lake.write(f"{date_dir(day)}/{file_name(TOPIC, 0, 2, 2)}", b"c\n")
    lake.write(f"{date_dir(day)}/{file_name(TOPIC, 0, 0, 2)}", b"a\nb\nc\n")
    assert live_file_sizes(lake, day) == {file_name(TOPIC, 0, 0, 2): 6}
    assert live_file_sizes(lake, "2026-11-21") == {}


def test_newest_first_orders_by_last_offset():
    names = [file_name(TOPIC, 0, 0, 9), file_name(TOPIC, 1, 5, 30), file_name(TOPIC, 0, 10, 19)]
    assert newest_first(names) == [names[1], names[2], names[0]]
