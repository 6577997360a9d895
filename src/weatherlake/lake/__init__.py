"""The lake: one small file-store interface over the local filesystem or HDFS.

``open_lake(settings)`` picks the backend from ``LAKE_URL``; everything else codes
against :class:`Lake` with paths relative to ``LAKE_ROOT``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from weatherlake.config import Settings
from weatherlake.errors import ConfigError
from weatherlake.lake.base import Lake, join
from weatherlake.lake.local import LocalLake
from weatherlake.lake.webhdfs import WebHdfsLake

__all__ = ["Lake", "LocalLake", "WebHdfsLake", "join", "open_lake", "open_location"]


def open_lake(settings: Settings) -> Lake:
    """The lake ``settings`` describe; no I/O happens until the first operation.

    ``file:///abs/dir`` gives a :class:`LocalLake` at ``<dir>/<LAKE_ROOT>``;
    ``hdfs://host:8020`` a :class:`WebHdfsLake` at ``LAKE_ROOT`` over ``WEBHDFS_URL``
    as ``HDFS_USER``.
    """
    parts = urlsplit(settings.lake_url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ConfigError(f"LAKE_URL must be a local file:///path, got {settings.lake_url!r}")
        return LocalLake(Path(unquote(parts.path)) / settings.lake_root.strip("/"))
    if parts.scheme == "hdfs":
        if not settings.webhdfs_url:
            raise ConfigError("WEBHDFS_URL is needed when LAKE_URL is hdfs://...")
        return WebHdfsLake(settings.webhdfs_url, settings.hdfs_user, settings.lake_root)
    raise ConfigError(f"LAKE_URL must start with file:// or hdfs://, got {settings.lake_url!r}")


def open_location(settings: Settings, url: str, setting: str = "--copy-to") -> Lake:
    """A second place for backups: ``file:///dir``; ``hdfs://namenode:8020/dir`` over
    WebHDFS (WEBHDFS_URL when it is the lake's HDFS, else port 9870 of that host); or
    ``webhdfs://namenode:9870/dir``, Hadoop's own name for a namenode's WebHDFS address."""
    parts = urlsplit(url)
    if parts.scheme == "file" and parts.netloc in ("", "localhost") and parts.path.startswith("/"):
        return LocalLake(Path(unquote(parts.path)))
    if parts.scheme in ("hdfs", "webhdfs") and parts.hostname and parts.path.startswith("/"):
        if parts.scheme == "webhdfs":
            webhdfs = f"http://{parts.hostname}:{_port(parts, url, setting) or 9870}"
        else:
            same = urlsplit(settings.lake_url).hostname == parts.hostname and settings.webhdfs_url
            webhdfs = settings.webhdfs_url if same else f"http://{parts.hostname}:9870"
        return WebHdfsLake(webhdfs, settings.hdfs_user, parts.path)
    raise ConfigError(f"{setting} must be file:///dir, hdfs://namenode:8020/dir or webhdfs://namenode:9870/dir, "
                      f"got {url!r}")


def _port(parts, url: str, setting: str) -> int | None:
    try:
        return parts.port
    except ValueError:
        raise ConfigError(f"{setting} has no valid port: {url!r}") from None
