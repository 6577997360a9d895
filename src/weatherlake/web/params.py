"""Query parameters: one table of specs that both validates requests and documents the API.

A request with an unknown parameter, a repeated one, one without a value, or a value out
of range is refused with a 400 and a JSON error naming the parameter, never guessed at:
what is accepted is exactly what the OpenAPI document (:meth:`Param.schema`) says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from werkzeug.datastructures import MultiDict

from weatherlake.errors import WeatherlakeError

CITY_ID = r"[a-z0-9]+(?:-[a-z0-9]+)*"
CITY_LIST = re.compile(rf"{CITY_ID}(?:,{CITY_ID})*")
MAX_CITIES = 100
#: Names such as alert rules': the rules file allows exactly these.
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


class ApiError(WeatherlakeError):
    """An error the API answers as ``{"error": {"code", "message"}}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str, details: list | None = None,
                 headers: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details  # answered as error.details when given (per-record errors)
        self.headers = headers or {}


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "int", "choice", "cities", "date", "name", "pattern"
    description: str
    default: object = None
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()
    pattern: str = ""  # of a "pattern" parameter: the whole value must match

    def parse(self, raw: str) -> object:
        if self.kind == "int":
            if not re.fullmatch(r"-?\d{1,19}", raw):
                raise _invalid(self, raw, "an integer")
            value = int(raw)
            if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
                raise _invalid(self, raw, f"an integer from {self.minimum} to {self.maximum}")
            return value
        if self.kind == "choice":
            if raw not in self.choices:
                raise _invalid(self, raw, "one of " + ", ".join(self.choices))
            return raw
        if self.kind == "date":
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
                try:
                    return date.fromisoformat(raw).isoformat()
                except ValueError:
                    pass
            raise _invalid(self, raw, "a date like 2026-11-23")
        if self.kind == "name":
            if not NAME.fullmatch(raw):
                raise _invalid(self, raw, "a name of lowercase letters, digits, - and _")
            return raw
        if self.kind == "pattern":
            if not re.fullmatch(self.pattern, raw):
                raise _invalid(self, raw, f"a value matching {self.pattern}")
            return raw
        if self.kind == "cities":
            if not CITY_LIST.fullmatch(raw):
                raise _invalid(self, raw, "comma-separated city ids like london-gb,tokyo-jp")
            ids = raw.split(",")
            limit = self.maximum or MAX_CITIES
            if len(ids) > limit:
                raise ApiError(400, "invalid_parameter", f"{self.name}: at most {limit} cities per request")
            return list(dict.fromkeys(ids))
        raise AssertionError(self.kind)

    def schema(self) -> dict:
        """The OpenAPI schema of the parameter."""
        if self.kind == "int":
            schema = {"type": "integer", "minimum": self.minimum, "maximum": self.maximum}
        elif self.kind == "choice":
            schema = {"type": "string", "enum": list(self.choices)}
        elif self.kind == "date":
            schema = {"type": "string", "format": "date"}
        elif self.kind == "name":
            schema = {"type": "string", "pattern": f"^{NAME.pattern}$"}
        elif self.kind == "pattern":
            schema = {"type": "string", "pattern": f"^{self.pattern}$"}
        else:
            more = (self.maximum or MAX_CITIES) - 1
            schema = {"type": "string", "pattern": f"^{CITY_ID}(?:,{CITY_ID}){{0,{more}}}$"}
        if self.default is not None:
            schema["default"] = self.default
        return schema


def _invalid(param: Param, raw: str, expected: str) -> ApiError:
    shown = raw if len(raw) <= 40 else raw[:40] + "..."
    return ApiError(400, "invalid_parameter", f"{param.name} must be {expected}, got {shown!r}")


def parse_args(specs: tuple[Param, ...], args: MultiDict) -> dict[str, object]:
    """Validate a request's query string against ``specs``; keyword arguments for the view."""
    names = {spec.name for spec in specs}
    unknown = sorted(set(args) - names)
    if unknown:
        allowed = ", ".join(sorted(names)) or "none"
        raise ApiError(400, "unknown_parameter", f"unknown parameter {unknown[0]!r} (allowed: {allowed})")
    values: dict[str, object] = {}
    for spec in specs:
        given = args.getlist(spec.name)
        if len(given) > 1:
            raise ApiError(400, "invalid_parameter", f"{spec.name} given {len(given)} times; give it once")
        if not given:
            values[spec.name] = spec.default
        elif not given[0]:
            raise ApiError(400, "invalid_parameter", f"{spec.name} has no value; leave it out for the default")
        else:
            values[spec.name] = spec.parse(given[0])
    return values


# --- the parameters the API uses ------------------------------------------------------------

CITIES = Param(
    "cities",
    "cities",
    "Comma-separated city ids (at most 100), e.g. `london-gb,tokyo-jp`. Default: every city with data.",
)
CHART_CITIES = Param(
    "cities",
    "cities",
    "Comma-separated city ids (at most 10). Default: the configured cities (`CITIES`) that have data.",
    maximum=10,
)
HOURS = Param(
    "hours",
    "int",
    "Length of the time window in hours, ending with the newest hour that has data.",
    default=48,
    minimum=1,
    maximum=24 * 90,
)
ANOMALY_HOURS = Param(
    "hours",
    "int",
    "Only anomalies in this many hours, ending with the newest hour that has data. Default: no limit.",
    minimum=1,
    maximum=24 * 366,
)
PERIOD = Param("period", "choice", "Grain of the statistics.", default="day", choices=("day", "week", "month"))
PERIODS_LIMIT = Param("limit", "int", "Newest periods per city.", default=31, minimum=1, maximum=366)
SEVERITY = Param(
    "severity",
    "choice",
    "Smallest severity shown (`moderate` shows all).",
    default="moderate",
    choices=("moderate", "severe", "extreme"),
)
METRIC = Param("metric", "choice", "Only this metric.", choices=("temperature", "humidity", "pressure", "wind_speed"))
FORECAST_METRIC = Param("metric", "choice", "The metric.", default="temperature",
                        choices=("temperature", "humidity", "pressure", "wind_speed"))
LIMIT = Param("limit", "int", "Most rows returned.", default=100, minimum=1, maximum=1000)
DATE = Param("date", "date", "UTC date of the raw partition to read. Default: the newest date in the lake.")
