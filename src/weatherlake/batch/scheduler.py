"""Run the analytics periodically: one run at a time, on a fixed rhythm, stoppable at once.

The loop is deliberately plain: one thread calls ``run_once`` and then waits for the next
tick on a :class:`threading.Event`, so two runs can never overlap and a stop request
(SIGTERM, Ctrl-C) ends the wait immediately. Ticks are on a fixed grid from the start
(every 60 minutes means :00, 1:00, 2:00... after the start); a run that overruns its slot
makes the scheduler skip the ticks it missed, never queue them up.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable

from weatherlake.batch import BatchError

log = logging.getLogger(__name__)

#: The scheduler's record of its last run in the lake: ``started_at``, ``finished_at``,
#: ``ok`` and ``error`` (the alert rules of kind ``batch`` read it).
STATUS_PATH = "analytics/_scheduler.json"

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_every(text: str) -> float:
    """``'60m'``, ``'1h30m'``, ``'90s'``, ``'1d'`` (or a plain number of seconds) -> seconds."""
    text = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        seconds = float(text)
    else:
        parts = re.findall(r"(\d+)\s*([smhd])", text)
        if not parts or re.sub(r"\s", "", text) != "".join(f"{n}{u}" for n, u in parts):
            raise ValueError(f"{text!r} is not an interval like 90s, 15m, 1h or 1h30m")
        seconds = float(sum(int(n) * _UNITS[u] for n, u in parts))
    if seconds <= 0:
        raise ValueError(f"the interval must be positive, got {text!r}")
    return seconds


class Scheduler:
    """Calls ``run_once`` every ``every`` seconds until ``stop`` is set."""

    def __init__(
        self,
        run_once: Callable[[], object],
        every: float,
        stop: threading.Event,
        clock: Callable[[], float] = time.monotonic,
        name: str = "analytics",
    ) -> None:
        self.name = name
        self.run_once = run_once
        self.every = every
        self.stop = stop
        self.clock = clock
        self.runs = 0
        self.failures = 0
        self.skipped = 0
        self._running = threading.Lock()

    def run(self, run_at_start: bool = True) -> None:
        """Loop until stopped. A failed run is logged and the schedule goes on."""
        origin = self.clock()
        tick = 0 if run_at_start else 1
        while not self.stop.is_set():
            delay = origin + tick * self.every - self.clock()
            if delay > 0 and self.stop.wait(delay):
                break
            self._run_one()
            if self.stop.is_set():
                break
            # The next tick on the grid that is still ahead, skipping any this run overran.
            following = int((self.clock() - origin) // self.every) + 1
            if following > tick + 1:
                self.skipped += following - tick - 1
                log.warning("the run overran its interval; skipping %d scheduled run(s)", following - tick - 1)
            tick = following
            log.info("next %s run in %.0f s", self.name, max(0.0, origin + tick * self.every - self.clock()))

    def _run_one(self) -> None:
        if not self._running.acquire(blocking=False):  # one loop cannot get here; a guard all the same
            log.warning("a run is still in progress; not starting another")
            return
        try:
            self.run_once()
        except BatchError as error:
            self.failures += 1
            if not self.stop.is_set():
                log.error("%s run failed: %s", self.name, error)
        finally:
            self.runs += 1
            self._running.release()
