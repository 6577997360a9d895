"""Prometheus metrics: request counts and latencies, and the freshness of every input.

Request metrics are ordinary prometheus-client counters and histograms. Under gunicorn
every worker is its own process, so ``weatherlake serve`` sets ``PROMETHEUS_MULTIPROC_DIR``
before the workers start and a scrape sums the workers' files (prometheus-client's
multiprocess mode). The data metrics (view ages, lags, dead letters) are read at scrape
time from the answering worker's loaded state: every worker reads the same lake.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

from weatherlake.timefmt import parse_utc
from weatherlake.web import status

REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter(
    "weatherlake_http_requests",
    "HTTP requests answered, by route, method and status.",
    ["endpoint", "method", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "weatherlake_http_request_duration_seconds",
    "Time to answer an HTTP request, by route.",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)


#: Methods counted by name; any other is counted as ``other`` (a client must not be able to
#: create series: each one lives in every worker's memory and in Prometheus).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe(endpoint: str, method: str, status_code: int, seconds: float) -> None:
    """Count a request; ``endpoint`` is its URL rule (or ``unmatched``), never the raw path."""
    REQUESTS.labels(endpoint, method if method in METHODS else "other", str(status_code)).inc()
    LATENCY.labels(endpoint).observe(seconds)


class _Forward:
    """Exposes another registry's metrics in a scrape registry (single-process mode)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self):
        yield from self.registry.collect()


class DataCollector:
    """Gauges computed from the loaded state at scrape time."""

    def __init__(self, current: Callable) -> None:
        self.current = current

    def collect(self):
        loaded = self.current()
        now = time.time()
        view_age = GaugeMetricFamily("weatherlake_view_age_seconds", "Seconds since the view's run was published.",
                                     labels=["view"])
        view_lag = GaugeMetricFamily("weatherlake_view_cutoff_age_seconds",
                                     "Seconds between the view's cutoff (newest observation) and now.", labels=["view"])
        view_rows = GaugeMetricFamily("weatherlake_view_rows", "Rows in the published view.", labels=["view"])
        for name, view in loaded.views.items():
            if not view.pointer:
                continue
            view_rows.add_metric([name], view.row_count)
            published = view.pointer.get("published_at")
            if published:
                view_age.add_metric([name], now - parse_utc(published).timestamp())
            if view.cutoff:
                view_lag.add_metric([name], now - parse_utc(view.cutoff).timestamp())
        yield from (view_age, view_lag, view_rows)

        pipeline = status.pipeline(loaded, now)
        speed = pipeline["speed"]
        up = GaugeMetricFamily("weatherlake_speed_snapshot_age_seconds", "Seconds since the speed snapshot was written.")
        if speed.get("age_seconds") is not None:
            up.add_metric([], speed["age_seconds"])
        yield up
        yield GaugeMetricFamily("weatherlake_speed_cities", "Cities in the speed snapshot.",
                                value=len(loaded.speed_cities))
        sink_lag = GaugeMetricFamily("weatherlake_sink_lag_records",
                                     "Records in Kafka not yet committed to the lake (approximate).",
                                     labels=["partition"])
        speed_lag = GaugeMetricFamily("weatherlake_speed_lag_records",
                                      "Records in Kafka not yet in the speed snapshot (approximate).",
                                      labels=["partition"])
        for part in pipeline["ingest"]["partitions"]:
            if part.get("sink_lag") is not None:
                sink_lag.add_metric([str(part["partition"])], part["sink_lag"])
            if part.get("speed_lag") is not None:
                speed_lag.add_metric([str(part["partition"])], part["speed_lag"])
        yield from (sink_lag, speed_lag)
        dead = pipeline["ingest"].get("dead_lettered")
        if dead is not None:
            yield GaugeMetricFamily("weatherlake_dead_letters", "Messages in the dead-letter topic.", value=dead)
        yield GaugeMetricFamily("weatherlake_lake_up", "1 when the last read of the lake succeeded.",
                                value=0 if loaded.lake_error else 1)
        if loaded.alerts is not None:
            alerts = GaugeMetricFamily("weatherlake_alerts", "Alerts known to the alert service, by state and "
                                       "severity (resolved ones for a week).", labels=["state", "severity"])
            for state, by_severity in loaded.alerts.get("counts", {}).items():
                for severity, count in by_severity.items():
                    alerts.add_metric([state, severity], count)
            yield alerts


def scrape(current: Callable) -> bytes:
    """The text exposition for ``/metrics``."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Forward(REGISTRY))
    registry.register(DataCollector(current))
    return generate_latest(registry)
