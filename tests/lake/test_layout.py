"""What readers ask the raw layout: the dates, and the files that hold a date's lines."""

from __future__ import annotations

import random

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


def test_live_files_of_a_day_merged_again_and_again_are_the_outermost_merges():
    """Random merges over many commits of two partitions: the live files are exactly the files
    no other covers (the definition, checked against every pair)."""
    rng = random.Random(5)
    names = []
    for partition in (0, 1):
        commits = [(10 * i, 10 * i + rng.randint(0, 9)) for i in range(200)]
        names += [file_name(TOPIC, partition, first, last) for first, last in commits]
        start = 0
        while start < len(commits):  # merges of runs, some of them merged again
            end = min(len(commits), start + rng.randint(1, 20))
            names.append(file_name(TOPIC, partition, commits[start][0], commits[end - 1][1]))
            if rng.random() < 0.3 and end < len(commits):
                names.append(file_name(TOPIC, partition, commits[start][0], commits[min(len(commits), end + 5) - 1][1]))
            start = end
    names = sorted(set(names))
    rng.shuffle(names)
    spans = {n: (n.split("+")[1], int(n.split("+")[2]), int(n.split("+")[3][:10])) for n in names}
    expected = sorted(n for n, (p, lo, hi) in spans.items() if not any(
        q == p and a <= lo and hi <= b and (a, b) != (lo, hi) for q, a, b in spans.values()))
    assert live_files(names) == expected


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
