"""Settings: read once from the environment at the edge, then passed down frozen.

Every weatherlake environment variable is read in this module and nowhere else
(``tests/test_config.py`` keeps it so). Elsewhere only other tools' own variables are
read: ``JAVA_HOME`` to find Java, ``PROMETHEUS_MULTIPROC_DIR`` for the web workers'
shared metrics; and child processes are handed the environment whole.
A bad value raises :class:`ConfigError` whose message names the variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

from weatherlake.errors import ConfigError

DEFAULT_CITIES = ("london-gb", "new-york-us", "tokyo-jp", "sydney-au", "dubai-ae")
SOURCES = ("auto", "openweathermap", "open-meteo", "synthetic", "replay")


class Secret:
    """A string that never shows itself in repr, str, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with the environment variable that sets it in ``env``."""

    # Kafka. None means "the embedded broker on 127.0.0.1:embedded_kafka_port".
    kafka_bootstrap_servers: str | None = field(default=None, metadata={"env": "KAFKA_BOOTSTRAP_SERVERS"})
    embedded_kafka_port: int = field(default=9092, metadata={"env": "EMBEDDED_KAFKA_PORT"})
    kafka_topic: str = field(default="weather.observations", metadata={"env": "KAFKA_TOPIC"})
    kafka_dlq_topic: str = field(default="weather.observations.dlq", metadata={"env": "KAFKA_DLQ_TOPIC"})
    kafka_partitions: int = field(default=3, metadata={"env": "KAFKA_PARTITIONS"})
    kafka_replication_factor: int = field(default=1, metadata={"env": "KAFKA_REPLICATION_FACTOR"})
    # How long a service keeps retrying an unreachable broker before it exits with an error.
    kafka_connect_timeout_seconds: float = field(default=120.0, metadata={"env": "KAFKA_CONNECT_TIMEOUT_SECONDS"})
    # Lake.
    lake_url: str = field(default="", metadata={"env": "LAKE_URL"})
    lake_root: str = field(default="/weather_data", metadata={"env": "LAKE_ROOT"})
    webhdfs_url: str = field(default="", metadata={"env": "WEBHDFS_URL"})
    hdfs_user: str = field(default="hadoop", metadata={"env": "HDFS_USER"})
    # Sink batching: a file is committed at whichever limit comes first.
    # The sink's consumer group: one per lake a topic is written into.
    sink_group_id: str = field(default="weatherlake-sink", metadata={"env": "SINK_GROUP_ID"})
    sink_max_records: int = field(default=50_000, metadata={"env": "SINK_MAX_RECORDS"})
    sink_max_bytes: int = field(default=64 * 1024 * 1024, metadata={"env": "SINK_MAX_BYTES"})
    sink_max_age_seconds: float = field(default=60.0, metadata={"env": "SINK_MAX_AGE_SECONDS"})
    # Spark.
    spark_master: str = field(default="local[*]", metadata={"env": "SPARK_MASTER"})
    # Sources.
    weather_source: str = field(default="auto", metadata={"env": "WEATHER_SOURCE"})
    openweather_api_key: Secret = field(default=Secret(""), metadata={"env": "OPENWEATHER_API_KEY"})
    openweather_base_url: str = field(
        default="https://api.openweathermap.org", metadata={"env": "OPENWEATHER_BASE_URL"}
    )
    open_meteo_base_url: str = field(default="https://api.open-meteo.com", metadata={"env": "OPEN_METEO_BASE_URL"})
    open_meteo_archive_url: str = field(
        default="https://archive-api.open-meteo.com", metadata={"env": "OPEN_METEO_ARCHIVE_URL"}
    )
    replay_file: str = field(default="", metadata={"env": "REPLAY_FILE"})
    synthetic_seed: int = field(default=42, metadata={"env": "SYNTHETIC_SEED"})
    http_timeout_seconds: float = field(default=10.0, metadata={"env": "HTTP_TIMEOUT_SECONDS"})
    cities: tuple[str, ...] = field(default=DEFAULT_CITIES, metadata={"env": "CITIES"})
    poll_interval_seconds: float = field(default=60.0, metadata={"env": "POLL_INTERVAL_SECONDS"})
    # Serving.
    web_port: int = field(default=5000, metadata={"env": "WEB_PORT"})
    log_level: str = field(default="INFO", metadata={"env": "LOG_LEVEL"})
    # Where `weatherlake analytics` and the scheduler keep spark-submit's whole output.
    analytics_log_dir: str = field(default="var/logs", metadata={"env": "ANALYTICS_LOG_DIR"})
    # Serving, beyond the port (checked by weatherlake.web.check_settings).
    web_host: str = field(default="127.0.0.1", metadata={"env": "WEB_HOST"})
    web_workers: int = field(default=2, metadata={"env": "WEB_WORKERS"})
    web_threads: int = field(default=4, metadata={"env": "WEB_THREADS"})
    web_reload_seconds: float = field(default=5.0, metadata={"env": "WEB_RELOAD_SECONDS"})
    # Byte budget of each worker's cache of derived answers (see docs/serving.md, "Memory").
    web_cache_mb: int = field(default=128, metadata={"env": "WEB_CACHE_MB"})
    dashboard_refresh_seconds: float = field(default=60.0, metadata={"env": "DASHBOARD_REFRESH_SECONDS"})
    # Speed layer (checked by weatherlake.speed.check_settings).
    speed_snapshot_seconds: float = field(default=5.0, metadata={"env": "SPEED_SNAPSHOT_SECONDS"})
    speed_seek_margin_seconds: float = field(default=300.0, metadata={"env": "SPEED_SEEK_MARGIN_SECONDS"})
    speed_max_hours: int = field(default=48, metadata={"env": "SPEED_MAX_HOURS"})
    # Alerts (`weatherlake alerts`, docs/alerts.md). ALERT_RULES: a rules file (TOML);
    # empty means the bundled defaults. The webhook and mail URLs may carry credentials.
    alert_rules: str = field(default="", metadata={"env": "ALERT_RULES"})
    alert_topic: str = field(default="weather.alerts", metadata={"env": "ALERT_TOPIC"})
    alert_webhook_url: Secret = field(default=Secret(""), metadata={"env": "ALERT_WEBHOOK_URL"})
    alert_webhook_format: str = field(default="json", metadata={"env": "ALERT_WEBHOOK_FORMAT"})
    smtp_url: Secret = field(default=Secret(""), metadata={"env": "SMTP_URL"})
    alert_tick_seconds: float = field(default=1.0, metadata={"env": "ALERT_TICK_SECONDS"})
    # Weather stations (`weatherlake bridge mqtt`, docs/stations.md). MQTT_URL may carry
    # credentials (mqtt://user:password@host:1883); the `+` level of the topic filter is
    # the station id.
    mqtt_url: Secret = field(default=Secret("mqtt://127.0.0.1:1883"), metadata={"env": "MQTT_URL"})
    mqtt_topic: str = field(default="weatherlake/stations/+/observations", metadata={"env": "MQTT_TOPIC"})
    mqtt_client_id: str = field(default="weatherlake-bridge", metadata={"env": "MQTT_CLIENT_ID"})
    mqtt_version: str = field(default="3.1.1", metadata={"env": "MQTT_VERSION"})
    # HTTP push of station readings (POST /api/ingest/observations): a file of
    # "<station_id> <token>" lines (unset: the endpoint is disabled), the largest body,
    # and the readings a station may push per minute (per web worker).
    station_tokens: str = field(default="", metadata={"env": "STATION_TOKENS"})
    ingest_max_bytes: int = field(default=1024 * 1024, metadata={"env": "INGEST_MAX_BYTES"})
    ingest_rate_per_minute: int = field(default=600, metadata={"env": "INGEST_RATE_PER_MINUTE"})
    # The export for ELT tools (GET /api/export/observations, docs/elt.md): a file of
    # "<client> <token>" lines (unset: the endpoint is disabled) and the requests a
    # client may make per minute (per web worker).
    export_tokens: str = field(default="", metadata={"env": "EXPORT_TOKENS"})
    export_rate_per_minute: int = field(default=120, metadata={"env": "EXPORT_RATE_PER_MINUTE"})
    # Backups (`weatherlake backup`, docs/operations.md): how many to keep, a second
    # location to copy each to (file:///dir, hdfs://namenode:8020/dir or
    # webhdfs://namenode:9870/dir; unset: none), and how often the scheduler takes one
    # ("" or 0: never).
    backup_keep: int = field(default=7, metadata={"env": "BACKUP_KEEP"})
    backup_copy_to: str = field(default="", metadata={"env": "BACKUP_COPY_TO"})
    backup_every: str = field(default="1d", metadata={"env": "BACKUP_EVERY"})
    # How often the scheduler merges the small files of closed days (weatherlake compact; 0: never).
    compact_every: str = field(default="1h", metadata={"env": "COMPACT_EVERY"})
    # The daily report (`weatherlake report`): the scheduler makes yesterday's once a
    # day, and mails it through SMTP_URL when REPORT_EMAIL is true.
    report_daily: bool = field(default=True, metadata={"env": "REPORT_DAILY"})
    report_email: bool = field(default=False, metadata={"env": "REPORT_EMAIL"})
    # The API's write endpoints (acknowledge, resolve) need this bearer token; unset: refused.
    api_token: Secret = field(default=Secret(""), metadata={"env": "WEATHERLAKE_API_TOKEN"})
    # The real engines on one machine (`weatherlake engines`): Apache Kafka and HDFS from
    # their Maven Central jars, with data and logs under engines_dir.
    engines_dir: str = field(default="var/engines", metadata={"env": "ENGINES_DIR"})
    engines_kafka_port: int = field(default=9092, metadata={"env": "ENGINES_KAFKA_PORT"})
    engines_kafka_controller_port: int = field(default=9093, metadata={"env": "ENGINES_KAFKA_CONTROLLER_PORT"})
    engines_namenode_port: int = field(default=8020, metadata={"env": "ENGINES_NAMENODE_PORT"})
    engines_namenode_http_port: int = field(default=9870, metadata={"env": "ENGINES_NAMENODE_HTTP_PORT"})
    engines_datanode_port: int = field(default=9866, metadata={"env": "ENGINES_DATANODE_PORT"})
    engines_datanode_http_port: int = field(default=9864, metadata={"env": "ENGINES_DATANODE_HTTP_PORT"})
    engines_datanode_ipc_port: int = field(default=9867, metadata={"env": "ENGINES_DATANODE_IPC_PORT"})
    engines_kafka_heap: str = field(default="1g", metadata={"env": "ENGINES_KAFKA_HEAP"})
    engines_hdfs_heap: str = field(default="512m", metadata={"env": "ENGINES_HDFS_HEAP"})

    @property
    def bootstrap_servers(self) -> str:
        """The broker list clients connect to."""
        return self.kafka_bootstrap_servers or f"127.0.0.1:{self.embedded_kafka_port}"

    @property
    def embedded_broker(self) -> bool:
        """True when no external Kafka is configured and weatherlake runs its own."""
        return self.kafka_bootstrap_servers is None

    @property
    def lake_uri(self) -> str:
        """The lake root as a URI Spark understands (``file:///...`` or ``hdfs://.../root``)."""
        return self.lake_url.rstrip("/") + "/" + self.lake_root.strip("/")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> Settings:
        """Build settings from ``environ`` (default ``os.environ``); empty values mean unset."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = environ.get(f.metadata["env"], "").strip()
            if raw:
                values[f.name] = _parse(f.metadata["env"], raw, f.default)
        values.update(overrides)
        return cls(**values)._checked()

    def _checked(self) -> Settings:
        """Cross-field checks and derived defaults; returns a completed copy."""
        changes: dict[str, object] = {}
        lake_url = self.lake_url or (Path.cwd() / "var" / "lake").as_uri()
        scheme = urlsplit(lake_url).scheme
        if scheme not in ("file", "hdfs"):
            raise ConfigError(f"LAKE_URL must start with file:// or hdfs://, got {lake_url!r}")
        if scheme == "file" and not urlsplit(lake_url).path.startswith("/"):
            raise ConfigError(f"LAKE_URL must be an absolute file:///path, got {lake_url!r}")
        if scheme == "hdfs" and not self.webhdfs_url:
            host = urlsplit(lake_url).hostname
            if not host:
                raise ConfigError(f"LAKE_URL needs a host, got {lake_url!r}")
            changes["webhdfs_url"] = f"http://{host}:9870"
        changes["lake_url"] = lake_url
        if not self.lake_root.startswith("/"):
            raise ConfigError(f"LAKE_ROOT must be an absolute path, got {self.lake_root!r}")
        if self.weather_source not in SOURCES:
            raise ConfigError(f"WEATHER_SOURCE must be one of {', '.join(SOURCES)}, got {self.weather_source!r}")
        for name in ("kafka_partitions", "kafka_replication_factor", "sink_max_records", "sink_max_bytes",
                     "ingest_max_bytes", "ingest_rate_per_minute", "export_rate_per_minute", "backup_keep"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name.upper()} must be at least 1, got {getattr(self, name)}")
        for name in ("sink_max_age_seconds", "poll_interval_seconds", "http_timeout_seconds", "kafka_connect_timeout_seconds"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name.upper()} must be positive, got {getattr(self, name)}")
        for name in ("backup_every", "compact_every"):
            value = getattr(self, name)
            if value not in ("", "0") and not re.fullmatch(r"(\d+[smhd])+", value):
                raise ConfigError(f"{name.upper()} must be an interval like 12h or 1d (or 0: never), got {value!r}")
        for f in fields(self):
            if f.name.startswith("engines_") and f.name.endswith("_port") and not 0 < getattr(self, f.name) < 65536:
                raise ConfigError(f"{f.metadata['env']} must be a TCP port, got {getattr(self, f.name)}")
        for name in ("engines_kafka_heap", "engines_hdfs_heap"):
            if not re.fullmatch(r"[1-9][0-9]*[mMgG]", getattr(self, name)):
                raise ConfigError(f"{name.upper()} must be a JVM heap size like 512m or 2g, got {getattr(self, name)!r}")
        if not 0 < self.web_port < 65536:
            raise ConfigError(f"WEB_PORT must be a TCP port, got {self.web_port}")
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {self.log_level!r}")
        if not self.cities:
            raise ConfigError("CITIES must name at least one city")
        if self.alert_webhook_format not in ("json", "slack"):
            raise ConfigError(f"ALERT_WEBHOOK_FORMAT must be json or slack, got {self.alert_webhook_format!r}")
        mqtt = urlsplit(self.mqtt_url.reveal())
        if mqtt.scheme not in ("mqtt", "mqtts") or not mqtt.hostname:
            raise ConfigError("MQTT_URL must look like mqtt://[user:password@]host[:port] (or mqtts://)")
        if self.mqtt_version not in ("3.1.1", "5"):
            raise ConfigError(f"MQTT_VERSION must be 3.1.1 or 5, got {self.mqtt_version!r}")
        if not self.mqtt_topic or "#" in self.mqtt_topic[:-1]:
            raise ConfigError(f"MQTT_TOPIC must be an MQTT topic filter ('#' only at its end), got {self.mqtt_topic!r}")
        if self.alert_tick_seconds <= 0:
            raise ConfigError(f"ALERT_TICK_SECONDS must be positive, got {self.alert_tick_seconds}")
        return _replace(self, **changes)


def _replace(settings: Settings, **changes) -> Settings:
    from dataclasses import replace

    return replace(settings, **changes) if changes else settings


def _parse(name: str, raw: str, default: object) -> object:
    """Convert one raw environment value to the type of its default."""
    try:
        if isinstance(default, Secret):
            return Secret(raw)
        if isinstance(default, bool):
            if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError
            return raw.lower() in ("1", "true", "yes")
        if isinstance(default, int):
            return int(raw.replace("_", ""))
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, tuple):
            items = tuple(item.strip() for item in raw.split(",") if item.strip())
            if any(not re.fullmatch(r"[a-z0-9][a-z0-9-]*", item) for item in items):
                raise ValueError
            return items
    except ValueError:
        kind = {bool: "true or false", int: "an integer", float: "a number"}.get(
            type(default), "a comma-separated list of lowercase ids"
        )
        raise ConfigError(f"{name} must be {kind}, got {raw!r}") from None
    return raw
