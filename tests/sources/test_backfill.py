"""Backfill: a period of history with progress, falling back loudly when unreachable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from weatherlake import records
from weatherlake.sources import BackfillProgress, FallbackSource, OpenMeteoSource, SyntheticSource, backfill

START = datetime(2026, 10, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 23, 15, 20, tzinfo=UTC)


def test_progress_is_reported_per_day_and_at_the_end(three_cities):
    reports: list[BackfillProgress] = []
    got = list(backfill(SyntheticSource(), three_cities, START, START + timedelta(days=3), progress=reports.append))
    assert len(got) == 3 * 72
    assert [(p.records, p.expected, p.through, p.done) for p in reports] == [
        (72, 216, START + timedelta(days=1), False),
        (144, 216, START + timedelta(days=2), False),
        (216, 216, START + timedelta(days=3), True),
    ]
    assert reports[0].fraction == 72 / 216 and reports[-1].fraction == 1.0
    assert {p.source for p in reports} == {"synthetic"}
    assert [r["timestamp"] for r in got] == sorted(r["timestamp"] for r in got)


def test_progress_every_few_hours_and_a_ragged_period(london):
    reports = []
    start = START + timedelta(minutes=30)  # the first whole hour is 01:00
    got = list(
        backfill(
            SyntheticSource(),
            [london],
            start,
            START + timedelta(hours=10),
            progress=reports.append,
            every=timedelta(hours=4),
        )
    )
    assert len(got) == 9
    # every 4 hours counted from the first whole hour (01:00), then once at the end
    assert [(p.records, p.through.hour) for p in reports] == [(4, 5), (8, 9), (9, 10)]
    assert reports[0].expected == 9


def test_backfill_from_open_meteo(weather_api, three_cities):
    london_tokyo = three_cities[:2]
    source = OpenMeteoSource(weather_api.url, weather_api.url, backoff=0, clock=lambda: NOW)
    reports = []
    got = list(
        backfill(
            source,
            london_tokyo,
            datetime(2026, 11, 20, tzinfo=UTC),
            datetime(2026, 11, 22, tzinfo=UTC),
            progress=reports.append,
        )
    )
    assert len(got) == 96 and {r["source"] for r in got} == {"open-meteo"}
    assert reports[-1].records == reports[-1].expected == 96 and reports[-1].done


def test_an_unreachable_provider_is_replaced_by_the_fallback_loudly(closed_url, three_cities, caplog):
    source = OpenMeteoSource(closed_url, closed_url, retries=0, clock=lambda: NOW)
    reports = []
    got = list(
        backfill(
            source,
            three_cities,
            NOW - timedelta(days=2),
            NOW,
            progress=reports.append,
            fallback=SyntheticSource(seed=5),
        )
    )
    assert len(got) == 3 * 48
    assert {r["source"] for r in got} == {"synthetic"}
    assert reports[-1].source == "synthetic" and reports[-1].done
    assert "Open-Meteo unreachable" in caplog.text and "records will say source: synthetic" in caplog.text
    for record in got:
        records.validate(record)


def test_auto_sources_fall_back_by_themselves(closed_url, london, caplog):
    auto = FallbackSource(OpenMeteoSource(closed_url, closed_url, retries=0, clock=lambda: NOW), SyntheticSource())
    got = list(backfill(auto, [london], NOW - timedelta(hours=5), NOW))
    assert [r["source"] for r in got] == ["synthetic"] * 5
    assert "records will say source: synthetic" in caplog.text
