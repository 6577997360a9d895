"""Reading a lake file piece by piece, so that no reader holds a whole file at once.

Each piece is one :meth:`~weatherlake.lake.Lake.read_range`: a seek on the local
filesystem, one WebHDFS ``OPEN`` with ``offset`` and ``length`` on HDFS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from weatherlake.lake import Lake

FIRST_CHUNK = 64 * 1024
LARGEST_CHUNK = 1024 * 1024


def chunks_from_end(lake: Lake, path: str, size: int, grant: Callable[[int], int]) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes) of ``path`` (``size`` bytes long), last chunk first.

    Chunks start at 64 KiB and double up to 1 MiB; ``grant(wanted)`` says how many bytes
    the next one may have (0 stops).
    """
    end, wanted = size, FIRST_CHUNK
    while end > 0:
        length = grant(min(wanted, end))
        if not length:
            return
        start = end - length
        yield start, lake.read_range(path, start, length)
        end, wanted = start, min(wanted * 2, LARGEST_CHUNK)


def lines(lake: Lake, path: str, size: int) -> Iterator[bytes]:
    """The lines of ``path`` (``size`` bytes long), first to last, read 1 MiB at a time."""
    tail = b""
    for start in range(0, size, LARGEST_CHUNK):
        pieces = (tail + lake.read_range(path, start, min(LARGEST_CHUNK, size - start))).split(b"\n")
        tail = pieces.pop()
        yield from pieces
    if tail:
        yield tail
