"""Alert rules: a TOML file of ``[[rule]]`` tables, validated whole when it is loaded.

A rule file is read once at start-up, so every mistake in it is reported then, as one
:class:`ConfigError` line naming the file and the rule (``alert rules /etc/rules.toml:
rule 'heat': 'above' must be a number, got 'hot'``), rather than as an alert that never
fires. Thresholds are in the record's units (°C, %, hPa, m/s, mm in the last hour); a
threshold outside what the schema accepts for its metric (a heat index "above 103",
meant in °F) is refused for the same reason.

:func:`load_rules` reads a file (or the bundled defaults, ``weatherlake/data/alert_rules.toml``);
:func:`parse_rules` reads text. Evaluation lives in :mod:`weatherlake.alerts.evaluate`.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import dataclass
from datetime import timedelta
from importlib import resources
from pathlib import Path

from weatherlake import cities
from weatherlake.errors import ConfigError, UnknownCityError
from weatherlake.records.schema import RANGES

KINDS = ("threshold", "anomaly", "silent", "dead_letters", "lag", "batch", "source")
SEVERITIES = ("info", "warning", "critical")
#: Record fields a ``threshold`` rule can watch.
METRICS = (
    "temperature", "feels_like", "heat_index", "wind_chill", "dew_point",
    "humidity", "pressure", "wind_speed", "rainfall", "cloudiness",
)
#: Severities of anomaly rows (the speed and batch layers'), weakest first.
ANOMALY_SEVERITIES = ("moderate", "severe", "extreme")
ANOMALY_METRICS = ("temperature", "humidity", "pressure", "wind_speed")
LAYERS = ("sink", "speed")
#: Kinds whose subject is a city; the others watch the pipeline as a whole.
CITY_KINDS = ("threshold", "anomaly", "silent")
PIPELINE = "pipeline"

NAME_PATTERN = "[a-z0-9][a-z0-9_-]*"
_NAME = re.compile(NAME_PATTERN).fullmatch
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?").fullmatch
_DURATION_LIKE = "a duration like '90s', '15m', '2h', '1d' or '1h30m'"

_COMMON_REQUIRED = ("name", "kind", "severity")
_COMMON_OPTIONAL = ("description", "for", "resolve_after")
#: The keys each kind takes besides the common ones (required or not; the parser checks which).
_KIND_KEYS = {
    "threshold": ("metric", "above", "below", "clear", "cities"),
    "anomaly": ("min_severity", "metrics", "cities"),
    "silent": ("after", "cities"),
    "dead_letters": ("per_minute",),
    "lag": ("layer", "records", "seconds"),
    "batch": ("overdue", "on_failure"),
    "source": (),
}
DEFAULT_RESOLVE_AFTER = timedelta(minutes=10)


@dataclass(frozen=True)
class Rule:
    """One validated rule. Fields that do not belong to the rule's kind are None.

    ``for_`` is the file's ``for`` key (a Python keyword). ``clear`` is always set for a
    threshold rule: it defaults to the threshold itself. ``cities`` None means every city.
    """

    name: str
    kind: str
    severity: str
    description: str = ""
    for_: timedelta = timedelta(0)
    resolve_after: timedelta = DEFAULT_RESOLVE_AFTER
    cities: tuple[str, ...] | None = None
    # threshold
    metric: str | None = None
    above: float | None = None
    below: float | None = None
    clear: float | None = None
    # anomaly
    min_severity: str | None = None
    metrics: tuple[str, ...] | None = None
    # silent
    after: timedelta | None = None
    # dead_letters
    per_minute: float | None = None
    # lag
    layer: str | None = None
    records: int | None = None
    seconds: float | None = None
    # batch
    overdue: timedelta | None = None
    on_failure: bool = False

    @property
    def subject_kind(self) -> str:
        """``"city"`` when alerts of this rule are per city, else ``"pipeline"``."""
        return "city" if self.kind in CITY_KINDS else PIPELINE

    @property
    def for_seconds(self) -> float:
        return self.for_.total_seconds()

    @property
    def resolve_after_seconds(self) -> float:
        return self.resolve_after.total_seconds()

    @property
    def after_seconds(self) -> float | None:
        """``silent`` rules' ``after`` in seconds; None for other kinds."""
        return None if self.after is None else self.after.total_seconds()

    def applies_to(self, city_id: str) -> bool:
        """Whether this rule watches ``city_id`` (a rule without ``cities`` watches them all)."""
        return self.cities is None or city_id in self.cities


def parse_duration(text: str) -> timedelta:
    """``"90s"``, ``"15m"``, ``"2h"``, ``"1d"``, or units combined largest first (``"1h30m"``).

    Whole numbers only, so a duration reads the same everywhere it is shown. Raise
    ValueError for anything else.
    """
    match = _DURATION(text) if isinstance(text, str) else None
    if not text or match is None:
        raise ValueError(f"not {_DURATION_LIKE}: {text!r}")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def format_duration(span: timedelta) -> str:
    """``span`` the way rule files write it (``1h30m``, ``0s``), for messages."""
    total = int(span.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def load_rules(path: str | os.PathLike[str] | None = None) -> list[Rule]:
    """The rules in the TOML file at ``path``; None loads the bundled defaults.

    Raise :class:`ConfigError` (one line, naming the file) when the file cannot be read
    or any rule in it is bad.
    """
    source = resources.files("weatherlake") / "data" / "alert_rules.toml" if path is None else Path(path)
    origin = str(source)
    try:
        raw = source.read_bytes()
    except OSError as exc:
        raise ConfigError(f"alert rules {origin}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"alert rules {origin}: not UTF-8 text (byte {exc.start})") from None
    return parse_rules(text, origin)


def parse_rules(text: str, origin: str) -> list[Rule]:
    """The rules in TOML ``text``; ``origin`` names it in errors (a path, ``<test>``)."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"alert rules {origin}: invalid TOML: {_one_line(str(exc))}") from None
    unknown = [key for key in document if key != "rule"]
    if unknown:
        raise ConfigError(f"alert rules {origin}: unknown top-level key {unknown[0]!r} (rules are [[rule]] tables)")
    tables = document.get("rule", [])
    if not isinstance(tables, list):
        raise ConfigError(f"alert rules {origin}: 'rule' must be an array of tables, written [[rule]]")
    rules: list[Rule] = []
    first_index: dict[str, int] = {}
    for index, table in enumerate(tables, start=1):
        label = f"rule #{index}"
        try:
            if not isinstance(table, dict):
                raise _Bad(f"must be a table, got {_show(table)}")
            name = _name(table)
            label = f"rule {name!r}"
            if name in first_index:
                raise _Bad(f"duplicate name (rule #{first_index[name]} has it too)")
            first_index[name] = index
            rules.append(_rule(table, name))
        except _Bad as bad:
            raise ConfigError(f"alert rules {origin}: {label}: {bad}") from None
    return rules


class _Bad(Exception):
    """One problem with one rule; :func:`parse_rules` adds the file and the rule's name."""


def _name(table: dict) -> str:
    if "name" not in table:
        raise _Bad("missing required key 'name'")
    name = table["name"]
    if not isinstance(name, str) or _NAME(name) is None:
        raise _Bad(f"'name' must match {NAME_PATTERN}, got {_show(name)}")
    return name


def _rule(table: dict, name: str) -> Rule:
    """A Rule from one table whose name is already checked."""
    if "kind" not in table:
        raise _Bad("missing required key 'kind'")
    kind = table["kind"]
    if kind not in KINDS:
        raise _Bad(f"unknown kind {_show(kind)} (known: {', '.join(KINDS)})")
    allowed = (*_COMMON_REQUIRED, *_COMMON_OPTIONAL, *_KIND_KEYS[kind])
    for key in table:
        if key not in allowed:
            raise _Bad(f"unknown key {key!r} for kind {kind!r} (allowed: {', '.join(allowed)})")
    if "severity" not in table:
        raise _Bad("missing required key 'severity'")
    common = {
        "name": name,
        "kind": kind,
        "severity": _choice(table, "severity", SEVERITIES),
        "description": _text(table, "description", ""),
        "for_": _duration(table, "for", timedelta(0)),
        "resolve_after": _duration(table, "resolve_after", DEFAULT_RESOLVE_AFTER),
    }
    return Rule(**common, **_KIND_PARSERS[kind](table))


def _threshold(table: dict) -> dict:
    metric = _required(table, "metric")
    if metric not in METRICS:
        raise _Bad(f"unknown metric {_show(metric)} (known: {', '.join(METRICS)})")
    given = [key for key in ("above", "below") if key in table]
    if len(given) != 1:
        raise _Bad(f"needs exactly one of 'above' or 'below', got {'both' if given else 'neither'}")
    side = given[0]
    level = _number(table, side)
    clear = _number(table, "clear") if "clear" in table else level
    low, high = RANGES[metric]
    for key, value in ((side, level), ("clear", clear)):
        if not low <= value <= high:
            raise _Bad(f"{key!r} {value:g} is outside {metric}'s range {low:g}..{high:g} "
                       "(units are °C, %, hPa, m/s and mm)")
    if side == "above" and clear > level:
        raise _Bad(f"'clear' {clear:g} must be at or below 'above' {level:g}")
    if side == "below" and clear < level:
        raise _Bad(f"'clear' {clear:g} must be at or above 'below' {level:g}")
    return {"metric": metric, side: level, "clear": clear, "cities": _cities(table)}


def _anomaly(table: dict) -> dict:
    min_severity = _choice(table, "min_severity", ANOMALY_SEVERITIES) if "min_severity" in table else "severe"
    metrics = None
    if "metrics" in table:
        metrics = _string_list(table, "metrics")
        for metric in metrics:
            if metric not in ANOMALY_METRICS:
                raise _Bad(f"unknown anomaly metric {metric!r} in 'metrics' (known: {', '.join(ANOMALY_METRICS)})")
    return {"min_severity": min_severity, "metrics": metrics, "cities": _cities(table)}


def _silent(table: dict) -> dict:
    return {"after": _positive_duration(table, "after"), "cities": _cities(table)}


def _dead_letters(table: dict) -> dict:
    return {"per_minute": _non_negative(table, "per_minute")}


def _lag(table: dict) -> dict:
    _required(table, "layer")
    layer = _choice(table, "layer", LAYERS)
    wanted, other = ("records", "seconds") if layer == "sink" else ("seconds", "records")
    if other in table:
        raise _Bad(f"layer {layer!r} takes {wanted!r}, not {other!r}")
    _required(table, wanted)
    if wanted == "records":
        records = table["records"]
        if type(records) is not int or records < 0:
            raise _Bad(f"'records' must be a whole number >= 0, got {_show(records)}")
        return {"layer": layer, "records": records}
    return {"layer": layer, "seconds": _non_negative(table, "seconds")}


def _batch(table: dict) -> dict:
    overdue = _positive_duration(table, "overdue") if "overdue" in table else None
    on_failure = table.get("on_failure", False)
    if not isinstance(on_failure, bool):
        raise _Bad(f"'on_failure' must be true or false, got {_show(on_failure)}")
    if overdue is None and not on_failure:
        raise _Bad("needs 'overdue' and/or 'on_failure = true'")
    return {"overdue": overdue, "on_failure": on_failure}


def _source(table: dict) -> dict:
    return {}


_KIND_PARSERS = {
    "threshold": _threshold,
    "anomaly": _anomaly,
    "silent": _silent,
    "dead_letters": _dead_letters,
    "lag": _lag,
    "batch": _batch,
    "source": _source,
}


def _required(table: dict, key: str) -> object:
    if key not in table:
        raise _Bad(f"missing required key {key!r}")
    return table[key]


def _text(table: dict, key: str, default: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise _Bad(f"{key!r} must be a string, got {_show(value)}")
    return value


def _choice(table: dict, key: str, choices: tuple[str, ...]) -> str:
    value = table[key]
    if value not in choices:
        raise _Bad(f"{key!r} must be one of {', '.join(choices)}, got {_show(value)}")
    return value


def _number(table: dict, key: str) -> float:
    value = table[key]
    if type(value) not in (int, float) or not math.isfinite(value):
        raise _Bad(f"{key!r} must be a number, got {_show(value)}")
    return float(value)


def _non_negative(table: dict, key: str) -> float:
    _required(table, key)
    value = _number(table, key)
    if value < 0:
        raise _Bad(f"{key!r} must be >= 0, got {value:g}")
    return value


def _duration(table: dict, key: str, default: timedelta) -> timedelta:
    if key not in table:
        return default
    try:
        return parse_duration(table[key])
    except ValueError:
        raise _Bad(f"{key!r} must be {_DURATION_LIKE}, got {_show(table[key])}") from None


def _positive_duration(table: dict, key: str) -> timedelta:
    _required(table, key)
    span = _duration(table, key, timedelta(0))
    if not span:
        raise _Bad(f"{key!r} must be longer than 0s")
    return span


def _string_list(table: dict, key: str) -> tuple[str, ...]:
    value = table[key]
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        raise _Bad(f"{key!r} must be a non-empty array of strings, got {_show(value)}")
    return tuple(dict.fromkeys(value))


def _cities(table: dict) -> tuple[str, ...] | None:
    """The rule's city ids, each checked against the catalogue; None when not given."""
    if "cities" not in table:
        return None
    ids = _string_list(table, "cities")
    for city_id in ids:
        try:
            cities.resolve([city_id])
        except UnknownCityError:
            raise _Bad(f"unknown city id {city_id!r} in 'cities'") from None
    return ids


def _show(value: object) -> str:
    """A TOML value as the file spells it, near enough for an error message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    return repr(value)


def _one_line(text: str) -> str:
    return " ".join(text.split())
