"""Reading a lake file piece by piece, so that no reader holds a whole file at once.

The Lake interface reads whole files only, so ranges are read per backend here: a local
file is opened once and seeked; on HDFS each range is one WebHDFS OPEN with ``offset``
and ``length``, through the lake's own retries and error translation. Any other backend
falls back to one whole read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from weatherlake.lake import Lake, LocalLake, WebHdfsLake, join

FIRST_CHUNK = 64 * 1024
LARGEST_CHUNK = 1024 * 1024


def chunks_from_end(lake: Lake, path: str, size: int, grant: Callable[[int], int]) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes) of ``path`` (``size`` bytes long), last chunk first.

    Chunks start at 64 KiB and double up to 1 MiB; ``grant(wanted)`` says how many bytes
    the next one may have (0 stops).
    """
    end, wanted = size, FIRST_CHUNK
    with RangeReader(lake, path) as read:
        while end > 0:
            length = grant(min(wanted, end))
            if not length:
                return
            start = end - length
            yield start, read(start, length)
            end, wanted = start, min(wanted * 2, LARGEST_CHUNK)


def lines(lake: Lake, path: str, size: int) -> Iterator[bytes]:
    """The lines of ``path`` (``size`` bytes long), first to last, read 1 MiB at a time."""
    tail = b""
    with RangeReader(lake, path) as read:
        for start in range(0, size, LARGEST_CHUNK):
            pieces = (tail + read(start, min(LARGEST_CHUNK, size - start))).split(b"\n")
            tail = pieces.pop()
            yield from pieces
    if tail:
        yield tail


class RangeReader:
    """``with RangeReader(lake, path) as read: read(offset, length)``."""

    def __init__(self, lake: Lake, path: str) -> None:
        self.lake, self.path = lake, path
        self._file = None
        self._whole: bytes | None = None

    def __enter__(self) -> Callable[[int, int], bytes]:
        if isinstance(self.lake, LocalLake):
            self._file = open(self.lake.root / join(self.path), "rb")  # noqa: SIM115 - closed in __exit__
            return self._read_local
        if isinstance(self.lake, WebHdfsLake):
            return self._read_hdfs
        return self._read_whole

    def __exit__(self, *exc_info: object) -> None:
        if self._file is not None:
            self._file.close()

    def _read_local(self, offset: int, length: int) -> bytes:
        self._file.seek(offset)
        return self._file.read(length)

    def _read_hdfs(self, offset: int, length: int) -> bytes:
        from hdfs import HdfsError

        lake = self.lake

        def read_range() -> bytes:
            with lake._client.read(lake._abs(self.path), offset=offset, length=length) as reader:
                return reader.read()

        try:
            return lake._call("read", self.path, read_range)
        except HdfsError as error:
            raise lake._refused("read", self.path, error) from error

    def _read_whole(self, offset: int, length: int) -> bytes:
        if self._whole is None:
            self._whole = self.lake.read(self.path)
        return self._whole[offset:offset + length]
