"""The cluster scripts: shellcheck-clean, and doing what they say against stand-ins for
Docker, Kafka's tools and `hdfs` (tests/deploy/fakes.py), since Docker cannot run here."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess

import click
import pytest

from tests.deploy import fakes, stack
from weatherlake.cli import cli

SCRIPTS = sorted(stack.SCRIPTS.glob("*.sh"))
CLUSTER_SCRIPTS = ["init_hdfs.sh", "create_kafka_topic.sh", "run_analytics.sh", "run_backup.sh", "smoke_cluster.sh"]


def test_shellcheck_passes_on_every_script():
    binary = shutil.which("shellcheck")
    if binary is None:
        # CI installs it (scripts/bootstrap.sh --test): there a missing binary is a failure.
        (pytest.fail if os.environ.get("CI") else pytest.skip)("shellcheck is not installed (scripts/bootstrap.sh --test installs it)")
    sourced = stack.ROOT / "docker" / "spark" / "spark-env.sh"
    result = subprocess.run(
        [binary, "--severity=style", *map(str, SCRIPTS), str(sourced)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_every_script_is_executable_bash_that_stops_at_the_first_error(script):
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert os.access(script, os.X_OK), f"chmod +x {script.relative_to(stack.ROOT)}"


def test_the_cluster_scripts_exist_and_are_documented():
    doc = stack.DEPLOYMENT_DOC.read_text()
    for name in CLUSTER_SCRIPTS:
        assert (stack.SCRIPTS / name).exists(), name
        assert f"scripts/{name}" in doc, f"docs/deployment.md does not mention scripts/{name}"


INVOCATION = re.compile(r"(?:^|(?<=[\s/]))weatherlake (?=[a-z])([^|;&`]*)")


def _argv(match: re.Match) -> list[str]:
    tokens = shlex.split(match[1].replace("\\", ""), posix=True)
    return [t for t in tokens if "$" not in t and "..." not in t and not t.startswith("<")]


def shell_invocations(text: str) -> list[list[str]]:
    """`weatherlake <command> ...` run by a shell script (comments and quoted messages left out)."""
    found = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        line = re.sub(r"\s#.*$", "", re.sub(r"'[^']*'|\"[^\"]*\"", "", line))
        found += [_argv(match) for match in INVOCATION.finditer(line)]
    return found


def markdown_invocations(text: str) -> list[list[str]]:
    """`weatherlake <command> ...` in the inline code and code blocks of a Markdown page."""
    code = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M)
    code += re.findall(r"`([^`\n]+)`", re.sub(r"^```.*?^```", "", text, flags=re.S | re.M))
    return [_argv(match) for snippet in code for match in INVOCATION.finditer(snippet)]


def test_every_weatherlake_command_in_the_scripts_and_the_deployment_docs_is_real():
    invocations = [(path.name, argv) for path in SCRIPTS for argv in shell_invocations(path.read_text())]
    invocations += [("deployment.md", argv) for argv in markdown_invocations(stack.DEPLOYMENT_DOC.read_text())]
    assert len(invocations) >= 10
    problems = []
    for source, (subcommand, *args) in invocations:
        if subcommand not in cli.commands:
            problems.append(f"{source}: `weatherlake {subcommand}` does not exist")
            continue
        if any(arg.startswith("[") or arg.endswith("]") for arg in args):
            args = args[: next(i for i, arg in enumerate(args) if arg.startswith("[") or arg.endswith("]"))]
        try:
            cli.commands[subcommand].make_context(subcommand, args)
        except click.ClickException as error:
            problems.append(f"{source}: `weatherlake {subcommand} {' '.join(args)}`: {error.format_message()}")
    assert not problems, "\n".join(sorted(set(problems)))


def test_init_hdfs_defaults_are_the_compose_files(services):
    text = (stack.SCRIPTS / "init_hdfs.sh").read_text()
    env = services["hdfs-init"].environment
    assert f"lake_root=${{LAKE_ROOT:-{env['LAKE_ROOT']}}}" in text
    assert f"owner=${{LAKE_OWNER:-{env['LAKE_OWNER']}}}" in text


# --- Behaviour against the stand-ins --------------------------------------------------


@pytest.fixture
def fake(tmp_path):
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.jsonl"
    fakes.install(bin_dir)

    def run(script: str, *args: str, timeout: float = 60, **behaviour) -> subprocess.CompletedProcess:
        env = fakes.environment(bin_dir, log, **behaviour)
        return subprocess.run(
            ["bash", str(stack.SCRIPTS / script), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            cwd=tmp_path,
        )

    run.calls = lambda: fakes.calls(log)
    run.tmp_path = tmp_path
    return run


def docker_compose_calls(calls):
    return [call["argv"][1:] for call in calls if call["tool"] == "docker" and call["argv"][:1] == ["compose"]]


def index_of(commands, predicate) -> int:
    return next(i for i, argv in enumerate(commands) if predicate(argv))


def test_smoke_walks_the_whole_pipeline_then_removes_its_project(fake):
    result = fake("smoke_cluster.sh")
    assert result.returncode == 0, result.stderr
    assert "PASSED" in result.stderr
    calls = fake.calls()
    projects = {c["project"] for c in calls if c["argv"][:1] == ["compose"] and c["argv"] != ["compose", "version"]}
    assert projects == {"weatherlake-smoke"}
    compose = docker_compose_calls(calls)
    up = index_of(compose, lambda a: a[0] == "up")
    assert compose[up] == ["up", "-d", "--build", "--scale", "spark-worker=2", "--scale", "consumer=2"]
    seed = index_of(compose, lambda a: a[0] == "run" and "produce" in a)
    raw = index_of(compose, lambda a: a[0] == "exec" and "-ls" in a)
    analytics = index_of(compose, lambda a: a[:3] == ["exec", "-T", "scheduler"])
    api = index_of(compose, lambda a: a[:4] == ["exec", "-T", "web", "python"])
    assert up < seed < raw < analytics < api
    assert compose[analytics][3:] == ["weatherlake", "analytics"]
    assert compose[-1] == ["down", "-v", "--remove-orphans"]
    # The API check runs inside the web container and wants rows for every configured city.
    assert "CITIES" in compose[api][-1] and "/api/city-statistics" in compose[api][-1]


def test_smoke_fails_fast_when_an_init_service_fails_and_shows_the_logs(fake):
    result = fake("smoke_cluster.sh", **{"FAKE_EXIT_kafka-init": 1})
    assert result.returncode == 1
    assert "FAILED: kafka-init exited with status 1" in result.stderr
    compose = docker_compose_calls(fake.calls())
    assert any(argv[0] == "logs" for argv in compose)
    assert compose[-1][0] == "down"
    assert not any(argv[0] == "run" for argv in compose), "it must not go on after a failed init"


def test_smoke_gives_up_on_a_service_that_never_becomes_healthy(fake):
    result = fake("smoke_cluster.sh", FAKE_HEALTH="starting", SMOKE_TIMEOUT=1)
    assert result.returncode == 1
    assert "FAILED: kafka is healthy: not within 1s" in result.stderr


def test_smoke_gives_up_when_no_record_reaches_hdfs(fake):
    result = fake("smoke_cluster.sh", FAKE_RAW_FILES=0, SMOKE_TIMEOUT=3)  # slack for the seeding step
    assert result.returncode == 1
    assert "FAILED: the sink committed raw files to HDFS" in result.stderr, result.stderr


def test_smoke_keep_leaves_the_stack_running(fake):
    result = fake("smoke_cluster.sh", "--keep")
    assert result.returncode == 0, result.stderr
    assert not any(argv[0] == "down" for argv in docker_compose_calls(fake.calls()))
    assert "docker compose -p weatherlake-smoke down -v" in result.stderr


def test_smoke_says_so_when_docker_is_not_usable(fake):
    result = fake("smoke_cluster.sh", FAKE_DOCKER_INFO_EXIT=1)
    assert result.returncode == 1
    assert "cannot reach the Docker engine" in result.stderr
    assert docker_compose_calls(fake.calls()) == [], "nothing may start without a usable engine"


def test_run_analytics_on_the_cluster_runs_inside_the_scheduler(fake):
    result = fake("run_analytics.sh", "--cluster", "--job", "anomalies", "--from", "2026-11-01")
    assert result.returncode == 0, result.stderr
    assert docker_compose_calls(fake.calls()) == [
        ["exec", "-T", "scheduler", "weatherlake", "analytics", "--job", "anomalies", "--from", "2026-11-01"]
    ]


def test_run_backup_on_the_cluster_runs_inside_the_scheduler(fake):
    result = fake("run_backup.sh", "--cluster", "--copy-to", "hdfs://namenode:8020/backups")
    assert result.returncode == 0, result.stderr
    assert docker_compose_calls(fake.calls()) == [
        ["exec", "-T", "scheduler", "weatherlake", "backup", "--copy-to", "hdfs://namenode:8020/backups"]
    ]


def test_create_kafka_topic_creates_missing_topics_with_the_configured_partitions(fake):
    topics = fake.tmp_path / "topics.json"
    result = fake("create_kafka_topic.sh", FAKE_TOPICS=topics)
    assert result.returncode == 0, result.stderr
    assert json.loads(topics.read_text()) == {"weather.observations": 3, "weather.observations.dlq": 3}
    creates = [a for a in docker_compose_calls(fake.calls()) if "--create" in a]
    assert all(a[:4] == ["exec", "-T", "kafka", "/opt/kafka/bin/kafka-topics.sh"] for a in creates)
    assert all("--if-not-exists" in a and a[a.index("--bootstrap-server") + 1] == "kafka:19092" for a in creates)


def test_create_kafka_topic_grows_a_topic_and_says_what_else_must_change(fake):
    topics = fake.tmp_path / "topics.json"
    topics.write_text(json.dumps({"weather.observations": 3}))
    result = fake("create_kafka_topic.sh", "--partitions", "6", "weather.observations", FAKE_TOPICS=topics)
    assert result.returncode == 0, result.stderr
    assert json.loads(topics.read_text()) == {"weather.observations": 6}
    assert "set KAFKA_PARTITIONS=6" in result.stderr
    again = fake("create_kafka_topic.sh", "--partitions", "6", "weather.observations", FAKE_TOPICS=topics)
    assert "already has 6 partitions" in again.stderr


@pytest.mark.parametrize("args", [["--partitions", "0"], ["--partitions", "many"], ["--bogus"]])
def test_create_kafka_topic_rejects_bad_arguments(fake, args):
    result = fake("create_kafka_topic.sh", *args)
    assert result.returncode == 2
    assert result.stderr.startswith("create_kafka_topic: ")


def test_init_hdfs_creates_the_lake_root_for_the_services_user(fake):
    result = fake("init_hdfs.sh", "--here")
    assert result.returncode == 0, result.stderr
    hdfs = [call["argv"] for call in fake.calls() if call["tool"] == "hdfs"]
    assert ["dfs", "-mkdir", "-p", "/weather_data", "/user/weatherlake"] in hdfs
    assert ["dfs", "-chown", "weatherlake:weatherlake", "/weather_data", "/user/weatherlake"] in hdfs
    waits = [i for i, argv in enumerate(hdfs) if argv[:2] in (["dfsadmin", "-report"], ["dfsadmin", "-safemode"])]
    assert max(waits) < hdfs.index(["dfs", "-mkdir", "-p", "/weather_data", "/user/weatherlake"])
    assert hdfs[-2] == ["dfsadmin", "-allowSnapshot", "/weather_data"]  # backups snapshot it


def test_init_hdfs_gives_up_with_a_clear_message_when_no_datanode_comes(fake):
    result = fake("init_hdfs.sh", "--here", FAKE_LIVE_DATANODES=0, HDFS_INIT_TIMEOUT=1)
    assert result.returncode == 1
    assert "gave up after 1s waiting for a live datanode" in result.stderr
    assert not any(call["argv"][:2] == ["dfs", "-mkdir"] for call in fake.calls())


def test_init_hdfs_from_the_host_runs_the_compose_service(fake):
    result = fake("init_hdfs.sh")
    assert result.returncode == 0, result.stderr
    assert docker_compose_calls(fake.calls()) == [["run", "--rm", "hdfs-init"]]
