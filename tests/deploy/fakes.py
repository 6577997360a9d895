"""Stand-ins for `docker`, `hdfs`, `curl` and `sleep`, to run the cluster scripts here.

Docker cannot run on the machines that run this suite. These fakes answer the few
commands the scripts use the way Docker Compose v2, Kafka's kafka-topics.sh and
Hadoop's `hdfs` do, and record every call (argv, and COMPOSE_PROJECT_NAME) as one JSON
line, so a test can check what a script did and in which order. Behaviour is chosen per
test through FAKE_* environment variables:

* FAKE_DOCKER_INFO_EXIT: exit status of `docker info` (default 0)
* FAKE_HEALTH: the health every container reports (default healthy)
* FAKE_EXIT_<service>: exit code of a one-shot service (default 0)
* FAKE_RAW_FILES: 0 to make the lake's raw directory empty
* FAKE_TOPICS: JSON file with {topic: partitions}, updated by --create and --alter
* FAKE_LIVE_DATANODES, FAKE_SAFE_MODE: what `hdfs dfsadmin` reports (1, OFF)
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

FAKE = r"""#!{python}
import json, os, sys
argv = sys.argv[1:]
tool = os.path.basename(sys.argv[0])
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps({{"tool": tool, "argv": argv, "project": os.environ.get("COMPOSE_PROJECT_NAME")}}) + "\n")

def out(text):
    sys.stdout.write(text + "\n")

def hdfs(args):
    if args[:3] == ["dfsadmin", "-report", "-live"]:
        out("Configured Capacity: 1\n-------------------------------------------------")
        out(f"Live datanodes ({{os.environ.get('FAKE_LIVE_DATANODES', '1')}}):")
        return 0
    if args[:3] == ["dfsadmin", "-safemode", "get"]:
        out(f"Safe mode is {{os.environ.get('FAKE_SAFE_MODE', 'OFF')}}")
        return 0
    if args[:2] == ["dfs", "-ls"] and args[-1].endswith("/raw"):
        if os.environ.get("FAKE_RAW_FILES", "1") == "0":
            return 1
        out("-rw-r--r--   1 weatherlake weatherlake  5120 2026-11-23 10:00 "
            "/weather_data/raw/date=2026-11-23/weather.observations+0+0000000000+0000000041.jsonl")
        return 0
    return 0

def kafka_topics(args):
    path = os.environ.get("FAKE_TOPICS")
    topics = json.load(open(path)) if path and os.path.exists(path) else {{}}
    topic = args[args.index("--topic") + 1] if "--topic" in args else None
    if "--list" in args:
        out("\n".join(topics))
    elif "--describe" in args:
        if topic not in topics:
            sys.stderr.write(f"Error while executing topic command : Topic '{{topic}}' does not exist as expected\n")
            return 1
        out(f"Topic: {{topic}}\tTopicId: x\tPartitionCount: {{topics[topic]}}\tReplicationFactor: 1\tConfigs: ")
        for p in range(topics[topic]):
            out(f"\tTopic: {{topic}}\tPartition: {{p}}\tLeader: 1\tReplicas: 1\tIsr: 1")
    elif "--create" in args or "--alter" in args:
        topics[topic] = int(args[args.index("--partitions") + 1])
        json.dump(topics, open(path, "w"))
    return 0

def docker(args):
    if args[:1] == ["info"]:
        return int(os.environ.get("FAKE_DOCKER_INFO_EXIT", "0"))
    if args[:1] == ["inspect"]:
        fmt, container = args[2], args[3]
        service = container.removeprefix("id-")
        if "Health" in fmt:
            out(os.environ.get("FAKE_HEALTH", "healthy"))
        else:
            out(f"exited {{os.environ.get('FAKE_EXIT_' + service, '0')}}")
        return 0
    if args[:1] != ["compose"]:
        return 0
    args = args[1:]
    while args and args[0] in ("-p", "--project-name"):
        args = args[2:]
    command = args[0] if args else ""
    if command == "ps":
        out("id-" + args[-1])
        return 0
    if command == "logs":
        out("some-service  | its last log line")
        return 0
    if command == "exec":
        rest = [a for a in args[1:] if a != "-T"]
        service, program = rest[0], rest[1:]
        if program[:1] == ["hdfs"]:
            return hdfs(program[1:])
        if program and program[0].endswith("kafka-topics.sh"):
            return kafka_topics(program[1:])
        return 0
    return 0

if tool == "docker":
    sys.exit(docker(argv))
if tool == "hdfs":
    sys.exit(hdfs(argv))
sys.exit(0)  # curl, sleep: succeed at once
"""


def install(bin_dir: Path) -> None:
    """Write the fakes into ``bin_dir`` (put it first on PATH)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in ("docker", "hdfs", "curl", "sleep"):
        path = bin_dir / tool
        path.write_text(FAKE.format(python=sys.executable))
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def calls(log: Path) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def environment(bin_dir: Path, log: Path, **fake) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("FAKE_", "COMPOSE_", "SMOKE_"))}
    for name in ("KAFKA_PARTITIONS", "KAFKA_TOPIC", "KAFKA_DLQ_TOPIC", "LAKE_ROOT", "LAKE_OWNER", "HDFS_INIT_TIMEOUT"):
        env.pop(name, None)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    env["FAKE_LOG"] = str(log)
    env.update({key: str(value) for key, value in fake.items()})
    return env
