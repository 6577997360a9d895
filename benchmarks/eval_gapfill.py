"""How close hourly_filled comes to the truth: holes of 1-24 hours punched into real
hourly history, filled by the batch layer's own transform, compared with what was there.

    .venv/bin/python benchmarks/eval_gapfill.py [--holes 12] [--seed 7]

The history is real: NREL's typical meteorological years (TMY3) of Greensboro, NC
(723170) and Sand Point, AK (703165), as pvlib ships them: a year of hourly observations
whose months come from different years (each month's hours are consecutive real
weather; tests/history.py takes them from pvlib's wheel, cached in var/history). Each
station's year becomes one city's series from 2025-01-01; ``--holes`` holes of each length (1, 2, 3, 4, 6, 8, 12, 18 and 24 hours) are
punched at random places (never touching), and ``weatherlake.batch.gaps.filled`` runs on
what is left in a local Spark, three times: as published (a line up to
``LINEAR_UP_TO`` hours, the profile beyond), and with the line and the profile alone.
It prints the mean absolute error by gap length and method, and how often the truth lay
within one and two standard uncertainties.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.history import METRICS, START, tmy_history  # noqa: E402

LENGTHS = (1, 2, 3, 4, 6, 8, 12, 18, 24)


def punch(hours: int, holes: int, rng: random.Random) -> dict[int, int]:
    """{missing hour: the length of its hole}: ``holes`` of each length, apart from each other."""
    taken: dict[int, int] = {}
    for length in LENGTHS:
        placed = 0
        while placed < holes:
            start = rng.randrange(48, hours - 48 - length)
            if any(h in taken for h in range(start - 2, start + length + 2)):
                continue
            taken.update({h: length for h in range(start, start + length)})
            placed += 1
    return taken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--holes", type=int, default=12, help="holes of each length per station")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    from pyspark.sql import types as T

    from weatherlake.batch import gaps
    from weatherlake.batch.session import build_session

    rng = random.Random(args.seed)
    truth, missing, rows = {}, {}, []
    for city, values in tmy_history().items():
        holes = punch(len(values), args.holes, rng)
        for h, value in enumerate(values):
            truth[(city, h)] = value
            if h in holes:
                missing[(city, h)] = holes[h]
            else:
                rows.append((city, city, START + timedelta(hours=h, minutes=30), *(value[m] for m in METRICS), 0.0))
    schema = T.StructType([T.StructField("city_id", T.StringType()), T.StructField("city", T.StringType()),
                           T.StructField("ts", T.TimestampType()),
                           *[T.StructField(m, T.DoubleType()) for m in METRICS],
                           T.StructField("rainfall", T.DoubleType())])
    spark = build_session("weatherlake-eval-gapfill", master="local[2]",
                          conf={"spark.sql.shuffle.partitions": "4", "spark.ui.enabled": "false"})
    spark.sparkContext.setLogLevel("ERROR")
    observations = spark.createDataFrame(rows, schema).cache()
    published = gaps.LINEAR_UP_TO
    results = {}
    for label, linear_up_to in (("published", published), ("line", 10_000), ("profile", 0)):
        gaps.LINEAR_UP_TO = linear_up_to
        results[label] = {(r["city_id"], int((datetime.fromisoformat(r["hour"].replace("Z", "+00:00")) - START)
                                             .total_seconds() // 3600)): r
                          for r in gaps.filled(observations).where("imputed").collect()}
    gaps.LINEAR_UP_TO = published
    spark.stop()
    print(f"{len(missing):,} hours punched out of {len(truth):,} ({args.holes} holes of each length per station, "
          f"seed {args.seed}); LINEAR_UP_TO = {published}")
    for metric in METRICS:
        print(f"\n{metric}: mean absolute error by gap length (hours)")
        print(f"{'length':>6} {'published':>10} {'line':>8} {'profile':>8} {'within 1 sd':>12} {'within 2 sd':>12}")
        for length in LENGTHS:
            keys = [k for k, n in missing.items() if n == length]
            mae = {label: sum(abs(results[label][k][metric] - truth[k][metric]) for k in keys) / len(keys)
                   for label in results}
            inside = [abs(results["published"][k][metric] - truth[k][metric]) / results["published"][k][f"{metric}_sd"]
                      if results["published"][k][f"{metric}_sd"] else 0.0 for k in keys]
            one = sum(z <= 1 for z in inside) / len(keys)
            two = sum(z <= 2 for z in inside) / len(keys)
            print(f"{length:>6} {mae['published']:>10.2f} {mae['line']:>8.2f} {mae['profile']:>8.2f} "
                  f"{one:>12.0%} {two:>12.0%}")
    counts = defaultdict(int)
    for key in missing:
        counts[results["published"][key]["method"]] += 1
    print(f"\nmethods used: {dict(counts)}")


if __name__ == "__main__":
    main()
