"""Where the engines' definitions live: ``docker/<engine>/`` in the source checkout.

The poms that name the releases and the settings files in the images' variable form are
shared with the compose cluster, so they stay in the repository's ``docker/`` directory
rather than in the installed package: ``weatherlake engines`` runs from a checkout.
"""

from __future__ import annotations

from pathlib import Path

from weatherlake.errors import EngineError

DOCKER_DIR = Path(__file__).resolve().parents[3] / "docker"
KAFKA_DIR = DOCKER_DIR / "kafka"
HADOOP_DIR = DOCKER_DIR / "hadoop"


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a compose env_file (comments and blank lines skipped)."""
    if not path.exists():
        raise EngineError(f"{path} is missing: weatherlake engines runs from a source checkout of weatherlake")
    variables = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise EngineError(f"{path}:{number}: expected KEY=VALUE, got {line!r}")
        variables[key.strip()] = value.strip()
    return variables
