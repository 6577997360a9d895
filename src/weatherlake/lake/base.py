"""The small interface every lake backend implements.

Paths are POSIX-style and relative to the lake root (``raw/date=2026-11-23/x.jsonl``);
a backend maps them onto its own storage. The primitives are the ones the exactly-once
sink needs and no more: whole-file writes, a rename that never overwrites, delete, list;
and for readers that must not hold a whole file, ranged reads.
"""

from __future__ import annotations

import posixpath
from abc import ABC, abstractmethod

from weatherlake.errors import LakeError

NEXT_SUFFIX = ".next"


class Lake(ABC):
    """A durable file store rooted at one directory.

    A lake may hold network connections: close it when done (it is a context manager).
    """

    #: Where the lake lives, safe to log (no credentials).
    url: str

    @abstractmethod
    def read(self, path: str) -> bytes:
        """Return a file's whole content; raise ``FileNotFoundError`` if it is missing."""

    def read_range(self, path: str, offset: int, length: int) -> bytes:
        """Return ``length`` bytes of a file from byte ``offset`` (fewer where the file ends
        first); raise ``FileNotFoundError`` if it is missing.

        ``offset`` must lie inside the file (HDFS refuses an offset at its end) and
        ``length`` be positive. This default reads the whole file; the backends read
        only the range.
        """
        return self.read(path)[offset:offset + length]

    @abstractmethod
    def write(self, path: str, data: bytes) -> None:
        """Create or overwrite a file with ``data``, creating parent directories.

        Durable when it returns. A crash mid-write may leave a partial file at ``path``,
        so callers write under a temporary name and :meth:`rename` it into place.
        """

    @abstractmethod
    def rename(self, src: str, dst: str) -> None:
        """Atomically move ``src`` to ``dst``, creating ``dst``'s parent directories.

        Raise :class:`~weatherlake.errors.TargetExists` if ``dst`` exists (a file or a
        directory: nothing is ever moved *into* a directory) and ``FileNotFoundError``
        if ``src`` does not. Both files are left untouched when it refuses.
        """

    @abstractmethod
    def delete(self, path: str) -> bool:
        """Delete a file or an empty directory; return False if it did not exist.

        A non-empty directory raises :class:`~weatherlake.errors.LakeError`.
        """

    @abstractmethod
    def list(self, directory: str) -> list[str]:
        """Names (not paths) of the direct children of ``directory``, sorted.

        [] if it is missing, empty, or a file (which has no children).
        """

    @abstractmethod
    def sizes(self, directory: str) -> dict[str, int]:
        """Sizes in bytes of the files directly in ``directory`` (one listing); {} if missing."""

    @abstractmethod
    def exists(self, path: str) -> bool:
        """Whether a file or directory exists at ``path``."""

    def delete_tree(self, path: str) -> None:
        """Delete ``path`` and everything under it (nothing if it is missing); never the root."""
        if join(path) == ".":
            raise LakeError("refusing to delete the lake root")
        for name in self.list(path):
            self.delete_tree(join(path, name))
        self.delete(path)

    def close(self) -> None:  # noqa: B027 - a no-op unless the backend holds connections
        """Release connections; the lake must not be used afterwards."""

    def __enter__(self) -> Lake:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def write_atomic(self, path: str, data: bytes) -> None:
        """Replace ``path`` so that readers of :meth:`read_atomic` see old or new, never partial.

        The new content is written completely to ``path + ".next"`` first; only then is
        the old file removed and the new one renamed into place. If a crash falls between
        those two steps, ``read_atomic`` finds the complete ``.next`` file, and the next
        ``write_atomic`` first moves it into place before staging anything new over it.
        One writer per path at a time.
        """
        staged = path + NEXT_SUFFIX
        if not self.exists(path) and self.exists(staged):
            # A previous call stopped after deleting ``path``: the staged file is the
            # current content (read_atomic serves it), so it must not be overwritten yet.
            self.rename(staged, path)
        self.write(staged, data)
        self.delete(path)
        self.rename(staged, path)

    def read_atomic(self, path: str) -> bytes | None:
        """Read a file written by :meth:`write_atomic`; None if there is none yet.

        Old or new, never partial, as long as the writer does not complete two
        replacements during one read.
        """
        staged = path + NEXT_SUFFIX
        for _ in range(3):
            try:
                return self.read(path)
            except FileNotFoundError:
                pass
            try:
                # Only complete while the main file is gone: it was deleted after this was written.
                data = self.read(staged)
            except FileNotFoundError:
                continue  # nothing written yet, or the rename landed since we looked: look again
            if not self.exists(path):
                return data
            # The rename landed meanwhile, and a newer write may already be staging over
            # what we just read: read the main file again.
        return None


def join(*parts: str) -> str:
    """Join lake-relative path parts, refusing anything that escapes the root.

    Also refuses ``:`` in a name, which HDFS rejects (``InvalidPathException``) and
    Hadoop's ``Path`` misreads as a URI scheme: a name that works locally must work
    on HDFS too. The root itself is ``"."``.
    """
    path = posixpath.normpath(posixpath.join(*parts)).lstrip("/")
    if path == ".." or path.startswith("../"):
        raise LakeError(f"path escapes the lake root: {path}")
    if ":" in path:
        raise LakeError(f"':' is not allowed in lake paths (HDFS rejects it): {path}")
    return path or "."


def as_bytes(data: bytes) -> bytes:
    """``data`` as bytes; a str is refused rather than guessed at (encode it yourself)."""
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    if not isinstance(data, bytes):
        raise TypeError(f"lake files take bytes, got {type(data).__name__}")
    return data
