"""Fixtures shared by the whole suite: the embedded broker, the real engines, settings factories."""

from __future__ import annotations

import shutil
import signal
import socket
import tempfile
import uuid
import warnings
from pathlib import Path

import pytest

warnings.filterwarnings("ignore", message="read_text is deprecated", category=DeprecationWarning)

from weatherlake.config import Settings  # noqa: E402
from weatherlake.engines import Engines  # noqa: E402
from weatherlake.engines.hdfs import HdfsEngine  # noqa: E402
from weatherlake.engines.kafka import KafkaEngine  # noqa: E402
from weatherlake.ingest.broker import EmbeddedBroker  # noqa: E402

#: The user the engines' lake belongs to (as in the compose cluster); the OS user running
#: the tests is HDFS's superuser.
HDFS_USER = "weatherlake"


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


def hdfs_lake_root() -> str:
    """A lake root of its own under the engines' /weather_data (which the lake's user owns)."""
    return f"/weather_data/test-{uuid.uuid4().hex[:10]}"


ENGINES = pytest.StashKey[Engines]()


def pytest_collection_finish(session):
    """Start the engines before the first test when any collected test needs them.

    Here rather than in the fixture, so that their start (about 20 s) counts against no
    test's timeout and a run that needs none of them starts none.
    """
    if any("engines" in getattr(item, "fixturenames", ()) or item.get_closest_marker("engines")
           for item in session.items):
        start_engines(session.config)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def start_engines(config) -> Engines:
    home = Path(tempfile.mkdtemp(prefix="weatherlake-engines-"))
    running = Engines(
        home,
        KafkaEngine(home, free_port(), free_port()),
        HdfsEngine(home, *(free_port() for _ in range(5)), lake_user=HDFS_USER),
    )
    config.stash[ENGINES] = running
    # A run stopped with SIGTERM (a CI timeout, `kill`) ends like Ctrl-C: pytest's session
    # finish still runs, and stops the engines.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        running.start()
    except BaseException:
        running.stop()  # what did start must not outlive the run
        raise
    return running


def pytest_sessionfinish(session):
    running = session.config.stash.get(ENGINES, None)
    if running is not None:
        running.stop()
        shutil.rmtree(running.home, ignore_errors=True)


@pytest.fixture(scope="session")
def engines(pytestconfig) -> Engines:
    """Apache Kafka and HDFS from their Maven jars, one set for the whole session.

    Tests isolate themselves by topic name and by a lake root of their own on HDFS. A
    test that asks for them only at run time (getfixturevalue) carries the ``engines``
    mark, so that they are started before it.
    """
    running = pytestconfig.stash.get(ENGINES, None)
    return running if running is not None else start_engines(pytestconfig)


@pytest.fixture
def lake_dir(tmp_path):
    return tmp_path / "lake"


@pytest.fixture
def make_settings(lake_dir):
    """Settings for a test: fresh topic names, a lake under tmp_path, short sink ages."""

    def make(broker=None, engines: Engines | None = None, **overrides) -> Settings:
        """On ``broker`` (embedded) or on ``engines``: their Kafka and a fresh lake root on HDFS."""
        topic = f"obs-{uuid.uuid4().hex[:10]}"
        base = dict(
            kafka_topic=topic,
            kafka_dlq_topic=f"{topic}.dlq",
            alert_topic=f"{topic}.alerts",
            # A group of its own: a member a test killed must not hold up the next test's group.
            sink_group_id=f"sink-{topic}",
            lake_url=lake_dir.as_uri(),
            sink_max_age_seconds=1.0,
            kafka_connect_timeout_seconds=30.0,
        )
        if broker is not None:
            base["kafka_bootstrap_servers"] = broker.bootstrap_servers
        if engines is not None:
            base.update(
                kafka_bootstrap_servers=engines.kafka.bootstrap_servers,
                lake_url=engines.hdfs.url,
                webhdfs_url=engines.hdfs.webhdfs_url,
                hdfs_user=HDFS_USER,
                lake_root=hdfs_lake_root(),
            )
        return Settings.from_env({}, **{**base, **overrides})

    return make
