"""A test double for the two weather providers' HTTP APIs, serving recorded answers.

What it stands in for
---------------------
The real APIs cannot be reached from the machines the suite runs on, so this local
server (``http.server`` in a thread on 127.0.0.1, a free port) answers the requests
weatherlake makes, with bodies in the providers' documented formats, recorded in
``tests/fixtures/weather_api/``:

- OpenWeatherMap current weather, ``GET /data/2.5/weather?lat&lon&units&appid``: the
  recording for the city at those coordinates (``owm_current_<city>.json``); a wrong
  ``appid`` -> 401 ``owm_401.json``; coordinates with no recording -> 404
  ``owm_404.json`` (``{"cod":"404","message":"city not found"}``).
- Open-Meteo forecast, ``GET /v1/forecast?latitude=a,b&longitude=c,d&current=...`` ->
  ``open_meteo_current_<city>.json`` per location, and ``...&hourly=...&start_date&
  end_date`` -> ``open_meteo_hourly_<city>.json`` cut to the requested days. One location
  answers an object, several a list with ``location_id`` in request order, as the real
  API does. A latitude outside -90..90 -> 400 ``{"error": true, "reason": ...}``.
- Open-Meteo archive, ``GET /v1/archive`` -> ``open_meteo_archive_<city>.json``, cut.

Coordinates are matched to within 0.01 degrees of the catalogue city (the recordings
themselves carry the provider's grid-snapped coordinates, like the real answers).

Faults and overrides
--------------------
- ``fail_next(n, status, body=None, headers=None, path=None)``: the next ``n`` requests
  (to ``path`` only, if given) answer ``status`` (e.g. 429 with ``{"Retry-After": "1"}``,
  or 503) and ``body`` instead of the recording (a 200 with a body: a malformed answer).
- ``slow_next(n, seconds)``: the next ``n`` requests wait ``seconds`` before answering,
  to push a client past its timeout.
- ``override(path, city, body)``: answer ``body`` instead of the recording.

Every request is recorded in ``requests`` as ``(path, {param: value})``.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from weatherlake.cities import catalogue

FIXTURES = Path(__file__).parent / "fixtures" / "weather_api"
VALID_KEY = "test-owm-key-5f1c0a9e"


def fixture(name: str) -> object:
    """A recorded answer, decoded."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@dataclass
class _Fault:
    remaining: int
    status: int = 200
    body: object = None
    headers: dict = field(default_factory=dict)
    path: str | None = None
    delay: float = 0.0


class WeatherApiDouble:
    """Start with ``with WeatherApiDouble() as api:``; ``api.url`` is its base URL."""

    def __init__(self, api_key: str = VALID_KEY) -> None:
        self.api_key = api_key
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._faults: list[_Fault] = []
        self._overrides: dict[tuple[str, str], object] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="weather-api-double", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> WeatherApiDouble:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # --- test controls --------------------------------------------------------------------

    def fail_next(self, n: int, status: int, body: object = None, headers: dict | None = None, path: str | None = None):
        with self._lock:
            self._faults.append(_Fault(n, status, body, dict(headers or {}), path))

    def slow_next(self, n: int, seconds: float, path: str | None = None) -> None:
        with self._lock:
            self._faults.append(_Fault(n, 200, None, {}, path, delay=seconds))

    def override(self, path: str, city: str, body: object) -> None:
        self._overrides[(path, city)] = body

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]

    # --- serving --------------------------------------------------------------------------

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and (fault.path is None or fault.path == path):
                    fault.remaining -= 1
                    return fault
        return None

    def _answer(self, path: str, params: dict[str, str]) -> tuple[int, object, dict]:
        fault = self._take_fault(path)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status != 200 or fault.body is not None:
                return fault.status, fault.body if fault.body is not None else {"message": "injected"}, fault.headers
        if path == "/data/2.5/weather":
            return self._owm(params)
        if path in ("/v1/forecast", "/v1/archive"):
            return self._open_meteo(path, params)
        return 404, {"error": True, "reason": f"no such endpoint {path}"}, {}

    def _owm(self, params: dict[str, str]) -> tuple[int, object, dict]:
        if params.get("appid") != self.api_key:
            return 401, fixture("owm_401.json"), {}
        city = _city_at(params.get("lat"), params.get("lon"))
        name = f"owm_current_{city}.json" if city else None
        if ("/data/2.5/weather", city) in self._overrides:
            return 200, self._overrides[("/data/2.5/weather", city)], {}
        if name is None or not (FIXTURES / name).exists():
            return 404, fixture("owm_404.json"), {}
        return 200, fixture(name), {}

    def _open_meteo(self, path: str, params: dict[str, str]) -> tuple[int, object, dict]:
        latitudes = params.get("latitude", "").split(",")
        longitudes = params.get("longitude", "").split(",")
        if len(latitudes) != len(longitudes):
            return (
                400,
                {"error": True, "reason": "Parameter 'latitude' and 'longitude' must have the same number of elements"},
                {},
            )
        for text in latitudes:
            if not -90 <= float(text) <= 90:
                return (
                    400,
                    {"error": True, "reason": f"Latitude must be in range of -90 to 90°. Given: {float(text)}."},
                    {},
                )
        if path == "/v1/forecast" and "current" in params:
            kind = "current"
        elif path == "/v1/forecast":
            kind = "hourly"
        else:
            kind = "archive"
        answers = []
        for index, (lat, lon) in enumerate(zip(latitudes, longitudes, strict=True)):
            city = _city_at(lat, lon)
            body = self._overrides.get((path, city))
            if body is None:
                name = FIXTURES / f"open_meteo_{kind}_{city}.json"
                if city is None or not name.exists():
                    return 400, {"error": True, "reason": f"test double: no recording for {lat},{lon} ({kind})"}, {}
                body = json.loads(name.read_text(encoding="utf-8"))
            if kind != "current":
                body = _cut_to_days(body, params.get("start_date"), params.get("end_date"))
            if len(latitudes) > 1:
                body = {**body, "location_id": index}
            answers.append(body)
        return 200, answers if len(answers) > 1 else answers[0], {}

    def _handler_class(self):
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 (http.server's naming)
                parts = urlsplit(self.path)
                params = {key: values[-1] for key, values in parse_qs(parts.query).items()}
                with double._lock:
                    double.requests.append((parts.path, params))
                status, body, headers = double._answer(parts.path, params)
                data = json.dumps(body, ensure_ascii=False).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def log_message(self, format, *args):  # keep test output quiet
                pass

        return Handler


def _city_at(lat: str | None, lon: str | None) -> str | None:
    """The fixture name (``london``) of the catalogue city at these coordinates."""
    try:
        lat_f, lon_f = float(lat), float(lon)
    except (TypeError, ValueError):
        return None
    for city in catalogue().values():
        if abs(city.latitude - lat_f) < 0.01 and abs(city.longitude - lon_f) < 0.01:
            return city.id.rsplit("-", 1)[0].replace("-", "_")
    return None


def _cut_to_days(body: dict, start_date: str | None, end_date: str | None) -> dict:
    """The hourly arrays kept to ``start_date..end_date`` (inclusive), as the API answers."""
    if not start_date or not end_date or "hourly" not in body:
        return body
    times = body["hourly"]["time"]
    keep = [i for i, text in enumerate(times) if start_date <= text[:10] <= end_date]
    hourly = {key: [values[i] for i in keep] for key, values in body["hourly"].items()}
    return {**body, "hourly": hourly}
