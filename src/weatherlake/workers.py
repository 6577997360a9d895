"""Run one job in several processes: the way past one Python process's single core.

The producer's backfill and the lake sink spend most of their time in kafka-python's
pure-Python record handling, so one process saturates one core. ``run_processes``
starts a process per share of the work (``spawn``: a clean interpreter, no inherited
threads or sockets), stops them all when ``stop`` is set or one of them fails, and
returns what each one returned. ``streaming_gc`` tunes the garbage collector of such a
long-running process.
"""

from __future__ import annotations

import gc
import multiprocessing
import multiprocessing.connection
import threading
from collections.abc import Callable, Sequence

from weatherlake import logs
from weatherlake.errors import WeatherlakeError

#: What a process tells the parent: its SIGTERM handler is in place, or how it ended.
READY, DONE, FAILED = "ready", "done", "failed"


def run_processes(
    what: str, target: Callable, shares: Sequence[tuple], *, stop: threading.Event, log_level: str
) -> list:
    """Call ``target(*share, stop=<event>)`` in a process per share; return the results in order.

    Each process logs as ``[<what>-<n>]`` and stops cleanly on SIGTERM (its ``stop``
    event). A WeatherlakeError in one of them stops the others and is raised here, as
    one line naming the process; so is an exit without a result.
    """
    context = multiprocessing.get_context("spawn")
    reports = _Reports(context.SimpleQueue())
    processes = [
        context.Process(target=_child, name=f"{what}-{n}", args=(n, target, share, reports.queue, log_level))
        for n, share in enumerate(shares, start=1)
    ]
    for process in processes:
        process.start()
    try:
        _wait_for_exits(processes, reports, stop)
    finally:
        for process in processes:
            if process.exitcode is None:
                process.terminate()
            process.join()
    reports.read()
    failure = _first_failure(processes, reports.outcomes)
    if failure:
        raise WeatherlakeError(failure)
    return [reports.outcomes[n][1] for n in range(1, len(processes) + 1)]


class _Reports:
    """What the processes (numbered from 1) have told the parent so far."""

    def __init__(self, queue) -> None:
        self.queue = queue
        self.ready: set[int] = set()  # processes whose SIGTERM handler is in place
        self.outcomes: dict[int, tuple[bool, object]] = {}  # finished: (succeeded, result or error)

    def read(self) -> None:
        while not self.queue.empty():
            n, kind, value = self.queue.get()
            if kind == READY:
                self.ready.add(n)
            else:
                self.outcomes[n] = (kind == DONE, value)


def _wait_for_exits(processes: list, reports: _Reports, stop: threading.Event) -> None:
    """Until every process has exited; once ``stop`` is set or one has failed, SIGTERM the rest."""
    signalled: set[int] = set()
    while running := [(n, p) for n, p in enumerate(processes, start=1) if p.exitcode is None]:
        multiprocessing.connection.wait([p.sentinel for _, p in running], timeout=0.2)
        reports.read()
        if stop.is_set() or any(p.exitcode not in (None, 0) for p in processes):
            # Only once a process can take SIGTERM cleanly; one still starting up
            # is signalled as soon as it says it is ready.
            for n, process in running:
                if n in reports.ready and n not in signalled:
                    signalled.add(n)
                    process.terminate()


def _first_failure(processes: list, outcomes: dict[int, tuple[bool, object]]) -> str | None:
    """The failure to report, naming its process: a process's own error first, as it is the cause."""
    failures = [(n, value) for n, (ok, value) in sorted(outcomes.items()) if not ok]
    failures += [(n, f"exited with code {p.exitcode} before finishing")
                 for n, p in enumerate(processes, start=1) if n not in outcomes]
    if not failures:
        return None
    n, message = failures[0]
    return f"{processes[n - 1].name}: {message}"


def _child(n: int, target: Callable, share: tuple, messages, log_level: str) -> None:
    logs.configure(log_level, process=multiprocessing.current_process().name)
    stop = logs.stop_event()
    messages.put((n, READY, None))
    try:
        value = target(*share, stop=stop)
    except WeatherlakeError as error:
        messages.put((n, FAILED, str(error)))
        raise SystemExit(1) from None
    messages.put((n, DONE, value))


def streaming_gc() -> None:
    """Tune the garbage collector for a process that streams records for a long time.

    Everything allocated so far (imported modules, clients, settings) lives as long as
    the process: frozen, the collector's full passes skip it. A young collection every
    10,000 new objects rather than 700: a record in flight is a handful of container
    objects (kafka-python's futures and records, our batches), and every collection
    promotes the live ones and rescans them later. Measured on the producer's send path:
    the collector's share fell from 11% (heap frozen only) to 6% (docs/benchmarks.md).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
