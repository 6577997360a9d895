"""docker-compose.yml, checked without Docker: Compose accepts it, and it agrees with the code.

Docker cannot run on the machines that run this suite, so the cluster must be right by
construction: every command is one the CLI (or Spark, Kafka, Hadoop) really has, every
variable a weatherlake service gets is a real setting, the services find each other at
the addresses they advertise, every image is pinned, and the ports are the documented ones.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from urllib.parse import urlsplit

import click
import pytest
import yaml

from tests.deploy import stack
from weatherlake.cli import cli
from weatherlake.config import Settings

SETTING_NAMES = {f.metadata["env"] for f in fields(Settings)}

#: Variables a weatherlake-image service may get besides weatherlake's settings: read by
#: the Hadoop client and the Spark launcher that run inside the image.
IMAGE_TOOL_VARIABLES = {
    "HADOOP_USER_NAME": "Hadoop's client identity under simple authentication (UserGroupInformation)",
    "SPARK_DAEMON_MEMORY": "heap of the Spark master and worker daemons (spark-class launcher)",
}

#: What the apache/hadoop image reads besides FILE.XML_key variables (its scripts/starter.sh
#: and Hadoop's own launcher), and the inputs of scripts/init_hdfs.sh for hdfs-init.
HADOOP_IMAGE_VARIABLES = {"ENSURE_NAMENODE_DIR", "ENSURE_NAMENODE_CLUSTERID", "HADOOP_HEAPSIZE_MAX"}
INIT_HDFS_VARIABLES = {"LAKE_ROOT", "LAKE_OWNER"}

#: The commands the apache/hadoop image's services may run (`hdfs` is on its PATH).
HADOOP_COMMANDS = (["hdfs", "namenode"], ["hdfs", "datanode"])

SPARK_DAEMONS = {"org.apache.spark.deploy.master.Master", "org.apache.spark.deploy.worker.Worker"}

THIRD_PARTY_IMAGES = {"apache/kafka", "apache/hadoop", "eclipse-mosquitto"}


def project_version() -> str:
    return re.search(r'^version = "([^"]+)"', (stack.ROOT / "pyproject.toml").read_text(), re.M)[1]


# --- Compose itself ------------------------------------------------------------------


def test_docker_compose_config_accepts_the_file(tmp_path, services):
    binary = shutil.which("docker-compose")
    if binary is None:
        # CI installs it (scripts/bootstrap.sh --test): there a missing binary is a failure.
        (pytest.fail if os.environ.get("CI") else pytest.skip)("docker-compose is not installed (scripts/bootstrap.sh --test installs Debian's package)")
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")
    result = subprocess.run(
        [
            binary,
            "--project-directory",
            str(stack.ROOT),
            "--env-file",
            str(empty_env_file),
            "-f",
            str(stack.COMPOSE_FILE),
            "config",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        # Nothing from this shell (an API key, a COMPOSE_* variable) leaks into the check.
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, f"docker-compose rejects docker-compose.yml:\n{result.stderr}"
    normalized = yaml.safe_load(result.stdout)
    assert set(normalized["services"]) == set(services)
    # Compose's own interpolation agrees with the one the other checks rely on.
    for name, service in services.items():
        theirs = normalized["services"][name]
        assert stack.Service(name, theirs).command == service.command, name
        assert stack.Service(name, theirs).environment == service.environment, name


def test_interpolation_uses_defaults_and_the_environment():
    assert stack.interpolate("--every ${ANALYTICS_EVERY:-15m}", {}) == "--every 15m"
    assert stack.interpolate("--every ${ANALYTICS_EVERY:-15m}", {"ANALYTICS_EVERY": "1h"}) == "--every 1h"
    assert stack.interpolate("${KEY:-}", {}) == ""
    assert stack.interpolate("a $$b ${C-d}", {"C": ""}) == "a $b "


# --- Commands ------------------------------------------------------------------------


def test_every_weatherlake_service_runs_a_real_subcommand_with_real_options(weatherlake_services):
    assert {"producer", "consumer", "speed", "scheduler", "web", "kafka-init"} <= set(weatherlake_services)
    problems = []
    for name, service in sorted(weatherlake_services.items()):
        subcommand, *args = service.command[1:]
        if subcommand not in cli.commands:
            problems.append(f"service {name} runs `weatherlake {subcommand}`, which the CLI does not have")
            continue
        try:
            cli.commands[subcommand].make_context(subcommand, list(args))
        except click.ClickException as error:
            problems.append(f"service {name}: `weatherlake {subcommand} {' '.join(args)}`: {error.format_message()}")
    assert not problems, "\n".join(problems) + f"\n(the CLI has: {', '.join(sorted(cli.commands))})"


def test_kafka_init_only_creates_topics(services):
    # `weatherlake broker` with KAFKA_BOOTSTRAP_SERVERS set creates the topics and exits.
    init = services["kafka-init"]
    assert init.command == ["weatherlake", "broker"] and init.one_shot
    assert init.environment.get("KAFKA_BOOTSTRAP_SERVERS")


def spark_usage(daemon: str) -> subprocess.Popen:
    spark_class = Path(sys.executable).parent / "spark-class"
    assert spark_class.exists(), f"pyspark's spark-class is not in {spark_class.parent}"
    env = {**os.environ, "PATH": f"{spark_class.parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("SPARK_HOME", None)
    return subprocess.Popen(
        [str(spark_class), daemon, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )


@pytest.mark.slow
def test_spark_services_run_the_master_and_worker_with_options_they_accept(app_services):
    spark_services = {n: s for n, s in app_services.items() if s.command[:1] == ["spark-class"]}
    assert set(spark_services) == {"spark-master", "spark-worker"}
    daemons = {service.command[1] for service in spark_services.values()}
    assert daemons == SPARK_DAEMONS
    # Ask the installed Spark itself (both JVMs at once): its usage text lists the options.
    running = {daemon: spark_usage(daemon) for daemon in daemons}
    usage = {daemon: process.communicate(timeout=120)[0] for daemon, process in running.items()}
    for name, service in spark_services.items():
        daemon, args = service.command[1], service.command[2:]
        accepted = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", usage[daemon]))
        assert accepted, f"no usage from spark-class {daemon} --help:\n{usage[daemon]}"
        flags = [arg for arg in args if arg.startswith("--")]
        assert set(flags) <= accepted, f"{name}: {set(flags) - accepted} not among {daemon}'s options {accepted}"
        values = {args[i + 1] for i, arg in enumerate(args) if arg.startswith("--")}
        positional = [arg for arg in args if not arg.startswith("--") and arg not in values]
        if daemon.endswith("Worker"):
            assert positional == ["spark://spark-master:7077"], f"{name}: the worker needs the master URL"
        else:
            assert positional == [], f"{name}: the master takes no positional arguments"


def test_third_party_services_run_their_images_own_commands(services):
    kafka = services["kafka"]
    assert "command" not in kafka.spec and "entrypoint" not in kafka.spec, "apache/kafka starts from its own CMD"
    mosquitto = services["mosquitto"]
    assert "command" not in mosquitto.spec and "entrypoint" not in mosquitto.spec, "mosquitto starts from its own CMD"
    sources = {target: source for source, target in mosquitto.volumes}
    assert (stack.ROOT / sources["/mosquitto/config/mosquitto.conf"]).resolve() == (
        stack.ROOT / "docker" / "mosquitto" / "mosquitto.conf")
    for name, service in services.items():
        if not service.image.startswith("apache/hadoop:"):
            continue
        assert "entrypoint" not in service.spec, f"{name} must keep the image's entrypoint (it writes the config)"
        if service.command in HADOOP_COMMANDS:
            continue
        # hdfs-init: scripts/init_hdfs.sh, mounted from the repository.
        interpreter, script, *args = service.command
        assert interpreter == "bash" and args == ["--here"], f"{name}: unexpected command {service.command}"
        sources = {target: source for source, target in service.volumes}
        assert script in sources, f"{name} runs {script}, which is not mounted"
        assert (stack.ROOT / sources[script]).resolve() == stack.SCRIPTS / "init_hdfs.sh"


# --- Environment ---------------------------------------------------------------------


def test_every_variable_of_a_weatherlake_image_service_is_a_setting_or_a_documented_tool_variable(app_services):
    for name, service in app_services.items():
        unknown = set(service.environment) - SETTING_NAMES - set(IMAGE_TOOL_VARIABLES)
        assert not unknown, f"{name} sets {sorted(unknown)}: neither a weatherlake setting nor a Spark/Hadoop variable"


def test_the_settings_of_every_weatherlake_service_load(weatherlake_services):
    from weatherlake import speed, web

    for name, service in weatherlake_services.items():
        settings_env = {k: v for k, v in service.environment.items() if k in SETTING_NAMES}
        settings = Settings.from_env(settings_env)  # raises ConfigError naming a bad variable
        web.check_settings(settings)
        speed.check_settings(settings)
        assert not settings.embedded_broker, f"{name} would start its own broker instead of using kafka"
        assert settings.lake_url.startswith("hdfs://"), f"{name} would write a local lake, not HDFS"


def test_the_web_service_listens_on_all_interfaces_of_its_container(services):
    settings = Settings.from_env(services["web"].environment)
    assert settings.web_host == "0.0.0.0"
    assert [p.container_port for p in services["web"].ports] == [settings.web_port]


def test_the_services_find_each_other(services, weatherlake_services):
    kafka_env = services["kafka"].environment
    advertised = dict(item.split("://") for item in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    listeners = dict(item.split("://") for item in kafka_env["KAFKA_LISTENERS"].split(","))
    core_site = stack.hadoop_config(services["namenode"])["core-site"]
    master = services["spark-master"]
    master_url = f"spark://{master.option('--host')}:{master.option('--port')}"
    assert master.spec.get("hostname") == master.option("--host") == "spark-master"

    for name, service in weatherlake_services.items():
        settings = Settings.from_env({k: v for k, v in service.environment.items() if k in SETTING_NAMES})
        # Kafka: the containers' bootstrap address is the advertised INTERNAL listener.
        assert settings.bootstrap_servers == advertised["INTERNAL"] == "kafka:19092", name
        assert listeners["INTERNAL"] == ":19092"
        # HDFS: Spark's URL is the namenode's fs.defaultFS; WebHDFS is the namenode's HTTP port.
        assert settings.lake_url == core_site["fs.defaultFS"] == "hdfs://namenode:8020", name
        webhdfs = urlsplit(settings.webhdfs_url)
        assert webhdfs.hostname == services["namenode"].spec["hostname"] and webhdfs.port == 9870, name
        assert settings.spark_master == master_url, name
        assert settings.lake_root == services["hdfs-init"].environment["LAKE_ROOT"], name
        # One owner for the lake: WebHDFS user, Spark's Hadoop user and the owner hdfs-init sets.
        assert settings.hdfs_user == service.environment["HADOOP_USER_NAME"], name
        assert settings.hdfs_user == services["hdfs-init"].environment["LAKE_OWNER"], name
    assert services["spark-worker"].command[-1] == master_url


def test_kafka_is_a_single_kraft_node_that_keeps_its_data(services, compose):
    kafka = services["kafka"]
    env = kafka.environment
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    # A fixed cluster id: a valid Kafka UUID (16 bytes, URL-safe base64 without padding).
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16
    protocol_map = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    listeners = dict(item.split("://") for item in env["KAFKA_LISTENERS"].split(","))
    assert set(listeners) == set(protocol_map)
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in listeners
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in listeners
    node, address = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split("@")
    assert node == env["KAFKA_NODE_ID"] and address == f"{kafka.spec['hostname']}{listeners['CONTROLLER']}"
    for name in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
    ):
        assert env[name] == "1", name
    # The host listener is advertised as localhost on the published port.
    advertised = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert advertised["HOST"] == "localhost:9092"
    assert (
        [(p.host_port, p.container_port) for p in kafka.ports] == [(9092, 9092)] == [(9092, int(listeners["HOST"][1:]))]
    )
    # The log directory is a named volume.
    mounts = dict((target, source) for source, target in kafka.volumes)
    assert mounts.get(env["KAFKA_LOG_DIRS"]) in compose["volumes"]


def test_hdfs_formats_once_and_keeps_its_filesystem_across_restarts(services, compose):
    namenode, datanode = services["namenode"], services["datanode"]
    name_dir = stack.hadoop_config(namenode)["hdfs-site"]["dfs.namenode.name.dir"]
    data_dir = stack.hadoop_config(datanode)["hdfs-site"]["dfs.datanode.data.dir"]
    # starter.sh formats when ENSURE_NAMENODE_DIR does not exist: it must be the name
    # directory, and lie *inside* the volume (a mount point always exists: never formatted).
    assert namenode.environment["ENSURE_NAMENODE_DIR"] == name_dir
    for service, directory in ((namenode, name_dir), (datanode, data_dir)):
        ((source, target),) = service.volumes
        assert source in compose["volumes"], f"{service.name} keeps its data in a named volume"
        # /data: the directory the image declares as a volume and its entrypoint makes writable.
        assert target == "/data"
        assert Path(directory).parent == Path(target) and directory != target
    # WebHDFS redirects clients to the datanode by its hostname.
    assert datanode.spec.get("hostname") == "datanode"
    assert namenode.spec.get("hostname") == "namenode"


def test_the_hadoop_services_share_one_configuration_in_the_images_convention(services):
    hadoop_services = [s for s in services.values() if s.image.startswith("apache/hadoop:")]
    assert {s.name for s in hadoop_services} == {"namenode", "datanode", "hdfs-init"}
    configs = [stack.hadoop_config(s) for s in hadoop_services]
    assert all(config == configs[0] for config in configs)
    assert configs[0]["hdfs-site"]["dfs.replication"] == "1"
    for service in hadoop_services:
        for variable in service.environment:
            assert (
                re.fullmatch(r"[A-Z-]+\.XML_[\w.-]+", variable)
                or variable in HADOOP_IMAGE_VARIABLES
                or (service.name == "hdfs-init" and variable in INIT_HDFS_VARIABLES)
            ), f"{service.name}: {variable} is neither FILE.XML_key (envtoconf) nor read by the image"


# --- Images, ports, health -----------------------------------------------------------


def test_every_image_is_pinned(services):
    for name, service in services.items():
        image = service.image
        assert image, f"{name} has no image name"
        assert "bitnami" not in image, f"{name}: Bitnami's images are unmaintained"
        repository, _, tag = image.partition(":")
        assert tag and tag != "latest", f"{name}: {image} is not pinned to a tag"
        assert re.fullmatch(r"\d+\.\d+\.\d+(@sha256:[0-9a-f]{64})?", tag), f"{name}: {image} is not an exact version"
        if service.built_here:
            assert repository == "weatherlake" and tag == project_version(), name
        else:
            assert repository in THIRD_PARTY_IMAGES, f"{name}: {repository} is not one of {THIRD_PARTY_IMAGES}"


def test_the_hadoop_image_matches_sparks_hadoop_client(services):
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    (client,) = jars.glob("hadoop-client-api-*.jar")
    client_version = client.stem.removeprefix("hadoop-client-api-")
    for service in services.values():
        if service.image.startswith("apache/hadoop:"):
            assert service.image == f"apache/hadoop:{client_version}", service.name


def test_published_ports_are_the_documented_ones(services):
    published = {(p.service, p.container_port, p.host_port) for s in services.values() for p in s.ports}
    rows = stack.markdown_table(stack.DEPLOYMENT_DOC.read_text(), "Ports")
    documented = {
        (row["service"], int(row["container port"]), int(row["host port"]) if row["host port"].isdigit() else None)
        for row in rows
    }
    assert published == documented
    for service in services.values():
        for port in service.ports:
            assert port.host_ip == "127.0.0.1", f"{service.name} publishes {port} beyond the loopback interface"
    assert {(s, c, h) for s, c, h in published if h} >= {
        ("web", 5000, 5000),
        ("namenode", 9870, 9870),
        ("spark-master", 8080, 8080),
        ("kafka", 9092, 9092),
    }


def test_the_scalable_services_can_run_several_replicas(services):
    for name in ("spark-worker", "consumer"):
        service = services[name]
        assert "container_name" not in service.spec and "hostname" not in service.spec, name
        assert all(port.host_port is None for port in service.ports), f"{name} binds a fixed host port"
    assert not any("container_name" in s.spec for s in services.values()), "container names break --project-name"
    doc = stack.DEPLOYMENT_DOC.read_text()
    assert "docker compose up -d --scale spark-worker=3 --scale consumer=3" in doc


def test_every_long_running_service_has_a_healthcheck_or_waits_on_one(services):
    for name, service in services.items():
        if service.one_shot:
            assert any(name in other.depends_on for other in services.values()), f"nothing waits for {name}"
            continue
        assert service.spec.get("restart") == "unless-stopped", f"{name} does not restart"
        waits = {
            dep: cond
            for dep, cond in service.depends_on.items()
            if cond in ("service_healthy", "service_completed_successfully")
        }
        assert "healthcheck" in service.spec or waits, f"{name} has no healthcheck and waits on nothing"
    for name, service in services.items():
        for dependency, condition in service.depends_on.items():
            assert condition != "service_started", f"{name} starts before {dependency} is ready"
            if condition == "service_healthy":
                assert "healthcheck" in services[dependency].spec, (
                    f"{name} waits on {dependency}, which has no healthcheck"
                )
            else:
                assert services[dependency].one_shot, f"{name} waits for {dependency} to finish, but it runs forever"


def test_healthchecks_ask_the_ports_the_services_listen_on(services):
    def checked_port(service):
        return int(re.search(r"(?:localhost|127\.0\.0\.1):(\d+)", " ".join(service.spec["healthcheck"]["test"]))[1])

    assert checked_port(services["web"]) == Settings.from_env(services["web"].environment).web_port
    assert "/api/health" in " ".join(services["web"].spec["healthcheck"]["test"])
    for name in ("spark-master", "spark-worker"):
        assert checked_port(services[name]) == int(services[name].option("--webui-port")), name
    kafka = services["kafka"]
    internal = dict(i.split("://") for i in kafka.environment["KAFKA_LISTENERS"].split(","))["INTERNAL"]
    assert checked_port(kafka) == int(internal.lstrip(":"))


def test_every_named_volume_is_used_and_declared(services, compose):
    used = {source for s in services.values() for source, _ in s.volumes if not source.startswith((".", "/"))}
    assert used == set(compose.get("volumes") or {})
