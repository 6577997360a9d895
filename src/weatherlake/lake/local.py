"""The lake on the local filesystem: the one-machine default, and what Spark reads via file://.

Durable means on disk, not in the page cache: every write fsyncs the file and the
directory that names it, and every directory this module creates is fsynced into its
parent. ``rename`` never overwrites: a file is hard-linked to its new name (``link``
fails if the name exists, atomically) and the old name is then unlinked.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
from pathlib import Path

from weatherlake.errors import LakeError, TargetExists
from weatherlake.lake.base import NEXT_SUFFIX, Lake, as_bytes, join


class LocalLake(Lake):
    """A lake rooted at a local directory (created on first write)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).absolute()
        self.url = self.root.as_uri()

    def __repr__(self) -> str:
        return f"LocalLake({str(self.root)!r})"

    def _path(self, path: str) -> Path:
        return self.root / join(path)

    def read(self, path: str) -> bytes:
        return self._path(path).read_bytes()

    def read_range(self, path: str, offset: int, length: int) -> bytes:
        with open(self._path(path), "rb") as file:
            file.seek(offset)
            return file.read(length)

    def write(self, path: str, data: bytes) -> None:
        data = as_bytes(data)
        target = self._path(path)
        self._make_dirs(target.parent, path)
        with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
            os.unlink(target)  # a new file, not the old one truncated: a backup's hard link keeps the old bytes
        try:
            with open(target, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
        except (NotADirectoryError, IsADirectoryError) as error:
            raise LakeError(f"cannot write {path}: {error.strerror}") from error
        _fsync_dir(target.parent)

    def write_atomic(self, path: str, data: bytes) -> None:
        """Replace ``path`` in one step: a complete temporary sibling is renamed over it."""
        data = as_bytes(data)
        target = self._path(path)
        self._make_dirs(target.parent, path)
        # A dot name: Spark and Hadoop input formats skip it if a crash leaves it behind.
        staged = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
        try:
            with open(staged, "xb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(staged, target)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        # A ".next" left by the portable protocol (Lake.write_atomic) is stale now.
        target.with_name(target.name + NEXT_SUFFIX).unlink(missing_ok=True)
        _fsync_dir(target.parent)

    def rename(self, src: str, dst: str) -> None:
        source, target = self._path(src), self._path(dst)
        if source.is_dir() and not source.is_symlink():
            self._rename_directory(source, target, src, dst)
            return
        self._make_dirs(target.parent, dst)
        try:
            os.link(source, target, follow_symlinks=False)
        except FileExistsError:
            raise TargetExists(f"rename target exists in the lake: {dst}") from None
        except FileNotFoundError:
            if not os.path.lexists(source):
                raise FileNotFoundError(errno.ENOENT, "rename source does not exist", src) from None
            raise
        except OSError as error:  # e.g. a filesystem without hard links
            raise LakeError(f"cannot rename {src} to {dst}: {error.strerror}") from error
        # The new name is made durable before the old one goes: a power loss in between
        # leaves the file under both names (the source a leftover temporary name, which
        # nothing reads), never under neither.
        _fsync_dir(target.parent)
        os.unlink(source)
        _fsync_dir(source.parent)

    def _rename_directory(self, source: Path, target: Path, src: str, dst: str) -> None:
        # link() cannot take directories. rename() would silently replace an empty
        # directory at the target, so look first: the lake has one writer per path.
        if os.path.lexists(target):
            raise TargetExists(f"rename target exists in the lake: {dst}")
        self._make_dirs(target.parent, dst)
        os.rename(source, target)
        _fsync_dir(target.parent)
        if source.parent != target.parent:
            _fsync_dir(source.parent)

    def delete(self, path: str) -> bool:
        target = self._path(path)
        if target == self.root:
            raise LakeError("refusing to delete the lake root")
        try:
            if target.is_dir() and not target.is_symlink():
                target.rmdir()
            else:
                target.unlink()
        except FileNotFoundError:
            return False
        except OSError as error:
            if error.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise LakeError(f"cannot delete {path}: directory is not empty") from error
            raise
        _fsync_dir(target.parent)
        return True

    def list(self, directory: str) -> list[str]:
        try:
            return sorted(os.listdir(self._path(directory)))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def sizes(self, directory: str) -> dict[str, int]:
        sizes = {}
        try:
            with os.scandir(self._path(directory)) as entries:
                for entry in entries:
                    with contextlib.suppress(FileNotFoundError):  # deleted since the directory was read
                        if entry.is_file(follow_symlinks=False):
                            sizes[entry.name] = entry.stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            return {}
        return sizes

    def sublake(self, path: str) -> LocalLake:
        """The lake rooted at ``path`` inside this one."""
        return LocalLake(self._path(path))

    def link(self, src: str, dst: str) -> None:
        """Make ``dst`` a hard link to ``src`` (same bytes, no copy), creating parent
        directories; ``TargetExists`` if ``dst`` exists, ``FileNotFoundError`` if ``src``
        does not. Lake files are never changed in place (:meth:`write` makes a new file),
        so a link keeps a file's bytes as they were when it was made."""
        source, target = self._path(src), self._path(dst)
        self._make_dirs(target.parent, dst)
        try:
            os.link(source, target)
        except FileExistsError:
            raise TargetExists(f"link target exists in the lake: {dst}") from None
        _fsync_dir(target.parent)

    def delete_tree(self, path: str) -> None:
        if join(path) == ".":
            raise LakeError("refusing to delete the lake root")
        target = self._path(path)
        if os.path.isdir(target) and not os.path.islink(target):
            shutil.rmtree(target)
            _fsync_dir(target.parent)
        else:
            self.delete(path)

    def exists(self, path: str) -> bool:
        return os.path.lexists(self._path(path))

    def _make_dirs(self, directory: Path, path: str) -> None:
        """Create ``directory`` and its missing parents, each fsynced into its parent."""
        missing = []
        while not directory.exists():
            missing.append(directory)
            directory = directory.parent
        for new in reversed(missing):
            try:
                new.mkdir()
            except FileExistsError:
                pass  # made concurrently
            except NotADirectoryError as error:
                raise LakeError(f"cannot create the directories for {path}: a parent is a file") from error
            _fsync_dir(new.parent)


def _fsync_dir(directory: Path) -> None:
    """Make a directory's entries (a new, renamed or removed name) durable."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
