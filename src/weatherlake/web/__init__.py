"""The serving layer: a Flask application factory over the lake's batch views and speed snapshot.

``create_app(settings=None, test_config=None)`` builds the app; nothing touches the lake
until the first request. gunicorn runs it in production (``weatherlake serve``), Flask's
own server only with ``weatherlake serve --dev``. Blueprints: :mod:`~weatherlake.web.api`
(the JSON API) and :mod:`~weatherlake.web.dashboard` (the page, Plotly's JavaScript,
``/metrics`` and the OpenAPI document).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from flask import Flask, g, request
from werkzeug.exceptions import HTTPException

from weatherlake.config import Settings
from weatherlake.errors import ConfigError, LakeError

if TYPE_CHECKING:
    from weatherlake.web.store import ViewStore

log = logging.getLogger(__name__)

#: Sent with every response. The dashboard takes its script, styles and Plotly from this
#: server only and runs no inline script and no eval. Plotly adds a <style> element of its
#: own, hence style-src 'unsafe-inline' (without it Chromium reports a style-src-elem
#: violation; tests/web/test_dashboard_browser.py fails on any violation).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def check_settings(settings: Settings) -> None:
    """Raise ConfigError for serving settings that cannot work (the message names the variable)."""
    if settings.web_workers < 1:
        raise ConfigError(f"WEB_WORKERS must be at least 1, got {settings.web_workers}")
    if settings.web_threads < 1:
        raise ConfigError(f"WEB_THREADS must be at least 1, got {settings.web_threads}")
    if settings.web_cache_mb < 1:
        raise ConfigError(f"WEB_CACHE_MB must be at least 1, got {settings.web_cache_mb}")
    if settings.web_reload_seconds < 0:
        raise ConfigError(f"WEB_RELOAD_SECONDS must not be negative, got {settings.web_reload_seconds}")
    if settings.dashboard_refresh_seconds < 0:
        raise ConfigError(f"DASHBOARD_REFRESH_SECONDS must not be negative, got {settings.dashboard_refresh_seconds}")
    from weatherlake.stations.tokens import load_tokens

    if settings.station_tokens:
        load_tokens(settings.station_tokens)  # a bad line: ConfigError naming it, before a worker starts
    if settings.export_tokens:
        load_tokens(settings.export_tokens, "EXPORT_TOKENS", "client")


def create_app(settings: Settings | None = None, test_config: dict | None = None) -> Flask:
    """The Flask app for ``settings`` (default: from the environment).

    ``test_config`` overrides Flask config keys, and these of weatherlake's:
    ``RELOAD_SECONDS`` (how often the lake is checked), ``BACKGROUND_REFRESH`` (False:
    check in the request itself, for deterministic tests), ``DASHBOARD_REFRESH_SECONDS``,
    ``CACHE_BYTES`` (the budget of the cache of derived answers, from WEB_CACHE_MB),
    and the budget of one ``/api/raw-data`` request: ``RAW_MAX_BYTES``,
    ``RAW_MAX_RECORDS``, ``RAW_MAX_SECONDS`` (:mod:`weatherlake.web.raw`).
    """
    from weatherlake.web import api, dashboard, export, ingest, raw, reports  # noqa: F401 - reports registers routes

    settings = settings or Settings.from_env()
    check_settings(settings)
    app = Flask(__name__)
    app.config.from_mapping(
        RELOAD_SECONDS=settings.web_reload_seconds,
        BACKGROUND_REFRESH=True,
        DASHBOARD_REFRESH_SECONDS=settings.dashboard_refresh_seconds,
        CACHE_BYTES=settings.web_cache_mb * 1024 * 1024,
        RAW_MAX_BYTES=raw.MAX_BYTES,
        RAW_MAX_RECORDS=raw.MAX_RECORDS,
        RAW_MAX_SECONDS=raw.MAX_SECONDS,
    )
    if test_config:
        app.config.update(test_config)
    app.extensions["weatherlake"] = {"settings": settings, "store": _view_store(settings, app.config),
                                     "ingest": ingest.make_state(settings), "export": export.make_state(settings)}
    app.register_blueprint(api.api)
    app.register_blueprint(dashboard.dashboard)
    _answer_errors_in_json(app)
    _measure_and_secure_responses(app)
    return app


def _view_store(settings: Settings, config: dict) -> ViewStore:
    """The app's :class:`~weatherlake.web.store.ViewStore`; it opens the lake on first use."""
    from weatherlake.lake import open_lake
    from weatherlake.web import api, raw
    from weatherlake.web.store import ViewStore

    return ViewStore(
        lambda: open_lake(settings),
        settings.kafka_topic,
        reload_seconds=config["RELOAD_SECONDS"],
        background=config["BACKGROUND_REFRESH"],
        warm=lambda loaded: api.warm(loaded, settings),
        cache_bytes=config["CACHE_BYTES"],
        raw_budget=raw.Budget(config["RAW_MAX_BYTES"], config["RAW_MAX_RECORDS"], config["RAW_MAX_SECONDS"]),
    )


def _answer_errors_in_json(app: Flask) -> None:
    """Every error as ``{"error": {"code", "message"}}``, with no hosts, paths or tracebacks."""
    from weatherlake.web.api import json_response
    from weatherlake.web.params import ApiError

    def error(status: int, code: str, message: str):
        return json_response({"error": {"code": code, "message": message}}, status)

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        body = {"code": exc.code, "message": exc.message}
        if exc.details is not None:
            body["details"] = exc.details
        response = json_response({"error": body}, exc.status)
        response.headers.update(exc.headers)
        return response

    @app.errorhandler(LakeError)
    def lake_error(exc: LakeError):
        log.warning("lake error answering %s: %s", request.path, exc)  # the details (hosts, paths): log only
        return error(503, "lake_unavailable", "the lake could not be read; try again (the server log has the details)")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        codes = {404: "not_found", 405: "method_not_allowed"}
        message = f"no such endpoint: {request.path}" if exc.code == 404 else exc.description
        return error(exc.code or 500, codes.get(exc.code, "http_error"), message)

    @app.errorhandler(Exception)
    def internal_error(exc: Exception):
        log.exception("unhandled error answering %s", request.path)
        return error(500, "internal_error", "internal error; the server log has the details")


def _measure_and_secure_responses(app: Flask) -> None:
    """Each response counted and timed (:mod:`weatherlake.web.metrics`) and sent with SECURITY_HEADERS."""
    from weatherlake.web import metrics

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def count(response):
        rule = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.observe(rule, request.method, response.status_code, time.perf_counter() - g.get("started", 0.0))
        return response

    @app.after_request
    def secure(response):
        response.headers.update(SECURITY_HEADERS)
        return response
