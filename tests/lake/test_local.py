"""LocalLake specifics: what is fsynced, and that rename never overwrites."""

from __future__ import annotations

import os
import stat

import pytest

from weatherlake.errors import TargetExists
from weatherlake.lake import LocalLake

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def fsynced(monkeypatch):
    """Inodes passed to os.fsync, as (inode, is_directory)."""
    seen: list[tuple[int, bool]] = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        info = os.fstat(fd)
        seen.append((info.st_ino, stat.S_ISDIR(info.st_mode)))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    return seen


def inode(path) -> tuple[int, bool]:
    info = os.stat(path)
    return info.st_ino, stat.S_ISDIR(info.st_mode)


def test_write_fsyncs_the_file_and_every_directory_it_created(tmp_path, fsynced):
    lake = LocalLake(tmp_path / "weather_data")
    lake.write("raw/date=2026-11-23/a.jsonl", b"x")
    root = tmp_path / "weather_data"
    expected = {
        inode(root / "raw/date=2026-11-23/a.jsonl"),
        inode(root / "raw/date=2026-11-23"),
        inode(root / "raw"),
        inode(root),
        inode(tmp_path),
    }
    assert expected <= set(fsynced)


def test_rename_fsyncs_both_directories(tmp_path, fsynced):
    lake = LocalLake(tmp_path)
    lake.write("raw/_tmp/a.jsonl", b"x")
    lake.write("raw/date=2026-11-23/other.jsonl", b"y")
    fsynced.clear()
    lake.rename("raw/_tmp/a.jsonl", "raw/date=2026-11-23/a.jsonl")
    assert set(fsynced) == {inode(tmp_path / "raw/_tmp"), inode(tmp_path / "raw/date=2026-11-23")}


def test_write_atomic_fsyncs_before_the_replace_and_leaves_no_temporary(tmp_path, fsynced):
    lake = LocalLake(tmp_path)
    lake.write_atomic("speed/current.json", b"v1")
    lake.write_atomic("speed/current.json", b"v2")
    assert inode(tmp_path / "speed/current.json") in fsynced
    assert os.listdir(tmp_path / "speed") == ["current.json"]


def test_rename_refuses_even_if_the_target_appears_after_any_check(tmp_path, monkeypatch):
    """The refusal comes from link() itself, atomically, not from an earlier look."""
    lake = LocalLake(tmp_path)
    lake.write("a", b"a")
    monkeypatch.setattr(os.path, "lexists", lambda path: False)
    lake.write("b", b"b")
    with pytest.raises(TargetExists):
        lake.rename("a", "b")
    assert (tmp_path / "a").read_bytes() == b"a" and (tmp_path / "b").read_bytes() == b"b"


def test_the_root_is_created_lazily(tmp_path):
    lake = LocalLake(tmp_path / "not" / "yet")
    assert not (tmp_path / "not").exists()
    assert lake.url == (tmp_path / "not" / "yet").as_uri()
    lake.write("a", b"")
    assert (tmp_path / "not" / "yet" / "a").exists()
