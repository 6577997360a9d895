"""The lake seen through the Spark driver's Hadoop FileSystem client.

A :class:`~weatherlake.lake.base.Lake` like the others, so ``_LATEST`` is written with
the same ``write_atomic`` protocol the serving layer reads with ``read_atomic``. Going
through Spark's own Hadoop client instead of ``open_lake(settings)`` means a job needs
nothing but the lake URI (``file:///...`` or ``hdfs://namenode:8020/...``): no WebHDFS
endpoint, no second client, the same filesystem configuration Spark writes the views with.
It also adds what the small Lake interface leaves out on purpose: recursive deletion of a
run directory.
"""

from __future__ import annotations

from py4j.protocol import Py4JJavaError
from pyspark.sql import SparkSession

from weatherlake.errors import LakeError, TargetExists
from weatherlake.lake.base import Lake, as_bytes, join


class SparkLake(Lake):
    """The lake rooted at ``root_uri``, through the Hadoop FileSystem of ``spark``."""

    def __init__(self, spark: SparkSession, root_uri: str) -> None:
        self._jvm = spark.sparkContext._jvm
        self.url = root_uri.rstrip("/")
        root = self._jvm.org.apache.hadoop.fs.Path(self.url)
        self._fs = root.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())

    def __repr__(self) -> str:
        return f"SparkLake({self.url!r})"

    def uri(self, path: str) -> str:
        """The full URI of a lake-relative path, as Spark's readers and writers take it."""
        relative = join(path)
        return f"{self.url}/{relative}" if relative and relative != "." else self.url

    def _path(self, path: str):
        return self._jvm.org.apache.hadoop.fs.Path(self.uri(path))

    def read(self, path: str) -> bytes:
        if not self.exists(path):
            raise FileNotFoundError(path)
        stream = self._fs.open(self._path(path))
        try:
            return bytes(self._jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
        finally:
            stream.close()

    def write(self, path: str, data: bytes) -> None:
        stream = self._fs.create(self._path(path), True)
        try:
            stream.write(as_bytes(data))
            stream.hsync()
        finally:
            stream.close()

    def rename(self, src: str, dst: str) -> None:
        if not self.exists(src):
            raise FileNotFoundError(src)
        if self.exists(dst):
            raise TargetExists(f"{dst} exists")
        target = self._path(dst)
        self._fs.mkdirs(target.getParent())
        if not self._fs.rename(self._path(src), target):
            raise LakeError(f"could not rename {src} to {dst}")

    def delete(self, path: str) -> bool:
        return bool(self._fs.delete(self._path(path), False))

    def delete_tree(self, path: str) -> bool:
        """Delete a directory and everything under it; False if it did not exist."""
        return bool(self._fs.delete(self._path(path), True))

    def _statuses(self, directory: str) -> list:
        try:
            return list(self._fs.listStatus(self._path(directory)))
        except Py4JJavaError as error:
            if "FileNotFoundException" in str(error.java_exception.getClass().getName()):
                return []
            raise LakeError(f"cannot list {directory}: {error.java_exception.getMessage()}") from None

    def list(self, directory: str) -> list[str]:
        return sorted(status.getPath().getName() for status in self._statuses(directory))

    def sizes(self, directory: str) -> dict[str, int]:
        return {s.getPath().getName(): int(s.getLen()) for s in self._statuses(directory) if s.isFile()}

    def exists(self, path: str) -> bool:
        return bool(self._fs.exists(self._path(path)))
