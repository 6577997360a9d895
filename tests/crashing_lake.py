"""A lake wrapper that 'crashes' at a chosen step, to test recovery after a crash at any instant.

It stands in for kill -9: the n-th mutating operation does not complete. A crashing write
leaves half of its bytes behind, as a killed process writing to HDFS or a local disk can.
"""

from __future__ import annotations

from weatherlake.lake import Lake


class Crash(Exception):
    """The simulated process death."""


class CrashingLake(Lake):
    def __init__(self, inner: Lake, crash_at: int | None = None) -> None:
        self.inner = inner
        self.url = inner.url
        self.crash_at = crash_at
        self.operations = 0

    def _step(self) -> bool:
        self.operations += 1
        return self.operations == self.crash_at

    def read(self, path):
        return self.inner.read(path)

    def list(self, directory):
        return self.inner.list(directory)

    def exists(self, path):
        return self.inner.exists(path)

    def sizes(self, directory):
        return self.inner.sizes(directory)

    def write(self, path, data):
        if self._step():
            self.inner.write(path, data[: len(data) // 2])
            raise Crash(f"write {path}")
        self.inner.write(path, data)

    def rename(self, src, dst):
        if self._step():
            raise Crash(f"rename {src}")
        self.inner.rename(src, dst)

    def delete(self, path):
        if self._step():
            raise Crash(f"delete {path}")
        return self.inner.delete(path)

    # write_atomic/read_atomic: the base class's staged protocol (the one HDFS uses),
    # built on the methods above, so a crash can fall between each of its steps.


class PausingLake(CrashingLake):
    """A lake whose writer 'pauses' before its n-th mutating operation while ``meanwhile`` runs.

    It stands in for a writer frozen mid-commit (a GC or VM pause, SIGSTOP) while the rest
    of the world goes on: ``meanwhile()`` runs once, then the paused operation proceeds.
    """

    def __init__(self, inner: Lake, pause_at: int, meanwhile) -> None:
        super().__init__(inner)
        self.pause_at = pause_at
        self.meanwhile = meanwhile

    def _step(self) -> bool:
        self.operations += 1
        if self.operations == self.pause_at:
            self.meanwhile()
        return False
