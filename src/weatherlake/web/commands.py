"""``weatherlake serve``: gunicorn in production, Flask's development server with ``--dev``."""

from __future__ import annotations

import ipaddress
import logging
import os
import shutil
import socket
import tempfile
from dataclasses import replace

import click

from weatherlake.config import Settings
from weatherlake.errors import ConfigError

log = logging.getLogger(__name__)


def gunicorn_options(settings: Settings) -> dict:
    """gunicorn settings for the serving layer (threads: requests mostly wait on nothing but the GIL)."""
    return {
        "bind": f"{settings.web_host}:{settings.web_port}",
        "workers": settings.web_workers,
        "worker_class": "gthread",
        "threads": settings.web_threads,
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        "proc_name": "weatherlake-serve",
        # Every worker loads the views itself; nothing is shared before the fork.
        "preload_app": False,
        # gunicorn 27's runtime control socket lives at one path per user: two servers (or a
        # test beside a running one) would fight over it, and nothing here uses it.
        "control_socket_disable": True,
    }


def run_gunicorn(settings: Settings) -> None:
    """Run the app under gunicorn in the foreground until SIGTERM/SIGINT (gunicorn handles both)."""
    # prometheus-client reads this when it is first imported: before any worker exists.
    own_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if own_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="weatherlake-metrics-")
    metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    from gunicorn.app.base import BaseApplication

    class Serve(BaseApplication):
        def load_config(self):
            for key, value in gunicorn_options(settings).items():
                self.cfg.set(key, value)
            self.cfg.set("child_exit", _child_exit)
            self.cfg.set("post_worker_init", _worker_init)

        def load(self):
            from weatherlake.web import create_app
            from weatherlake.web.dashboard import warm_up

            app = create_app(settings)
            warm_up(app)  # in each worker, before it takes a request
            return app

    log.info("serving on http://%s:%d with %d gunicorn workers x %d threads", settings.web_host, settings.web_port,
             settings.web_workers, settings.web_threads)
    try:
        Serve().run()
    finally:
        if own_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


#: GIL switch interval in the workers. A refresh merging new data in a background thread
#: would otherwise hold the GIL for up to 5 ms (Python's default) each time a request
#: thread gives it up for I/O, and a request does that many times. 1 ms -> 0.2 ms: 1,000-city
#: p99 5.9-10.0 ms -> 5.0-5.7 ms, max 16-26 ms -> 10-15 ms (benchmarks/bench_serving.py).
SWITCH_INTERVAL = 0.0002


def _worker_init(worker) -> None:
    import sys

    sys.setswitchinterval(SWITCH_INTERVAL)


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` names is a loopback address (127.0.0.0/8, ::1)."""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (socket.gaierror, UnicodeError):
        return False
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


def _child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


@click.command()
@click.option("--host", help="Address to bind [default: WEB_HOST].")
@click.option("--port", type=click.IntRange(1, 65535), help="Port [default: WEB_PORT].")
@click.option("--workers", type=click.IntRange(min=1), help="gunicorn worker processes [default: WEB_WORKERS].")
@click.option("--dev", is_flag=True,
              help="Flask's development server (debugger, one process) instead of gunicorn; loopback hosts only.")
@click.pass_obj
def serve(settings: Settings, host: str | None, port: int | None, workers: int | None, dev: bool) -> None:
    """Serve the dashboard and the JSON API (batch views merged with the speed layer).

    Production runs gunicorn with WEB_WORKERS processes of WEB_THREADS threads each;
    the API is under /api (see /api/openapi.json), Prometheus metrics under /metrics.
    """
    from weatherlake.web import check_settings

    changes = {k: v for k, v in {"web_host": host, "web_port": port, "web_workers": workers}.items() if v is not None}
    settings = replace(settings, **changes)
    check_settings(settings)
    if dev:
        if not is_loopback(settings.web_host):
            # The debugger runs any Python a visitor types: never within reach of another machine.
            raise ConfigError(f"--dev serves Werkzeug's debugger, so it binds to a loopback address only (127.0.0.1, "
                              f"::1, localhost), not {settings.web_host!r} (WEB_HOST or --host); serve without --dev")
        from weatherlake.web import create_app

        app = create_app(settings)
        app.run(host=settings.web_host, port=settings.web_port, debug=True, use_reloader=False)
        return
    run_gunicorn(settings)
