"""Logging and signal set-up for the command-line edge (services log to stderr)."""

from __future__ import annotations

import logging
import signal
import sys
import threading

FORMAT = "%(asctime)s %(levelname)-7s %(process)d %(name)s: %(message)s"
NOISY = ("kafka", "urllib3", "py4j", "werkzeug", "hdfs")


def configure(level: str, process: str | None = None) -> None:
    """Log at ``level`` to stderr; ``process`` (a worker's name) prefixes every line."""
    form = FORMAT.replace("%(name)s", f"[{process}] %(name)s") if process else FORMAT
    logging.basicConfig(level=level.upper(), format=form, stream=sys.stderr, force=True)
    for name in NOISY:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
    # kafka-python logs every reconnect attempt at WARNING/ERROR; our own retry lines say it once.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)


def stop_event() -> threading.Event:
    """An event set by SIGTERM or SIGINT (Ctrl-C), for loops that must stop cleanly."""
    stop = threading.Event()

    def handle(signum, _frame):
        logging.getLogger(__name__).info("%s received; stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop
