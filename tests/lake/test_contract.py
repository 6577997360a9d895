"""The lake contract, run against every backend (LocalLake; WebHdfsLake over the double and over HDFS)."""

from __future__ import annotations

import threading

import pytest

from tests.crashing_lake import CrashingLake
from weatherlake.errors import LakeError, TargetExists
from weatherlake.lake import Lake, LocalLake, join

pytestmark = pytest.mark.timeout(30)

COMMITTED = "raw/date=2026-11-23/weather.observations+0+0000000042+0000000141.jsonl"


@pytest.mark.parametrize(
    "data",
    [b'{"city_id": "london-gb"}\n', b"", bytes(range(256)) * 64, "zürich °C\n".encode()],
    ids=["jsonl", "empty", "binary", "utf8"],
)
def test_write_then_read_gives_the_same_bytes(lake: Lake, data: bytes):
    lake.write("raw/_tmp/file.bin", data)
    assert lake.read("raw/_tmp/file.bin") == data


def test_write_overwrites(lake: Lake):
    lake.write("speed/current.json", b"old and longer")
    lake.write("speed/current.json", b"new")
    assert lake.read("speed/current.json") == b"new"


def test_write_creates_nested_parents(lake: Lake):
    lake.write("analytics/city_stats/run=20261123T1000Z/part-0.jsonl", b"x")
    assert lake.exists("analytics/city_stats/run=20261123T1000Z")
    assert lake.list("analytics") == ["city_stats"]
    assert lake.list("analytics/city_stats") == ["run=20261123T1000Z"]


def test_write_refuses_str(lake: Lake):
    with pytest.raises(TypeError):
        lake.write("a.json", "not bytes")  # type: ignore[arg-type]


def test_names_with_reserved_url_characters_round_trip(lake: Lake):
    names = [COMMITTED, "raw/with space/a b.jsonl", "raw/per%cent/100%.jsonl", "raw/zürich/ä+ö.jsonl"]
    for index, name in enumerate(names):
        lake.write(name, str(index).encode())
    for index, name in enumerate(names):
        assert lake.read(name) == str(index).encode()
    assert lake.list("raw/date=2026-11-23") == [COMMITTED.rsplit("/", 1)[1]]
    assert lake.list("raw/zürich") == ["ä+ö.jsonl"]
    lake.rename("raw/with space/a b.jsonl", "raw/with space/c+d=e.jsonl")
    assert lake.read("raw/with space/c+d=e.jsonl") == b"1"


def test_read_missing_raises_file_not_found(lake: Lake):
    with pytest.raises(FileNotFoundError):
        lake.read("raw/nothing.jsonl")


@pytest.mark.parametrize(
    ("offset", "length", "expected"),
    [(0, 5, b"01234"), (7, 3, b"789"), (95, 5, b"56789"), (95, 50, b"56789"), (99, 1, b"9")],
    ids=["head", "middle", "tail", "past-the-end", "last-byte"],
)
def test_read_range_gives_that_part_of_the_file(lake: Lake, offset: int, length: int, expected: bytes):
    lake.write(COMMITTED, b"0123456789" * 10)
    assert lake.read_range(COMMITTED, offset, length) == expected


def test_read_range_of_a_missing_file_raises_file_not_found(lake: Lake):
    with pytest.raises(FileNotFoundError):
        lake.read_range("raw/nothing.jsonl", 0, 10)


def test_the_default_read_range_of_a_backend_without_one_reads_through_read(tmp_path):
    lake = CrashingLake(LocalLake(tmp_path))  # implements only the abstract primitives
    lake.write(COMMITTED, b"0123456789")
    assert type(lake).read_range is Lake.read_range
    assert lake.read_range(COMMITTED, 7, 5) == b"789"
    with pytest.raises(FileNotFoundError):
        lake.read_range("raw/nothing.jsonl", 0, 10)


def test_rename_moves_and_creates_target_parents(lake: Lake):
    lake.write("raw/_tmp/batch-1.jsonl", b"records\n")
    lake.rename("raw/_tmp/batch-1.jsonl", COMMITTED)
    assert lake.read(COMMITTED) == b"records\n"
    assert not lake.exists("raw/_tmp/batch-1.jsonl")
    assert lake.list("raw/_tmp") == []


def test_rename_within_a_directory(lake: Lake):
    lake.write("raw/a.jsonl", b"a")
    lake.rename("raw/a.jsonl", "raw/b.jsonl")
    assert lake.list("raw") == ["b.jsonl"]


def test_rename_refuses_an_existing_target_and_leaves_both_files(lake: Lake):
    lake.write("raw/_tmp/new.jsonl", b"new")
    lake.write(COMMITTED, b"committed")
    with pytest.raises(TargetExists):
        lake.rename("raw/_tmp/new.jsonl", COMMITTED)
    assert lake.read(COMMITTED) == b"committed"
    assert lake.read("raw/_tmp/new.jsonl") == b"new"


def test_rename_refuses_an_existing_directory_instead_of_moving_into_it(lake: Lake):
    lake.write("raw/_tmp/new.jsonl", b"new")
    lake.write("raw/date=2026-11-23/other.jsonl", b"other")
    with pytest.raises(TargetExists):
        lake.rename("raw/_tmp/new.jsonl", "raw/date=2026-11-23")
    assert lake.list("raw/date=2026-11-23") == ["other.jsonl"]
    assert lake.read("raw/_tmp/new.jsonl") == b"new"


def test_rename_onto_itself_is_refused_and_keeps_the_file(lake: Lake):
    lake.write("raw/a.jsonl", b"a")
    with pytest.raises(TargetExists):
        lake.rename("raw/a.jsonl", "raw/a.jsonl")
    assert lake.read("raw/a.jsonl") == b"a"


def test_rename_of_a_missing_source_raises_file_not_found(lake: Lake):
    with pytest.raises(FileNotFoundError):
        lake.rename("raw/_tmp/missing.jsonl", COMMITTED)
    assert not lake.exists(COMMITTED)


def test_rename_moves_a_directory(lake: Lake):
    lake.write("analytics/v/_tmp-run/part-0.jsonl", b"p0")
    lake.rename("analytics/v/_tmp-run", "analytics/v/run=1")
    assert lake.read("analytics/v/run=1/part-0.jsonl") == b"p0"
    assert lake.list("analytics/v") == ["run=1"]


def test_delete_a_file_then_again(lake: Lake):
    lake.write("raw/a.jsonl", b"a")
    assert lake.delete("raw/a.jsonl") is True
    assert not lake.exists("raw/a.jsonl")
    assert lake.delete("raw/a.jsonl") is False


def test_delete_an_empty_directory_but_not_a_full_one(lake: Lake):
    lake.write("raw/d/a.jsonl", b"a")
    with pytest.raises(LakeError):
        lake.delete("raw/d")
    assert lake.read("raw/d/a.jsonl") == b"a"
    lake.delete("raw/d/a.jsonl")
    assert lake.delete("raw/d") is True
    assert not lake.exists("raw/d")


def test_delete_refuses_the_root(lake: Lake):
    with pytest.raises(LakeError):
        lake.delete("")


def test_list_gives_sorted_names_of_files_and_directories(lake: Lake):
    for name in ["b.jsonl", "a.jsonl", "_tmp/x", "C.jsonl", "a0.jsonl"]:
        lake.write(f"raw/{name}", b"")
    assert lake.list("raw") == ["C.jsonl", "_tmp", "a.jsonl", "a0.jsonl", "b.jsonl"]
    assert lake.list("") == ["raw"]


def test_list_of_a_missing_directory_is_empty(lake: Lake):
    assert lake.list("raw/date=1999-01-01") == []
    assert lake.list("") == []


def test_list_of_a_file_is_empty(lake: Lake):
    lake.write("raw/a.jsonl", b"a")
    assert lake.list("raw/a.jsonl") == []


def test_sizes_lists_the_files_of_a_directory_with_their_lengths(lake: Lake):
    lake.write("raw/d/a.jsonl", b"abc")
    lake.write("raw/d/empty.jsonl", b"")
    lake.write("raw/d/sub/deeper.jsonl", b"not listed")
    assert lake.sizes("raw/d") == {"a.jsonl": 3, "empty.jsonl": 0}
    assert lake.sizes("raw/missing") == {}
    assert lake.sizes("raw/d/a.jsonl") == {}


def test_exists(lake: Lake):
    lake.write("raw/d/a.jsonl", b"a")
    assert lake.exists("raw/d/a.jsonl")
    assert lake.exists("raw/d")
    assert not lake.exists("raw/d/b.jsonl")
    assert not lake.exists("raw/a.jsonl/below-a-file")


@pytest.mark.parametrize("bad", ["../outside", "raw/../../outside", "raw/run=2026-11-23T10:00:00Z"])
def test_paths_that_escape_the_root_or_hdfs_rejects_are_refused(lake: Lake, bad: str):
    for operation in (
        lambda: lake.read(bad),
        lambda: lake.write(bad, b"x"),
        lambda: lake.rename(bad, "raw/x"),
        lambda: lake.rename("raw/x", bad),
        lambda: lake.delete(bad),
        lambda: lake.list(bad),
        lambda: lake.exists(bad),
    ):
        with pytest.raises(LakeError):
            operation()


def test_join_normalises_inside_the_root():
    assert join("raw", "date=2026-11-23", "a.jsonl") == "raw/date=2026-11-23/a.jsonl"
    assert join("/raw//x/../y") == "raw/y"
    assert join("") == "."


def test_url_is_safe_to_log(lake: Lake):
    assert "@" not in lake.url
    # It names the lake's root (under /weather_data on every backend here).
    assert "/weather_data" in lake.url


# -- write_atomic / read_atomic ---------------------------------------------------------


def test_read_atomic_before_anything_was_written(lake: Lake):
    assert lake.read_atomic("speed/current.json") is None


def test_write_atomic_replaces(lake: Lake):
    lake.write_atomic("speed/current.json", b"v1")
    assert lake.read_atomic("speed/current.json") == b"v1"
    lake.write_atomic("speed/current.json", b"v2")
    assert lake.read_atomic("speed/current.json") == b"v2"
    assert lake.read("speed/current.json") == b"v2"
    assert lake.list("speed") == ["current.json"]  # nothing staged is left behind


def test_read_atomic_falls_back_to_the_staged_file_when_the_main_one_is_gone(lake: Lake):
    # The state after a crash between "delete the old file" and "rename the new one".
    lake.write("speed/current.json.next", b"complete new")
    assert lake.read_atomic("speed/current.json") == b"complete new"


def test_read_atomic_prefers_the_main_file_over_a_half_staged_one(lake: Lake):
    # The state after a crash while staging: the main file is still the truth.
    lake.write("speed/current.json", b"old")
    lake.write("speed/current.json.next", b"half wri")
    assert lake.read_atomic("speed/current.json") == b"old"


def test_write_atomic_after_a_crash_between_delete_and_rename(lake: Lake):
    lake.write("speed/current.json.next", b"v1")  # v1 is current (read_atomic serves it)
    lake.write_atomic("speed/current.json", b"v2")
    assert lake.read_atomic("speed/current.json") == b"v2"
    assert lake.list("speed") == ["current.json"]


def test_readers_see_old_or_new_never_partial_while_a_writer_replaces(lake: Lake):
    versions = [(f"{i:04d}".encode() * 2048) for i in range(12)]  # 8 KiB each, all different
    lake.write_atomic("speed/current.json", versions[0])
    seen: list[bytes | None] = []
    done = threading.Event()

    def read_continuously():
        while not done.is_set():
            seen.append(lake.read_atomic("speed/current.json"))

    reader = threading.Thread(target=read_continuously)
    reader.start()
    try:
        for version in versions[1:]:
            lake.write_atomic("speed/current.json", version)
            done.wait(0.005)  # one writer, not back-to-back: the documented assumption
    finally:
        done.set()
        reader.join()
    assert seen
    assert all(data in versions for data in seen)
    assert lake.read_atomic("speed/current.json") == versions[-1]
