"""config.py is the one place weatherlake's own environment variables are read."""

from __future__ import annotations

import ast
import re
from dataclasses import fields
from pathlib import Path

import pytest

from weatherlake.config import Settings
from weatherlake.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "weatherlake"

#: Other tools' own variables, read where they are used (config.py's docstring names them).
FOREIGN = {"JAVA_HOME", "PROMETHEUS_MULTIPROC_DIR"}


def _is_environ(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ"


def variables_read(tree: ast.AST) -> set[str]:
    """Names read with ``os.environ[...]``, ``os.environ.get(...)`` or ``os.getenv(...)``."""
    names = set()
    for node in ast.walk(tree):
        key = None
        if isinstance(node, ast.Subscript) and _is_environ(node.value):
            key = node.slice
        elif isinstance(node, ast.Call) and node.args and isinstance(node.func, ast.Attribute) and (
                (node.func.attr == "get" and _is_environ(node.func.value)) or node.func.attr == "getenv"):
            key = node.args[0]
        if key is not None:
            names.add(key.value if isinstance(key, ast.Constant) else ast.unparse(key))
    return names


def test_outside_config_only_other_tools_variables_are_read():
    read = {}
    for path in PACKAGE.rglob("*.py"):
        if path.name != "config.py":
            for name in variables_read(ast.parse(path.read_text())):
                read.setdefault(name, []).append(path.relative_to(PACKAGE).as_posix())
    stray = {name: where for name, where in read.items() if name not in FOREIGN}
    assert not stray, f"environment variables read outside config.py: {stray}"


def test_the_check_sees_every_way_of_reading_a_variable():
    source = 'import os\nos.environ["A"]\nos.environ.get("B")\nos.getenv("C", "x")\nos.environ.get(name)\n'
    assert variables_read(ast.parse(source)) == {"A", "B", "C", "name"}


def test_every_setting_is_in_the_example_env_file():
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    missing = sorted(f.metadata["env"] for f in fields(Settings) if f.metadata["env"] not in documented)
    assert not missing, f".env.example does not list: {', '.join(missing)}"


@pytest.mark.parametrize("name", [f.metadata["env"] for f in fields(Settings)
                                  if isinstance(f.default, (int, float)) and not isinstance(f.default, bool)])
def test_a_bad_number_stops_with_one_line_naming_the_variable(name):
    with pytest.raises(ConfigError, match=name) as caught:
        Settings.from_env({name: "not-a-number"})
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("MQTT_URL", "http://broker:1883", "MQTT_URL must look like mqtt://[user:password@]host[:port] (or mqtts://)"),
    ("MQTT_URL", "mqtt://user:hunter2@", "MQTT_URL must look like mqtt://[user:password@]host[:port] (or mqtts://)"),
    ("MQTT_TOPIC", "stations/#/x", "MQTT_TOPIC must be an MQTT topic filter ('#' only at its end), got 'stations/#/x'"),
    ("MQTT_VERSION", "3", "MQTT_VERSION must be 3.1.1 or 5, got '3'"),
])
def test_bad_mqtt_settings_stop_with_one_line_and_no_secret(name, value, message):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: value})
    assert str(caught.value) == message and "hunter2" not in str(caught.value)
