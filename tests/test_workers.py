"""run_processes: results in order, a stop reaches every process, one failure stops all."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from weatherlake.errors import WeatherlakeError
from weatherlake.workers import run_processes


def square(n: int, *, stop) -> int:
    return n * n


def wait_for_stop(n: int, *, stop) -> str:
    # Bounded: a stop that never arrives fails the test instead of hanging it.
    return f"{n} stopped" if stop.wait(60) else f"{n} never stopped"


def fail_or_wait(n: int, outcomes: Path, *, stop) -> None:
    if n == 2:
        raise WeatherlakeError("the source rejected the key")
    (outcomes / str(n)).write_text(wait_for_stop(n, stop=stop))


def die(n: int, *, stop) -> None:
    os._exit(3)


def test_results_come_back_in_the_order_of_the_shares():
    assert run_processes("square", square, [(3,), (4,), (5,)], stop=threading.Event(), log_level="INFO") == [9, 16, 25]


def test_a_stop_reaches_every_process_and_each_returns():
    stop = threading.Event()
    threading.Timer(2.0, stop.set).start()
    assert run_processes("waiter", wait_for_stop, [(1,), (2,)], stop=stop, log_level="INFO") == [
        "1 stopped", "2 stopped",
    ]


def test_one_failure_stops_the_others_and_is_raised_naming_its_process(tmp_path):
    with pytest.raises(WeatherlakeError, match=r"^job-2: the source rejected the key$"):
        shares = [(1, tmp_path), (2, tmp_path), (3, tmp_path)]
        run_processes("job", fail_or_wait, shares, stop=threading.Event(), log_level="INFO")
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {"1": "1 stopped", "3": "3 stopped"}


def test_a_process_that_dies_without_a_result_is_an_error():
    with pytest.raises(WeatherlakeError, match=r"^crash-1: exited with code 3 before finishing$"):
        run_processes("crash", die, [(1,)], stop=threading.Event(), log_level="INFO")
