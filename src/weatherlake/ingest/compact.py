"""Compaction: merge a day's small files into few large ones, keeping exactly-once.

Within one date directory, the files of one Kafka partition hold disjoint offset ranges.
A run of consecutive small files of one partition is merged into one file named by the
run's first and last offset, so its range covers exactly the files it replaces and no
other. Each merge is journalled:

1. the merged lines are written to ``raw/_tmp/compact+<name>``, and the merged file's
   index (its segments, :mod:`weatherlake.lake.segments`) beside the date's others;
2. ``raw/_state/compact+<date>.json`` names the output and its inputs — the commit point;
3. the merged file is renamed into the date directory;
4. the inputs are deleted (each with its index, if it was a merged file), then the journal.

A crash before step 2 leaves a stray tmp file and index (deleted on the next run); after it, the
next run finishes steps 3-4 from the journal, deleting a merge's inputs only once its
output is in place. Between steps 3 and 4 a reader can see a merged file and the files
it replaces; :func:`live_files` drops files whose offset range lies inside another
file's, and the batch layer deduplicates on (city_id, timestamp).

One compaction of a date at a time: a run first creates ``raw/_state/compact+<date>.lock``
with a rename that never overwrites, and a second run of the same date is refused while
it is there. A lock whose process is gone (on this host), or older than
:data:`STALE_LOCK_SECONDS` (from another host), is a crashed run's, and taken over. The sink never touches compaction's files, nor compaction the sink's tmp files;
a sink finishing a commit after its file was merged finds its lines in the merged file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from weatherlake.errors import TargetExists, WeatherlakeError
from weatherlake.lake import Lake, join, segments
from weatherlake.lake.layout import (
    STATE,
    TMP,
    date_dir,
    file_name,
    live_file_sizes,
    live_files,
    new_token,
    parse_file_name,
    raw_dates,
)

log = logging.getLogger(__name__)

DEFAULT_TARGET_BYTES = 128 * 1024 * 1024
#: A compaction lock this old belongs to a run that crashed (a run takes seconds to minutes).
STALE_LOCK_SECONDS = 3600.0
#: A closed day with more live files than this per partition is due for compaction.
FILES_PER_PARTITION = 4
#: The newest closed days the scheduler and the daily report look at.
RECENT_DAYS = 7


class CompactionRunning(WeatherlakeError):
    """Another compaction of the same date holds its lock."""


@dataclass(frozen=True)
class CompactionResult:
    merged_files: int = 0
    input_files: int = 0
    recovered: bool = False


def _journal_path(date: str) -> str:
    return join(STATE, f"compact+{date}.json")


def _lock_path(date: str) -> str:
    return join(STATE, f"compact+{date}.lock")


@contextlib.contextmanager
def locked(lake: Lake, date: str, stale_after: float = STALE_LOCK_SECONDS) -> Iterator[None]:
    """Hold the date's compaction lock; CompactionRunning if a live run holds it."""
    path, token = _lock_path(date), new_token()
    staged = join(STATE, f".compact+{date}.lock-{token}")
    lake.write(staged, orjson.dumps({"token": token, "since": time.time(), "host": socket.gethostname(),
                                     "pid": os.getpid()}))
    try:
        for _ in range(2):
            try:
                lake.rename(staged, path)
                break
            except FileNotFoundError:  # the winner swept it away as a leftover
                raise CompactionRunning(f"another compaction of {date} took {path} first") from None
            except TargetExists:
                holder = _lock_holder(lake, path)
                age = time.time() - holder.get("since", 0.0)
                if age < stale_after and not _died_here(holder):
                    raise CompactionRunning(
                        f"another compaction of {date} holds {path} (for {age:.0f} s); "
                        f"a lock older than {stale_after:.0f} s is taken over") from None
                log.warning("taking over the compaction lock of %s, %.0f s old (a crashed run's)", date, age)
                lake.delete(path)
        else:
            raise CompactionRunning(f"another compaction of {date} took {path} first")
    finally:
        lake.delete(staged)
    for name in lake.list(STATE):  # staged locks of crashed runs
        if name.startswith(f".compact+{date}.lock-"):
            lake.delete(join(STATE, name))
    try:
        yield
    finally:
        if _lock_holder(lake, path).get("token") == token:
            lake.delete(path)


def _died_here(holder: dict) -> bool:
    """Whether the lock's process ran on this host and is gone."""
    if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
        return False
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _lock_holder(lake: Lake, path: str) -> dict:
    try:
        return orjson.loads(lake.read(path))
    except FileNotFoundError:
        return {}
    except orjson.JSONDecodeError:
        return {"since": 0.0}  # torn by a crash: a stale lock


def recover(lake: Lake, date: str) -> bool:
    """Finish a merge interrupted after its commit point; drop uncommitted merge output.

    Call with the date's lock held (:func:`locked`).
    """
    journal_path = _journal_path(date)
    data = lake.read_atomic(journal_path)
    recovered = False
    if data is not None:
        try:
            journal = orjson.loads(data)
        except orjson.JSONDecodeError:
            journal = None  # torn first write: the commit point was never reached
        if journal:
            for merge in journal["merges"]:
                with contextlib.suppress(FileNotFoundError, TargetExists):
                    lake.rename(merge["tmp"], merge["output"])
                if not lake.exists(merge["output"]):
                    # Neither the merged file nor its tmp: keep the inputs, they are the data.
                    log.error("compaction of %s: %s is missing; keeping its inputs", date, merge["output"])
                    continue
                _delete_inputs(lake, date, merge["inputs"])
            recovered = True
            log.info("finished an interrupted compaction of %s", date)
        lake.delete(journal_path)
        lake.delete(journal_path + ".next")
    prefix = f"compact+{date}+"
    for name in lake.list(TMP):
        if name.startswith(prefix):  # never reached its commit point
            lake.delete(join(TMP, name))
            output = name[len(prefix):]
            if not lake.exists(join(date_dir(date), output)):
                lake.delete(segments.index_path(date, output))
    return recovered


def _delete_inputs(lake: Lake, date: str, paths: list[str]) -> None:
    """Delete a merge's inputs, each before its index (a merged file always has its index)."""
    for path in paths:
        lake.delete(path)
        lake.delete(segments.index_path(date, path.rpartition("/")[2]))


def plan(names: list[str], sizes: dict[str, int], target_bytes: int) -> list[list[str]]:
    """Runs of consecutive small files per partition worth merging (two or more files each)."""
    by_partition: dict[tuple[str, int], list[tuple[int, int, str]]] = {}
    for name in live_files(names):
        topic, partition, first, last = parse_file_name(name)
        by_partition.setdefault((topic, partition), []).append((first, last, name))
    runs = []
    for files in by_partition.values():
        run: list[str] = []
        run_bytes = 0
        for _, _, name in sorted(files):
            size = sizes[name]
            if size >= target_bytes or run_bytes + size > target_bytes:
                if len(run) > 1:
                    runs.append(run)
                run, run_bytes = ([], 0) if size >= target_bytes else ([name], size)
                continue
            run.append(name)
            run_bytes += size
        if len(run) > 1:
            runs.append(run)
    return runs


def needs_compaction(sizes: dict[str, int], target_bytes: int = DEFAULT_TARGET_BYTES) -> bool:
    """Whether a date's live files (:func:`~weatherlake.lake.layout.live_file_sizes`) are
    more than :data:`FILES_PER_PARTITION` a partition, left as the sink wrote them: a
    compaction would merge some of them (a big day already merged into files near
    ``target_bytes`` has many files and nothing left to merge)."""
    partitions = {parse_file_name(name)[:2] for name in sizes}
    return (bool(partitions) and len(sizes) > FILES_PER_PARTITION * len(partitions)
            and bool(plan(list(sizes), sizes, target_bytes)))


def due_dates(lake: Lake, today: str, days: int = RECENT_DAYS) -> list[str]:
    """The closed dates (before ``today``) among the newest ``days`` raw dates that
    :func:`needs_compaction`, oldest first."""
    closed = [d for d in raw_dates(lake) if d < today][-days:]
    return [d for d in closed if needs_compaction(live_file_sizes(lake, d))]


def compact_date(lake: Lake, date: str, target_bytes: int = DEFAULT_TARGET_BYTES,
                 stale_lock_seconds: float = STALE_LOCK_SECONDS) -> CompactionResult:
    """Merge ``raw/date=<date>``'s small files; safe to re-run and to interrupt at any point.

    Raises :class:`CompactionRunning` while another run of the same date holds its lock.
    """
    with locked(lake, date, stale_lock_seconds):
        return _compact(lake, date, target_bytes)


def _compact(lake: Lake, date: str, target_bytes: int) -> CompactionResult:
    recovered = recover(lake, date)
    directory = date_dir(date)
    sizes = {n: size for n, size in lake.sizes(directory).items() if parse_file_name(n)}
    runs = plan(list(sizes), sizes, target_bytes)
    if not runs:
        return CompactionResult(recovered=recovered)
    merges = []
    for run in runs:
        topic, partition, first, _ = parse_file_name(run[0])
        last = parse_file_name(run[-1])[3]
        name = file_name(topic, partition, first, last)
        tmp = join(TMP, f"compact+{date}+{name}")
        inputs = [(n, lake.read(join(directory, n))) for n in run]
        lake.write(tmp, b"".join(data for _, data in inputs))
        lake.write(segments.index_path(date, name), segments.merged_index(lake, date, inputs))
        del inputs
        merges.append({"tmp": tmp, "output": join(directory, name), "inputs": [join(directory, n) for n in run]})
    lake.write_atomic(_journal_path(date), orjson.dumps({"merges": merges}))  # the commit point
    for merge in merges:
        lake.rename(merge["tmp"], merge["output"])
        _delete_inputs(lake, date, merge["inputs"])
    lake.delete(_journal_path(date))
    inputs = sum(len(r) for r in runs)
    log.info("compacted %s: %d files merged into %d", date, inputs, len(merges))
    return CompactionResult(merged_files=len(merges), input_files=inputs, recovered=recovered)
