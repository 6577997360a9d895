"""The lake on HDFS, spoken to over WebHDFS with the ``hdfs`` package's InsecureClient.

What the client does not do, this module does:

- Retries. The client never retries; here connection errors, timeouts, 5xx answers and
  the NameNode's passing refusals (safe mode, standby, ``RetriableException``) are
  retried with bounded exponential backoff, each retry logged at WARNING, and the last
  failure raised as :class:`~weatherlake.errors.LakeUnavailable`.
- Error translation. Connection failures arrive as ``requests`` exceptions, refusals as
  ``HdfsError`` carrying the Java exception's simple name; both become weatherlake errors.
- A rename that says why it refused. WebHDFS RENAME answers ``{"boolean": false}`` both
  when the target exists and when the source is missing (the client turns that into a
  bare ``HdfsError``), and moves the source *into* the target if the target is a
  directory. So the target is checked first and a refusal is diagnosed afterwards.

Writes go to a DataNode: the NameNode answers CREATE and OPEN with a 307 redirect to
the DataNode's own hostname, which must resolve where this code runs.
"""

from __future__ import annotations

import errno
import logging
import posixpath
import re
import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3.exceptions
from hdfs import HdfsError, InsecureClient

from weatherlake.errors import ConfigError, LakeError, LakeUnavailable, TargetExists
from weatherlake.lake.base import Lake, as_bytes, join

log = logging.getLogger(__name__)

T = TypeVar("T")

#: RemoteException names that mean "not now": the NameNode is starting (safe mode),
#: is not the active one, or asks to be called again. A lease still held by a writer
#: that died (AlreadyBeingCreated, RecoveryInProgress) clears by itself too.
RETRYABLE_EXCEPTIONS = frozenset(
    {
        "SafeModeException",
        "RetriableException",
        "StandbyException",
        "AlreadyBeingCreatedException",
        "RecoveryInProgressException",
    }
)

_TRANSPORT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    # Raised by the raw response body a read streams from (not wrapped by requests).
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.ReadTimeoutError,
)


class _ServerError(Exception):
    """A NameNode or DataNode answered 5xx (raised from a response hook, see below)."""

    def __init__(self, status: int, url: str, detail: str) -> None:
        super().__init__(f"HTTP {status} from {_public_url(url)}{': ' + detail if detail else ''}")
        self.status = status


class WebHdfsLake(Lake):
    """A lake rooted at ``root`` on the HDFS behind ``webhdfs_url`` (``http://namenode:9870``).

    ``tries`` bounds the attempts per request; between them the pause starts at
    ``backoff_seconds`` and doubles up to ``max_backoff_seconds``. ``timeout_seconds``
    is the connect and read timeout of each HTTP request (a number or a pair).
    Nothing is sent until the first operation.
    """

    def __init__(
        self,
        webhdfs_url: str,
        user: str,
        root: str = "/weather_data",
        *,
        tries: int = 6,
        backoff_seconds: float = 0.2,
        max_backoff_seconds: float = 5.0,
        timeout_seconds: float | tuple[float, float] = (5.0, 60.0),
    ) -> None:
        for one in webhdfs_url.split(";"):
            parts = urlsplit(one.strip())
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(f"WEBHDFS_URL must look like http://namenode:9870, got {_public_url(one)!r}")
        if tries < 1:
            raise ValueError("tries must be at least 1")
        self.root = posixpath.normpath("/" + root.strip("/"))
        self._options = {"webhdfs_url": webhdfs_url, "user": user, "tries": tries, "backoff_seconds": backoff_seconds,
                         "max_backoff_seconds": max_backoff_seconds, "timeout_seconds": timeout_seconds}
        self._endpoint = _public_url(webhdfs_url)
        self.url = ";".join(f"{url}/webhdfs/v1{self.root}" for url in self._endpoint.split(";"))
        self._tries = tries
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._session = requests.Session()
        self._session.hooks["response"].append(_raise_on_server_error)
        # The client passes several ';'-separated NameNode URLs (HA) through, failing over itself.
        self._client = InsecureClient(webhdfs_url, user=user, timeout=timeout_seconds, session=self._session)

    def __repr__(self) -> str:
        return f"WebHdfsLake({self.url!r})"

    def close(self) -> None:
        self._session.close()

    # -- the interface ---------------------------------------------------------------

    def read(self, path: str) -> bytes:
        return self._read(path)

    def read_range(self, path: str, offset: int, length: int) -> bytes:
        """One OPEN with ``offset`` and ``length``: only the range leaves the DataNode."""
        return self._read(path, offset=offset, length=length)

    def write(self, path: str, data: bytes) -> None:
        data = as_bytes(data)  # a str would be sent one character per chunk
        hdfs_path = self._abs(path)
        try:
            # overwrite=True makes a retry after a half-done attempt harmless.
            self._call("write", path, self._client.write, hdfs_path, data=data, overwrite=True)
        except HdfsError as error:
            raise self._refused("write", path, error) from error

    def rename(self, src: str, dst: str) -> None:
        source, target = self._abs(src), self._abs(dst)
        # A directory target would swallow the source (HDFS moves it inside): refuse first.
        if self._status("rename", dst, target) is not None:
            raise TargetExists(f"rename target exists in the lake: {dst}")
        if posixpath.dirname(target) != posixpath.dirname(source):
            self._makedirs("rename", dst, posixpath.dirname(target))
        attempts = 0

        def move() -> None:
            nonlocal attempts
            attempts += 1
            self._client.rename(source, target)

        try:
            self._call("rename", f"{src} -> {dst}", move)
            return
        except HdfsError as error:
            if error.exception is not None:
                raise self._refused("rename", src, error) from error
        # RENAME answered false. HDFS does that when the source is missing, the target
        # exists, or the target's parent is missing; look at which.
        source_missing = self._status("rename", src, source) is None
        target_exists = self._status("rename", dst, target) is not None
        if source_missing and target_exists and attempts > 1:
            # An earlier attempt was carried out but its answer was lost on the way back.
            log.info("WebHDFS rename %s -> %s: done by an earlier attempt whose answer was lost", src, dst)
            return
        if source_missing:
            raise FileNotFoundError(errno.ENOENT, "rename source does not exist", src)
        if target_exists:
            raise TargetExists(f"rename target exists in the lake: {dst}")
        raise LakeError(f"WebHDFS refused to rename {src} to {dst} at {self._endpoint}")

    def delete(self, path: str) -> bool:
        hdfs_path = self._abs(path)
        if hdfs_path == self.root:
            raise LakeError("refusing to delete the lake root")
        try:
            return bool(self._call("delete", path, self._client.delete, hdfs_path, recursive=False))
        except HdfsError as error:
            raise self._refused("delete", path, error) from error

    def list(self, directory: str) -> list[str]:
        hdfs_path = self._abs(directory)
        try:
            names = self._call("list", directory, self._client.list, hdfs_path)
        except HdfsError as error:
            if error.exception == "FileNotFoundException":
                return []
            if error.exception is None and "is not a directory" in str(error.message):
                return []  # LISTSTATUS of a file lists the file itself
            raise self._refused("list", directory, error) from error
        return sorted(names)

    def sizes(self, directory: str) -> dict[str, int]:
        hdfs_path = self._abs(directory)
        try:
            listing = self._call("sizes", directory, self._client.list, hdfs_path, status=True)
        except HdfsError as error:
            if error.exception == "FileNotFoundException":
                return {}
            if error.exception is None and "is not a directory" in str(error.message):
                return {}
            raise self._refused("sizes", directory, error) from error
        return {name: status["length"] for name, status in listing if status["type"] == "FILE"}

    def exists(self, path: str) -> bool:
        return self._status("exists", path, self._abs(path)) is not None

    def delete_tree(self, path: str) -> None:
        hdfs_path = self._abs(path)
        if hdfs_path == self.root:
            raise LakeError("refusing to delete the lake root")
        try:
            self._call("delete_tree", path, self._client.delete, hdfs_path, recursive=True)
        except HdfsError as error:
            raise self._refused("delete_tree", path, error) from error

    # -- snapshots (backups) ---------------------------------------------------------

    def snapshot(self, name: str) -> WebHdfsLake:
        """Take an HDFS snapshot of the whole lake named ``name``; the lake as it was then,
        read-only (``<root>/.snapshot/<name>``). The root must be snapshottable: HDFS's
        superuser allows it once (``hdfs dfsadmin -allowSnapshot``; ``weatherlake engines``
        and the compose cluster's hdfs-init do), then its owner takes snapshots."""
        try:
            self._call("create_snapshot", ".", self._client.create_snapshot, self.root, name)
        except HdfsError as error:
            if "not a snapshottable" in str(error.message).lower():
                raise LakeError(f"the lake root {self.root} is not snapshottable: as HDFS's superuser run "
                                f"`hdfs dfsadmin -allowSnapshot {self.root}` (scripts/init_hdfs.sh does)") from None
            raise self._refused("snapshot", name, error) from error
        return self.snapshot_lake(name)

    def sublake(self, path: str) -> WebHdfsLake:
        """The lake rooted at ``path`` inside this one."""
        return WebHdfsLake(root=self._abs(path), **self._options)

    def snapshot_lake(self, name: str) -> WebHdfsLake:
        """The read-only lake of the existing snapshot ``name``."""
        return WebHdfsLake(root=posixpath.join(self.root, ".snapshot", name), **self._options)

    def delete_snapshot(self, name: str) -> None:
        try:
            self._call("delete_snapshot", name, self._client.delete_snapshot, self.root, name)
        except HdfsError as error:
            if "not exist" in str(error.message).lower():
                return
            raise self._refused("delete_snapshot", name, error) from error

    # -- helpers ---------------------------------------------------------------------

    def _abs(self, path: str) -> str:
        relative = join(path)
        return self.root if relative == "." else posixpath.join(self.root, relative)

    def _read(self, path: str, **span: int) -> bytes:
        hdfs_path = self._abs(path)

        def read() -> bytes:
            with self._client.read(hdfs_path, **span) as reader:
                return reader.read()

        try:
            return self._call("read", path, read)
        except HdfsError as error:
            raise self._refused("read", path, error) from error

    def _status(self, op: str, path: str, hdfs_path: str) -> dict | None:
        """The FileStatus, or None if nothing is there (any other refusal raises)."""
        try:
            # Not strict=False: that answers None for *any* error, a 500 or a refusal included.
            return self._call(op, path, self._client.status, hdfs_path)
        except HdfsError as error:
            if error.exception == "FileNotFoundException":
                return None
            raise self._refused(op, path, error) from error

    def _makedirs(self, op: str, path: str, hdfs_dir: str) -> None:
        try:
            self._call(op, path, self._client.makedirs, hdfs_dir)
        except HdfsError as error:
            raise self._refused(op, path, error) from error

    def _call(self, op: str, path: str, func: Callable[..., T], *args: object, **kwargs: object) -> T:
        """Run one WebHDFS exchange, retrying what may succeed later; HdfsError passes through."""
        delay = self._backoff
        for attempt in range(1, self._tries + 1):
            try:
                return func(*args, **kwargs)
            except Exception as error:
                reason = _transient_reason(error)
                if reason is None:
                    raise
                if attempt == self._tries:
                    raise LakeUnavailable(
                        f"HDFS unavailable at {self._endpoint}: {op} {path} failed "
                        f"{self._tries} times; last error: {reason}"
                    ) from error
                log.warning(
                    "WebHDFS %s %s failed (attempt %d of %d): %s; retrying in %.2fs",
                    op,
                    path,
                    attempt,
                    self._tries,
                    reason,
                    delay,
                )
                time.sleep(delay)
                delay = min(delay * 2, self._max_backoff)
        raise AssertionError("unreachable")

    def _refused(self, op: str, path: str, error: HdfsError) -> Exception:
        """Translate a refusal that retrying cannot fix."""
        if error.exception == "FileNotFoundException":
            return FileNotFoundError(errno.ENOENT, "no such file in the lake", path)
        kind = f"{error.exception}: " if error.exception else ""
        return LakeError(f"WebHDFS refused {op} {path} at {self._endpoint}: {kind}{_first_line(error.message)}")


def _transient_reason(error: Exception) -> str | None:
    """Why ``error`` is worth retrying, or None if it is not."""
    if isinstance(error, _TRANSPORT_ERRORS):
        return f"{type(error).__name__}: {_strip_queries(str(error))}"
    if isinstance(error, _ServerError):
        return str(error)
    if isinstance(error, HdfsError) and error.exception in RETRYABLE_EXCEPTIONS:
        return f"{error.exception}: {_first_line(error.message)}"
    return None


def _raise_on_server_error(response: requests.Response, *args: object, **kwargs: object) -> requests.Response:
    """Turn a 5xx answer into an exception: the client's HdfsError would not keep the status."""
    if response.status_code >= 500:
        try:
            remote = response.json()["RemoteException"]
            detail = f"{remote['exception']}: {_first_line(remote.get('message', ''))}"
        except (ValueError, KeyError, TypeError, IndexError, requests.RequestException):
            detail = ""
        response.close()
        raise _ServerError(response.status_code, response.url, detail)
    return response


def _first_line(message: object) -> str:
    """The first line of a Java exception message (the rest is often a stack trace)."""
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    lines = str(message).strip().splitlines()
    return lines[0][:300] if lines else ""


def _public_url(url: str) -> str:
    """``url`` (or several, ';'-separated) without credentials, query or fragment."""
    public = []
    for one in url.split(";"):
        parts = urlsplit(one.strip())
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{host}:{parts.port}" if parts.port else host
        public.append(urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", "")))
    return ";".join(item for item in public if item)


def _strip_queries(text: str) -> str:
    """Drop URL query strings from an error message (they may carry tokens)."""
    return re.sub(r"\?[^\s'\")]*", "", text)
