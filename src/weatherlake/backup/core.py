"""Point-in-time backups of the lake, their manifests, verification and restore.

A backup freezes the lake without stopping the pipeline:

- on HDFS, with one snapshot of the lake root (``<root>/.snapshot/<id>``, atomic);
- on a local lake, with hard links under ``_backups/<id>/data/``: the sink's state first,
  then each date's raw files while holding that date's compaction lock, then each view's
  newest run and the small files. Lake files are never changed in place (a write makes a
  new file), so a link keeps the bytes it was made with.

What must agree in a backup is the sink's state and the raw data. The frozen state gives,
per partition, the offset below which every commit's files are in place
(:func:`weatherlake.lake.export.bounds`); a local copy may also hold files committed
after the state was linked, which a restore leaves out (cutting a merged file at a
segment boundary, by its index). The restored state says exactly that offset, so the
sink resumes from Kafka there: every record once, none twice.

Each backup has ``_backups/<id>/manifest.json``: when, how, the partitions' offsets, and
every file with its size and SHA-256. ``--copy-to`` copies the files and the manifest to
a second location (``<location>/<id>/``). A restore writes ``_restore.json`` first and
removes it last; the sink refuses to start while it is there.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import orjson

from weatherlake.errors import LakeError, WeatherlakeError
from weatherlake.ingest.compact import CompactionRunning, locked
from weatherlake.lake import Lake, LocalLake, WebHdfsLake, join, layout, segments
from weatherlake.lake.export import bounds
from weatherlake.lake.layout import RESTORE_MARKER
from weatherlake.speed.published import read_pointer
from weatherlake.timefmt import seconds_text

log = logging.getLogger(__name__)

BACKUPS = "_backups"
STATUS_PATH = f"{BACKUPS}/_status.json"
BACKUP_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{4}")
#: Runs kept in the status file's history.
STATUS_HISTORY = 30
CHUNK = 8 * 1024 * 1024
#: How long a local backup waits for a date's running compaction.
LOCK_WAIT_SECONDS = 1800.0


class BackupError(WeatherlakeError):
    """A backup, verification or restore that cannot be done (the message says why)."""


@dataclass
class Manifest:
    id: str
    created_at: str
    method: str  # "snapshot" (HDFS) or "hardlinks" (local)
    lake: str
    partitions: dict[str, dict] = field(default_factory=dict)
    files: list[dict] = field(default_factory=list)
    finished_at: str | None = None
    copies: list[str] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(f["size"] for f in self.files)

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        return cls(**orjson.loads(data))


def new_backup_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def manifest_path(backup_id: str) -> str:
    return join(BACKUPS, backup_id, "manifest.json")


def frozen_lake(lake: Lake, backup_id: str) -> Lake:
    """The backup's files, as a read-only lake: the snapshot, or the linked copy."""
    if isinstance(lake, WebHdfsLake):
        return lake.snapshot_lake(backup_id)
    return lake.sublake(join(BACKUPS, backup_id, "data"))


# -- creating ----------------------------------------------------------------------------


def create_backup(lake: Lake, *, keep: int, copy_to: Lake | None = None,
                  lock_wait_seconds: float = LOCK_WAIT_SECONDS) -> Manifest:
    """Back the lake up now; record the run in the status file; keep the newest ``keep``."""
    started = time.time()
    backup_id = new_backup_id()
    taken = [name for name in lake.list(BACKUPS) if BACKUP_ID.fullmatch(name)]
    while taken and backup_id <= max(taken):  # ids sort as the backups were taken
        time.sleep(0.1)
        backup_id = new_backup_id()
    try:
        manifest = _create(lake, backup_id, copy_to, lock_wait_seconds)
    except Exception as error:
        _record(lake, {"backup_id": backup_id, "started_at": _text(started), "finished_at": _text(time.time()),
                       "ok": False, "error": str(error)})
        raise
    _record(lake, {"backup_id": backup_id, "started_at": _text(started), "finished_at": manifest.finished_at,
                   "ok": True, "error": None, "files": len(manifest.files), "bytes": manifest.bytes,
                   "copies": manifest.copies})
    prune_backups(lake, keep)
    return manifest


def _create(lake: Lake, backup_id: str, copy_to: Lake | None, lock_wait_seconds: float) -> Manifest:
    if isinstance(lake, WebHdfsLake):
        method = "snapshot"
        frozen = lake.snapshot(backup_id)
    elif isinstance(lake, LocalLake):
        method = "hardlinks"
        frozen = _link_copy(lake, backup_id, lock_wait_seconds)
    else:
        raise BackupError(f"cannot back up a {type(lake).__name__}")
    manifest = Manifest(backup_id, _text(time.time()), method, lake.url, _partitions(frozen))
    for path, size in backed_up_files(frozen):
        manifest.files.append({"path": path, "size": size, "sha256": file_sha256(frozen, path, size)})
    log.info("backup %s: %d files, %d bytes frozen (%s)", backup_id, len(manifest.files), manifest.bytes, method)
    if copy_to is not None:
        copy_backup(frozen, manifest, copy_to)
        manifest.copies.append(copy_to.url)
    manifest.finished_at = _text(time.time())
    lake.write_atomic(manifest_path(backup_id), manifest.to_json())
    return manifest


def _link_copy(lake: LocalLake, backup_id: str, lock_wait_seconds: float) -> Lake:
    """Hard links of what a backup holds, the sink's state first (see the module doc)."""
    data = join(BACKUPS, backup_id, "data")

    def link(path: str) -> None:
        with contextlib.suppress(FileNotFoundError):  # replaced or pruned since the listing
            lake.link(path, join(data, path))

    for path, _ in _walk(lake, layout.STATE):
        if _is_state(path):
            link(path)
    for date in layout.raw_dates(lake):
        with _date_locked(lake, date, lock_wait_seconds):
            for name in layout.live_file_sizes(lake, date):
                link(join(layout.date_dir(date), name))
                if lake.exists(segments.index_path(date, name)):
                    link(segments.index_path(date, name))
    for path, _ in backed_up_files(lake, skip_raw=True):
        link(path)
    return lake.sublake(data)


@contextlib.contextmanager
def _date_locked(lake: Lake, date: str, wait_seconds: float) -> Iterator[None]:
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            with locked(lake, date):
                yield
                return
        except CompactionRunning as error:
            if time.monotonic() > deadline:
                raise BackupError(f"waited {wait_seconds:.0f} s for a compaction of {date}: {error}") from None
            time.sleep(1.0)


def _partitions(frozen: Lake) -> dict[str, dict]:
    """Per partition of the frozen state: the offset below which it is whole, and the state's identity."""
    found = {}
    for key, bound in bounds(frozen).items():
        topic, _, number = key.rpartition("+")
        state = layout.load_state(frozen, topic, int(number))
        found[key] = {"next_offset": bound, "base": state.base, "topic_id": state.topic_id,
                      "generation": state.generation}
    return found


def backed_up_files(lake: Lake, skip_raw: bool = False) -> Iterator[tuple[str, int]]:
    """(path, size) of every file a backup holds: all but the backups, work in progress
    (``raw/_tmp``, compaction's journals and locks) and view runs ``_LATEST`` does not name."""
    latest = _latest_runs(lake)
    for path, size in _walk(lake, "."):
        top = path.split("/", 1)[0]
        if top == BACKUPS or path == RESTORE_MARKER or (skip_raw and top == "raw"):
            continue
        if path.startswith(layout.TMP + "/") or (path.startswith(layout.STATE + "/") and not _is_state(path)):
            continue
        if top == "analytics" and "/run=" in path and not path.startswith(latest):
            continue
        yield path, size


def _latest_runs(lake: Lake) -> tuple[str, ...]:
    """``analytics/<view>/run=<id>/`` of each view's run its ``_LATEST`` names."""
    runs = []
    files = lake.sizes("analytics")  # the scheduler's status file, beside the views' directories
    for view in lake.list("analytics"):
        pointer = read_pointer(lake, view) if view not in files else None
        if pointer is not None:
            runs.append(pointer["path"].rstrip("/") + "/")
    return tuple(runs)


def _is_state(path: str) -> bool:
    """A sink state file (not compaction's journal or lock)."""
    name = path.rsplit("/", 1)[-1]
    return not name.startswith(("compact+", ".compact+"))


def _walk(lake: Lake, directory: str) -> Iterator[tuple[str, int]]:
    files = lake.sizes(directory)
    for name in lake.list(directory):
        path = join(directory, name)
        if name in files:
            yield path, files[name]
        else:
            yield from _walk(lake, path)


def file_sha256(lake: Lake, path: str, size: int) -> str:
    digest = hashlib.sha256()
    for start in range(0, size, CHUNK):
        digest.update(lake.read_range(path, start, min(CHUNK, size - start)))
    return digest.hexdigest()


def copy_backup(frozen: Lake, manifest: Manifest, target: Lake) -> None:
    """The backup's files and manifest to ``target`` (``<id>/data/...``, ``<id>/manifest.json``)."""
    for entry in manifest.files:
        target.write(join(manifest.id, "data", entry["path"]), frozen.read(entry["path"]))
    target.write_atomic(join(manifest.id, "manifest.json"), manifest.to_json())
    log.info("backup %s copied to %s", manifest.id, target.url)


# -- listing, verifying, pruning ---------------------------------------------------------


def list_backups(lake: Lake) -> list[Manifest]:
    """The complete backups, oldest first."""
    found = []
    for name in lake.list(BACKUPS):
        if BACKUP_ID.fullmatch(name):
            data = lake.read_atomic(manifest_path(name))
            if data is not None:
                found.append(Manifest.from_json(data))
    return found


def load_manifest(lake: Lake, backup_id: str, source: Lake | None = None) -> tuple[Manifest, Lake]:
    """(manifest, frozen files) of a backup in the lake, or of its copy in ``source``."""
    if not BACKUP_ID.fullmatch(backup_id):
        raise BackupError(f"{backup_id!r} is not a backup id (like 20261206T221500Z-3fa1)")
    where = source or lake
    data = where.read_atomic(join(backup_id, "manifest.json") if source else manifest_path(backup_id))
    if data is None:
        raise BackupError(f"no backup {backup_id} in {where.url}")
    manifest = Manifest.from_json(data)
    return manifest, (source.sublake(join(backup_id, "data")) if source else frozen_lake(lake, backup_id))


def verify_backup(lake: Lake, backup_id: str, source: Lake | None = None) -> tuple[Manifest, list[str]]:
    """(manifest, problems): every file there, of its size and SHA-256."""
    manifest, frozen = load_manifest(lake, backup_id, source)
    problems = []
    for entry in manifest.files:
        path = entry["path"]
        actual = frozen.sizes(path.rpartition("/")[0] or ".").get(path.rpartition("/")[2])
        if actual is None:
            problems.append(f"{path}: missing")
        elif actual != entry["size"]:
            problems.append(f"{path}: {actual} bytes, the manifest says {entry['size']}")
        elif file_sha256(frozen, path, actual) != entry["sha256"]:
            problems.append(f"{path}: its SHA-256 differs from the manifest's")
    return manifest, problems


def prune_backups(lake: Lake, keep: int) -> list[str]:
    """Delete all but the newest ``keep`` complete backups, and unfinished ones older than those."""
    complete = [m.id for m in list_backups(lake)]
    kept = set(complete[-keep:]) if keep > 0 else set()
    newest = complete[-1] if complete else ""
    deleted = []
    for name in lake.list(BACKUPS):
        if not BACKUP_ID.fullmatch(name) or name in kept or (name not in complete and name >= newest):
            continue  # an unfinished backup newer than the newest complete one may be running
        if isinstance(lake, WebHdfsLake):
            lake.delete_snapshot(name)
        lake.delete_tree(join(BACKUPS, name))
        deleted.append(name)
    if deleted:
        log.info("deleted backup(s) %s (BACKUP_KEEP=%d)", ", ".join(deleted), keep)
    return deleted


def _record(lake: Lake, run: dict) -> None:
    """Add a run to ``_backups/_status.json`` (the newest last)."""
    try:
        history = orjson.loads(lake.read_atomic(STATUS_PATH) or b'{"runs": []}')["runs"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        history = []
    history = [*history, run][-STATUS_HISTORY:]
    lake.write_atomic(STATUS_PATH, orjson.dumps({"last": run, "runs": history}, option=orjson.OPT_INDENT_2))


def backup_status(lake: Lake) -> dict | None:
    data = lake.read_atomic(STATUS_PATH)
    return orjson.loads(data) if data else None


# -- restoring ---------------------------------------------------------------------------


def holds_data(lake: Lake) -> bool:
    """Whether the lake has raw data, a sink state or a view (what a restore would replace)."""
    return bool(layout.raw_dates(lake) or lake.list(layout.STATE) or lake.list("analytics"))


def restore_backup(lake: Lake, backup_id: str, *, force: bool = False, source: Lake | None = None) -> Manifest:
    """Replace the lake's contents with a backup; the sink resumes exactly where it ends.

    Refuses a lake that holds data unless ``force``. Stop the sink first: it refuses to
    start while the restore runs (``_restore.json``), and a restore that was interrupted
    is run again with ``force``.
    """
    manifest, frozen = load_manifest(lake, backup_id, source)
    if holds_data(lake) and not force:
        raise BackupError(f"the lake at {lake.url} holds data; stop the sink and run the restore with --force to "
                          f"replace it with backup {backup_id}")
    lake.write_atomic(RESTORE_MARKER, orjson.dumps({"backup_id": backup_id, "started_at": _text(time.time())}))
    for name in lake.list("."):
        if name not in (BACKUPS, RESTORE_MARKER, RESTORE_MARKER + ".next"):
            lake.delete_tree(name)
    indexes = {entry["path"]: entry for entry in manifest.files if entry["path"].startswith(segments.INDEX + "/")}
    for entry in manifest.files:
        path = entry["path"]
        if path.startswith((layout.STATE + "/", segments.INDEX + "/")):
            continue  # states are written below; indexes go with their files
        parsed = layout.parse_file_name(path.rpartition("/")[2]) if path.startswith("raw/date=") else None
        if parsed is None:
            lake.write(path, _verified(frozen, entry))
        else:
            _restore_raw_file(frozen, lake, entry, parsed, manifest.partitions, indexes)
    for key, part in manifest.partitions.items():
        topic, _, number = key.rpartition("+")
        state = layout.PartitionState(part["next_offset"] - part["base"], [], part["topic_id"], part["base"],
                                      part["generation"] + 1)
        if not layout.create_state(lake, topic, int(number), state, layout.new_token()):
            raise BackupError(f"the sink's state of {key} changed during the restore: is a sink running?")
    lake.delete(RESTORE_MARKER)
    log.info("restored backup %s into %s: %d files; the sink resumes at %s", backup_id, lake.url,
             len(manifest.files), ", ".join(f"{k}@{p['next_offset']}" for k, p in manifest.partitions.items()))
    return manifest


def _verified(frozen: Lake, entry: dict) -> bytes:
    """A backed-up file's bytes, checked against its manifest entry."""
    data = frozen.read(entry["path"])
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise BackupError(f"{entry['path']} in the backup does not match its manifest (run backup verify)")
    return data


def _restore_raw_file(frozen: Lake, lake: Lake, entry: dict, parsed: tuple, partitions: dict,
                      indexes: dict[str, dict]) -> None:
    """A raw file (with its index), or the part of it below its partition's offset in the backup's state."""
    topic, partition, first, last = parsed
    date = entry["path"].split("/")[1][len("date="):]
    name = entry["path"].rpartition("/")[2]
    bound = partitions.get(f"{topic}+{partition}", {}).get("next_offset")
    if bound is not None and first >= bound:
        return  # committed after the state the backup holds: the sink takes it from Kafka again
    index = indexes.get(segments.index_path(date, name))
    data = _verified(frozen, entry)
    if bound is None or last < bound:
        lake.write(entry["path"], data)
        if index is not None:
            lake.write(index["path"], _verified(frozen, index))
        return
    if index is None:
        raise BackupError(f"{entry['path']} reaches past the backup's state and has no index to cut it by")
    segments_of = orjson.loads(_verified(frozen, index))["segments"]
    kept = [s for s in segments_of if s[1] < bound]
    if not kept or kept != segments_of[:len(kept)]:
        raise LakeError(f"{entry['path']}: its segments below offset {bound} are not the first ones")
    cut = layout.file_name(topic, partition, first, kept[-1][1])
    lake.write(join(layout.date_dir(date), cut), data[:kept[-1][3]])
    if len(kept) > 1:
        lake.write(segments.index_path(date, cut), orjson.dumps({"segments": kept}))


def _text(epoch: float) -> str:
    return seconds_text(epoch)
