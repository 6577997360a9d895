"""The Docker cluster's files as data, for the static checks (Docker cannot run here).

``docker-compose.yml`` is read the way Compose reads it: YAML with merge keys, then
``${VAR:-default}`` interpolation, here against an empty environment (every variable at
its default), so the checks see what ``docker compose up`` gets on a fresh checkout.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from weatherlake.engines.files import read_env_file

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
DEPLOYMENT_DOC = ROOT / "docs" / "deployment.md"
SCRIPTS = ROOT / "scripts"

_VARIABLE = re.compile(r"\$(?:\$|\{(?P<braced>[^}]*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")


def interpolate(text: str, environ: dict[str, str]) -> str:
    """Compose's interpolation: $$ escapes, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}."""

    def substitute(match: re.Match) -> str:
        if match[0] == "$$":
            return "$"
        expression = match["braced"] if match["braced"] is not None else match["plain"]
        for separator in (":-", "-", ":?", "?"):
            name, found, rest = expression.partition(separator)
            if found:
                value = environ.get(name)
                if separator == ":-":
                    return value if value else rest
                if separator == "-":
                    return rest if value is None else value
                if not value:
                    raise ValueError(f"${{{expression}}}: {rest or name + ' is required'}")
                return value
        return environ.get(expression, "")

    return _VARIABLE.sub(substitute, text)


def _interpolate_tree(node, environ):
    if isinstance(node, str):
        return interpolate(node, environ)
    if isinstance(node, list):
        return [_interpolate_tree(item, environ) for item in node]
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, environ) for key, value in node.items()}
    return node


def load_compose(environ: dict[str, str] | None = None) -> dict:
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    return _interpolate_tree(raw, environ or {})


@dataclass(frozen=True)
class Port:
    service: str
    host_ip: str
    host_port: int | None  # None: Docker picks a free one
    container_port: int


@dataclass
class Service:
    name: str
    spec: dict = field(repr=False)

    @property
    def image(self) -> str:
        return self.spec.get("image", "")

    @property
    def built_here(self) -> bool:
        return "build" in self.spec

    @property
    def command(self) -> list[str]:
        command = self.spec.get("command", [])
        return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]

    @property
    def env_files(self) -> list[Path]:
        files = self.spec.get("env_file") or []
        return [ROOT / entry for entry in ([files] if isinstance(files, str) else files)]

    @property
    def environment(self) -> dict[str, str]:
        """What the container gets: its env_files, then ``environment`` over them."""
        merged = {}
        for path in self.env_files:
            merged.update(read_env_file(path))
        env = self.spec.get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
        merged.update({str(key): "" if value is None else str(value) for key, value in env.items()})
        return merged

    @property
    def one_shot(self) -> bool:
        return self.spec.get("restart") == "no"

    @property
    def depends_on(self) -> dict[str, str]:
        """{dependency: condition}; the short list form means service_started."""
        deps = self.spec.get("depends_on") or {}
        if isinstance(deps, list):
            return {name: "service_started" for name in deps}
        return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}

    @property
    def ports(self) -> list[Port]:
        return [_parse_port(self.name, entry) for entry in self.spec.get("ports", [])]

    @property
    def volumes(self) -> list[tuple[str, str]]:
        """(source, target) of each mount in short syntax."""
        mounts = []
        for entry in self.spec.get("volumes", []):
            source, target, *_ = str(entry).split(":")
            mounts.append((source, target))
        return mounts

    def option(self, flag: str) -> str | None:
        """The value after ``flag`` in the command line, if any."""
        command = self.command
        return command[command.index(flag) + 1] if flag in command else None


def _parse_port(service: str, entry) -> Port:
    parts = str(entry).split("/")[0].split(":")
    if len(parts) == 3:
        ip, host, container = parts
    elif len(parts) == 2:
        ip, (host, container) = "0.0.0.0", parts
    else:
        ip, host, container = "0.0.0.0", "", parts[0]
    return Port(service, ip, int(host) if host else None, int(container))


def services(compose: dict | None = None) -> dict[str, Service]:
    compose = compose or load_compose()
    return {name: Service(name, spec) for name, spec in compose["services"].items()}


def hadoop_config(service: Service) -> dict[str, dict[str, str]]:
    """The apache/hadoop image's FILE.XML_key=value variables as {"core-site": {key: value}}."""
    config: dict[str, dict[str, str]] = {}
    for name, value in service.environment.items():
        match = re.fullmatch(r"([A-Z-]+)\.XML_(.+)", name)
        if match:
            config.setdefault(match[1].lower(), {})[match[2]] = value
    return config


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    logical, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    result = []
    for text in logical:
        instruction, _, arguments = text.partition(" ")
        result.append((instruction.upper(), arguments.strip()))
    return result


def markdown_table(text: str, heading: str) -> list[dict[str, str]]:
    """The first table under the Markdown heading ``heading``, as dicts keyed by header cell."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip("# ").strip() == heading and line.startswith("#"))
    rows = []
    header = None
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        if not line.startswith("|"):
            if header is not None and rows:
                break
            continue
        cells = [cell.strip().strip("`").strip() for cell in line.strip().strip("|").split("|")]
        if header is None:
            header = [cell.lower() for cell in cells]
        elif not set("".join(cells)) <= set("-: "):
            rows.append(dict(zip(header, cells, strict=False)))
    return rows
