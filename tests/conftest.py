"""Fixtures shared by the whole suite: a real Kafka-protocol broker and settings factories."""

from __future__ import annotations

import socket
import uuid
import warnings

import pytest

warnings.filterwarnings("ignore", message="read_text is deprecated", category=DeprecationWarning)

from weatherlake.config import Settings  # noqa: E402
from weatherlake.ingest.broker import EmbeddedBroker  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    """One Tansu broker process for the session; tests isolate themselves by topic name."""
    log_file = tmp_path_factory.mktemp("broker") / "tansu.log"
    with EmbeddedBroker(free_port(), log_file=log_file) as running:
        yield running


@pytest.fixture
def lake_dir(tmp_path):
    return tmp_path / "lake"


@pytest.fixture
def make_settings(lake_dir):
    """Settings for a test: fresh topic names, a lake under tmp_path, short sink ages."""

    def make(broker=None, **overrides) -> Settings:
        topic = f"obs-{uuid.uuid4().hex[:10]}"
        base = dict(
            kafka_topic=topic,
            kafka_dlq_topic=f"{topic}.dlq",
            lake_url=lake_dir.as_uri(),
            sink_max_age_seconds=1.0,
            kafka_connect_timeout_seconds=30.0,
        )
        if broker is not None:
            base["kafka_bootstrap_servers"] = broker.bootstrap_servers
        return Settings.from_env({}, **{**base, **overrides})

    return make
