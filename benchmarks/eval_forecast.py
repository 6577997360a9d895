"""The forecast's skill on real history: the batch layer's own backtest on real hourly
weather, at four times of the year, against persistence and climatology.

    .venv/bin/python benchmarks/eval_forecast.py

The history is the two TMY3 stations of tests/history.py (a year of real hourly
observations each). For each station, ``weatherlake.batch.forecast.views`` runs in a local
Spark on the year cut off at the end of March, June, September and December, so its
rolling-origin backtest (the last 60 days before each cut) covers each season once. It
prints, per metric and horizon, the mean absolute error of the forecast, of persistence and
of climatology averaged over the eight backtests, and in how many of them the horizon was
shown (the method beat both).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.history import METRICS, START, tmy_history  # noqa: E402

CUTS = {"March": 90, "June": 181, "September": 273, "December": 365}
SHOWN_HORIZONS = (1, 3, 6, 12, 18, 24, 36, 48)


def main() -> None:
    from pyspark.sql import types as T

    from weatherlake.batch import forecast
    from weatherlake.batch.session import build_session

    spark = build_session("weatherlake-eval-forecast", master="local[2]",
                          conf={"spark.sql.shuffle.partitions": "4", "spark.ui.enabled": "false"})
    spark.sparkContext.setLogLevel("ERROR")
    schema = T.StructType([T.StructField("city_id", T.StringType()), T.StructField("city", T.StringType()),
                           T.StructField("ts", T.TimestampType()), *[T.StructField(m, T.DoubleType()) for m in METRICS],
                           T.StructField("rainfall", T.DoubleType())])
    totals: dict[tuple[str, int], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0, 0])
    runs = 0
    for city, values in tmy_history().items():
        for month, days in CUTS.items():
            rows = [(city, city, START + timedelta(hours=h, minutes=30), *(v[m] for m in METRICS), 0.0)
                    for h, v in enumerate(values[: 24 * days])]
            shown_rows, skill_rows, cached = forecast.views(spark.createDataFrame(rows, schema))
            shown = {(r["metric"], r["horizon_hours"]) for r in shown_rows.select("metric", "horizon_hours").collect()}
            for r in skill_rows.collect():
                total = totals[(r["metric"], r["horizon_hours"])]
                total[0] += r["mae"]
                total[1] += r["mae_persistence"]
                total[2] += r["mae_climatology"]
                total[3] += 1
                total[4] += (r["metric"], r["horizon_hours"]) in shown
            for frame in cached:
                frame.unpersist()
            runs += 1
            print(f"{city}, history to the end of {month}: done", file=sys.stderr)
    spark.stop()
    print(f"{runs} backtests (2 stations x 4 cuts), each over the last {forecast.BACKTEST_DAYS} days, a forecast every "
          f"{forecast.ORIGIN_STEP} h, judged on the later half")
    for metric in METRICS:
        print(f"\n{metric}: mean absolute error, forecast / persistence / climatology (shown in n of {runs})")
        for horizon in SHOWN_HORIZONS:
            mae, persistence, climatology, n, shown = totals[(metric, horizon)]
            print(f"  +{horizon:>2} h  {mae / n:6.2f} / {persistence / n:6.2f} / {climatology / n:6.2f}   ({shown} of {n})")


if __name__ == "__main__":
    main()
