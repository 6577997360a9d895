"""The real engines' costs: start, stop, memory, and a small WebHDFS write.

    .venv/bin/python benchmarks/bench_engines.py [--runs 3] [--writes 50]

In a temporary ENGINES_DIR on free ports, ``--runs`` times: ``Engines.start()`` from
nothing (formats the NameNode and Kafka's log directory; the jars already in ~/.m2), the
daemons' resident memory once usable, ``stop()``, then a start with the data in place
(what `weatherlake engines start` does after a stop) and a last stop. Between them,
``--writes`` small files (200 bytes, the size of a sink commit of one record) written
through WebHDFS as the sink writes them, timed one by one.

Figures, not assertions; the median of the runs is the figure to quote.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import HDFS_USER, free_port  # noqa: E402

from weatherlake.engines import Engines  # noqa: E402
from weatherlake.engines.hdfs import HdfsEngine  # noqa: E402
from weatherlake.engines.kafka import KafkaEngine  # noqa: E402
from weatherlake.lake import WebHdfsLake  # noqa: E402


def resident_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def timed(action) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def one_run(writes: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-engines-") as directory:
        home = Path(directory)
        engines = Engines(home, KafkaEngine(home, free_port(), free_port()),
                          HdfsEngine(home, *(free_port() for _ in range(5)), lake_user=HDFS_USER))
        figures = {"cold start s": timed(engines.start)}
        for daemon in engines.daemons():
            figures[f"{daemon.name} RSS MiB"] = resident_mib(daemon.pid())
        with WebHdfsLake(engines.hdfs.webhdfs_url, HDFS_USER, "/weather_data") as lake:
            latencies = [timed(lambda i=i: lake.write(f"raw/_tmp/bench-{i}.jsonl", b"x" * 200)) for i in range(writes)]
        figures["WebHDFS write median ms"] = 1000 * statistics.median(latencies)
        figures["WebHDFS write p90 ms"] = 1000 * statistics.quantiles(latencies, n=10)[-1]
        figures["stop s"] = timed(engines.stop)
        figures["warm start s"] = timed(engines.start)
        figures["stop again s"] = timed(engines.stop)
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--writes", type=int, default=50)
    args = parser.parse_args()
    runs = []
    for number in range(1, args.runs + 1):
        runs.append(one_run(args.writes))
        print(f"run {number}: " + ", ".join(f"{name} {value:.1f}" for name, value in runs[-1].items()), flush=True)
    print("\nmedian of", len(runs), "runs:")
    for name in runs[0]:
        values = [run[name] for run in runs]
        print(f"  {name:<26} {statistics.median(values):8.1f}   (runs: {', '.join(f'{v:.1f}' for v in values)})")


if __name__ == "__main__":
    main()
