"""Fixtures for the serving layer: a lake under tmp_path, the app, its test client."""

from __future__ import annotations

import pytest

from tests.web import data, reference
from tests.web.lakedata import publish_view, write_snapshot
from weatherlake.lake import open_lake
from weatherlake.web import create_app

#: Falls in the middle of an hour, between two of its records (they are at :01, :21, :41).
CUTOFF = "2026-11-21T05:21:00Z"
SNAPSHOT_AT = "2026-11-21T06:00:00Z"


@pytest.fixture
def settings(make_settings):
    return make_settings(cities=("london-gb", "tokyo-jp", "dubai-ae"))


@pytest.fixture
def lake(settings):
    with open_lake(settings) as lake:
        yield lake


@pytest.fixture
def app(settings):
    return create_app(settings, {"TESTING": True, "RELOAD_SECONDS": 0, "BACKGROUND_REFRESH": False})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def observations():
    return data.observations(hours=30, per_hour=3)


@pytest.fixture
def published(lake, observations):
    """The batch views over the records up to CUTOFF, and the speed snapshot after it."""
    batch = data.before(observations, CUTOFF)
    publish_view(lake, "hourly_trends", reference.hourly_trends(batch), cutoff=CUTOFF, records=len(batch))
    publish_view(lake, "city_stats", reference.city_stats(batch), cutoff=CUTOFF, records=len(batch))
    publish_view(lake, "diurnal_profile", reference.diurnal_profile(batch), cutoff=CUTOFF, records=len(batch))
    anomaly = {"city_id": "tokyo-jp", "city": "Tokyo", "timestamp": "2026-11-20T03:01:00Z", "metric": "temperature",
               "value": 25.0, "baseline": 12.0, "score": 7.5, "severity": "severe",
               "method": "seasonal_mad_local_context"}
    publish_view(lake, "anomalies", [anomaly], cutoff=CUTOFF, records=len(batch))
    live = data.after(observations, CUTOFF)
    write_snapshot(lake, live, cutoff=CUTOFF, generated_at=SNAPSHOT_AT)
    return batch, live
