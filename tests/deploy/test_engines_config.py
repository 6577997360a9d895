"""`weatherlake engines` runs what the compose cluster runs: same releases, same settings.

The engines and the compose services share docker/kafka/broker.env and
docker/hadoop/hdfs.env; these checks fail as soon as a setting is added to one side only
or a release moves on one side only. Only the settings that name hosts, ports and
directories may differ, and those are listed (HOST_PROPERTIES) on the engines' side.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.deploy import stack
from weatherlake.engines import files, hdfs, kafka

POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def dependency_versions(pom: Path) -> dict[str, str]:
    """{artifactId: version} of the pom's dependencies, with ${properties} resolved."""
    root = ET.parse(pom).getroot()
    properties = {p.tag.split("}")[1]: p.text for p in root.iterfind("m:properties/*", POM_NS)}
    versions = {}
    for dependency in root.iterfind("m:dependencies/m:dependency", POM_NS):
        version = dependency.findtext("m:version", namespaces=POM_NS)
        if version.startswith("${"):
            version = properties[version[2:-1]]
        versions[dependency.findtext("m:artifactId", namespaces=POM_NS)] = version
    return versions


@pytest.fixture
def kafka_engine(tmp_path):
    return kafka.KafkaEngine(tmp_path, port=19092, controller_port=19093)


@pytest.fixture
def hdfs_engine(tmp_path):
    return hdfs.HdfsEngine(tmp_path, 18020, 19870, 19866, 19864, 19867)


def compose_kafka_properties(services) -> dict[str, str]:
    env = services["kafka"].environment
    return {kafka.property_name(k): v for k, v in env.items()
            if k.startswith("KAFKA_") and k not in kafka._NOT_PROPERTIES}


def test_the_kafka_service_and_the_engine_share_the_broker_settings(services, kafka_engine):
    assert services["kafka"].env_files == [files.KAFKA_DIR / "broker.env"]
    cluster = compose_kafka_properties(services)
    engine = kafka_engine.properties()
    shared = {k: v for k, v in cluster.items() if k not in kafka.HOST_PROPERTIES}
    assert shared == {k: v for k, v in engine.items() if k not in kafka.HOST_PROPERTIES}
    # What compose sets for its own hosts is exactly what the engine sets for 127.0.0.1.
    assert cluster.keys() - shared.keys() == kafka.HOST_PROPERTIES
    assert services["kafka"].environment["CLUSTER_ID"] == kafka.shared_properties()[1]


def test_the_hdfs_services_and_the_engine_share_core_and_hdfs_site(services, hdfs_engine):
    engine = hdfs_engine.properties()
    for name in ("namenode", "datanode", "hdfs-init"):
        service = services[name]
        assert service.env_files == [files.HADOOP_DIR / "hdfs.env"], name
        cluster = stack.hadoop_config(service)
        for site in ("core-site", "hdfs-site"):
            shared = {k: v for k, v in cluster.get(site, {}).items() if k not in hdfs.HOST_PROPERTIES}
            assert shared == {k: v for k, v in engine[site].items() if k not in hdfs.HOST_PROPERTIES}, (name, site)
    # WebHDFS is on in both: the sink and the API speak it.
    assert engine["hdfs-site"]["dfs.webhdfs.enabled"] == "true"
    # The DataNode advertises an address local clients reach (WebHDFS redirects there).
    assert engine["hdfs-site"]["dfs.datanode.hostname"] == "127.0.0.1"


def test_the_engines_run_the_releases_of_the_compose_images(services):
    kafka_versions = dependency_versions(files.KAFKA_DIR / "pom.xml")
    hadoop_versions = dependency_versions(files.HADOOP_DIR / "pom.xml")
    assert services["kafka"].image == f"apache/kafka:{kafka_versions['kafka_2.13']}"
    for name in ("namenode", "datanode", "hdfs-init"):
        assert services[name].image == f"apache/hadoop:{hadoop_versions['hadoop-hdfs']}", name
    assert {hadoop_versions[a] for a in ("hadoop-common", "hadoop-hdfs-client")} == {hadoop_versions["hadoop-hdfs"]}


def test_an_env_file_that_sets_a_host_specific_property_is_refused(tmp_path, monkeypatch, kafka_engine):
    env_file = tmp_path / "broker.env"
    env_file.write_text((files.KAFKA_DIR / "broker.env").read_text() + "KAFKA_LOG_DIRS=/elsewhere\n")
    monkeypatch.setattr(kafka, "KAFKA_DIR", tmp_path)
    with pytest.raises(Exception, match="host-specific log.dirs"):
        kafka_engine.properties()


@pytest.mark.parametrize(("variable", "name"), [
    ("KAFKA_LOG_DIRS", "log.dirs"),
    ("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "group.initial.rebalance.delay.ms"),
    ("KAFKA_LOG_CLEANER_DEDUPE__BUFFER_SIZE", "log.cleaner.dedupe-buffer.size"),
    ("KAFKA_CONFLUENT___TOPIC", "confluent_topic"),
])
def test_variable_names_become_properties_as_in_the_apache_kafka_image(variable, name):
    assert kafka.property_name(variable) == name
