"""The alert engine, walked through event time and wall-clock ticks without a clock."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from weatherlake.alerts.evaluate import CLEAR, OPEN, Evaluator, PipelineFacts, Transition
from weatherlake.alerts.rules import load_rules, parse_rules

T0 = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
NAMES = {"london-gb": "London", "paris-fr": "Paris", "berlin-de": "Berlin", "cairo-eg": "Cairo", "helsinki-fi": "Helsinki"}


def rules(text: str):
    return parse_rules(text, "<test>")


def rule(kind: str, **keys) -> str:
    """One [[rule]] table named after its kind; values are TOML literals."""
    lines = [f'name = "{kind.replace("_", "-")}"', f'kind = "{kind}"', 'severity = "warning"']
    lines += [f"{key} = {value}" for key, value in keys.items()]
    return "[[rule]]\n" + "\n".join(lines) + "\n"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def record(city_id: str, minutes: float, **values) -> dict:
    stamp = at(minutes).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"city_id": city_id, "city": NAMES.get(city_id, city_id), "timestamp": stamp, **values}


def feed(evaluator: Evaluator, city_id: str, series: list[tuple[float, float | None]], metric="temperature"):
    """Observe (minute, value) pairs for one city; every transition they make, in order."""
    made = []
    for minutes, value in series:
        made += evaluator.observe(record(city_id, minutes, **{metric: value}))
    return made


def kinds(transitions: list[Transition]) -> list[tuple[str, str, datetime]]:
    return [(t.kind, t.subject, t.at) for t in transitions]


HOT = rule("threshold", metric='"temperature"', above=35, clear=33, **{"for": '"1h"'})


# --- threshold rules --------------------------------------------------------------------


def test_a_threshold_opens_once_it_has_held_for_its_duration_and_reports_when_it_began():
    evaluator = Evaluator(rules(HOT))
    made = feed(evaluator, "london-gb", [(0, 34), (10, 36), (20, 37), (40, 38), (69, 37.5)])
    assert made == []
    (opened,) = feed(evaluator, "london-gb", [(70, 41.23)])
    assert (opened.kind, opened.subject, opened.at, opened.value, opened.city) == (OPEN, "london-gb", at(10), 41.23,
                                                                                    "London")
    assert opened.message == "London: temperature 41.2 °C above 35 °C for 1h"
    assert opened.rule.name == "threshold"
    assert evaluator.is_open("threshold", "london-gb")
    assert feed(evaluator, "london-gb", [(80, 42), (90, 43)]) == []


def test_before_it_opens_one_reading_inside_the_threshold_restarts_the_episode():
    evaluator = Evaluator(rules(HOT))
    assert feed(evaluator, "london-gb", [(0, 36), (30, 36), (50, 34.9), (60, 36), (100, 36)]) == []
    (opened,) = feed(evaluator, "london-gb", [(120, 36)])
    assert opened.at == at(60)


def test_once_open_a_dip_that_does_not_reach_the_clear_level_changes_nothing():
    evaluator = Evaluator(rules(HOT))
    feed(evaluator, "london-gb", [(0, 36), (60, 36)])
    assert evaluator.is_open("threshold", "london-gb")
    assert feed(evaluator, "london-gb", [(70, 34), (80, 33.5), (90, 34), (100, 33.1), (200, 34), (300, 34.9)]) == []
    assert evaluator.is_open("threshold", "london-gb")


def test_an_open_threshold_resolves_after_staying_past_clear_for_resolve_after():
    evaluator = Evaluator(rules(HOT))
    feed(evaluator, "london-gb", [(0, 36), (60, 36)])
    # Cleared at 70, back between clear and threshold at 75 (still cleared), not yet 10 minutes.
    assert feed(evaluator, "london-gb", [(70, 32), (75, 34), (79, 32.5)]) == []
    (cleared,) = feed(evaluator, "london-gb", [(80, 31)])
    assert (cleared.kind, cleared.at, cleared.value) == (CLEAR, at(80), 31.0)
    assert cleared.message == "London: temperature back at or below 33 °C for 10m (last 31 °C)"
    assert not evaluator.is_open("threshold", "london-gb")
    # A new episode needs the full hour again.
    assert feed(evaluator, "london-gb", [(90, 36), (140, 36)]) == []
    assert kinds(feed(evaluator, "london-gb", [(150, 36)])) == [(OPEN, "london-gb", at(90))]


def test_tripping_again_before_resolve_after_keeps_the_alert_open_without_a_transition():
    evaluator = Evaluator(rules(HOT))
    feed(evaluator, "london-gb", [(0, 36), (60, 36)])
    assert feed(evaluator, "london-gb", [(65, 30), (74, 30), (75, 36), (80, 30), (89, 30)]) == []
    # The clearing restarted at 80, so it resolves at 90, not at 75.
    assert kinds(feed(evaluator, "london-gb", [(90, 30)])) == [(CLEAR, "london-gb", at(90))]


def test_a_value_hovering_around_the_threshold_opens_one_alert_not_fifty():
    noisy = random.Random(20261125)
    series = [(5 * i, 35 + noisy.uniform(-1.8, 1.8)) for i in range(12 * 24)]  # a day, every 5 minutes
    crossings = sum((a <= 35) != (b <= 35) for (_, a), (_, b) in zip(series, series[1:], strict=False))
    assert crossings > 50  # it really does hover

    hysteresis = Evaluator(rules(rule("threshold", metric='"temperature"', above=35, clear=33)))
    made = feed(hysteresis, "london-gb", series)
    assert [t.kind for t in made] == [OPEN]
    # Without the clear level and the resolve delay, the same series flaps: the guard is what holds it.
    flappy = Evaluator(rules(rule("threshold", metric='"temperature"', above=35, resolve_after='"0s"')))
    assert sum(t.kind == OPEN for t in feed(flappy, "london-gb", series)) > 20
    # Then it really cools down: exactly one clear.
    cooled = feed(hysteresis, "london-gb", [(24 * 60 + 5 * i, 30.0) for i in range(6)])
    assert [t.kind for t in cooled] == [CLEAR]


def test_a_below_threshold_opens_and_clears_on_its_own_side():
    evaluator = Evaluator(rules(rule("threshold", metric='"wind_chill"', below=-28, clear=-25)))
    made = feed(evaluator, "helsinki-fi", [(0, -27), (10, -30), (20, -26), (30, -24), (40, -20)], metric="wind_chill")
    assert [(t.kind, t.at) for t in made] == [(OPEN, at(10)), (CLEAR, at(40))]
    assert made[0].message == "Helsinki: wind chill -30 °C below -28 °C"
    assert made[1].message == "Helsinki: wind chill back at or above -25 °C for 10m (last -20 °C)"


def test_out_of_order_records_are_ignored():
    evaluator = Evaluator(rules(HOT))
    feed(evaluator, "london-gb", [(0, 36), (30, 36)])
    # An older cool record would reset the pending episode if it counted; an older hot one would open it.
    assert feed(evaluator, "london-gb", [(20, 30), (25, 40)]) == []
    assert kinds(feed(evaluator, "london-gb", [(60, 36)])) == [(OPEN, "london-gb", at(0))]
    feed(evaluator, "london-gb", [(70, 30)])
    assert feed(evaluator, "london-gb", [(65, 40), (79, 30)]) == []
    assert [t.kind for t in feed(evaluator, "london-gb", [(80, 30)])] == [CLEAR]


def test_records_without_the_metric_neither_trip_nor_clear():
    evaluator = Evaluator(rules(rule("threshold", metric='"heat_index"', above=39.4, clear=37, **{"for": '"1h"'})))
    # Nulls inside a pending episode neither reset it nor count as past the threshold.
    assert feed(evaluator, "cairo-eg", [(0, 40), (20, None), (40, None)], metric="heat_index") == []
    assert evaluator.observe(record("cairo-eg", 50, temperature=30)) == []  # absent
    assert kinds(feed(evaluator, "cairo-eg", [(60, 40)], metric="heat_index")) == [(OPEN, "cairo-eg", at(0))]
    # Nulls on an open alert do not clear it...
    assert feed(evaluator, "cairo-eg", [(70, None), (200, None)], metric="heat_index") == []
    assert evaluator.is_open("threshold", "cairo-eg")
    # ...but once a reading has cleared it, time passing in null readings completes the resolution.
    assert feed(evaluator, "cairo-eg", [(210, 36), (215, None)], metric="heat_index") == []
    assert [t.kind for t in feed(evaluator, "cairo-eg", [(220, None)], metric="heat_index")] == [CLEAR]


@pytest.mark.parametrize("bad", [None, "38", True, float("nan")])
def test_values_that_are_not_numbers_count_as_missing(bad):
    evaluator = Evaluator(rules(rule("threshold", metric='"temperature"', above=35)))
    assert feed(evaluator, "london-gb", [(0, bad)]) == []
    assert not evaluator.is_open("threshold", "london-gb")


def test_a_heat_wave_over_several_cities_opens_one_alert_per_affected_city():
    evaluator = Evaluator(load_rules(None), cities=NAMES)
    made = []
    for step in range(0, 8 * 60, 10):  # eight hours of ten-minute observations
        heat = 38 - abs(step - 180) / 30  # peaks at 38 °C three hours in, above 35 °C from 100 to 260
        made += evaluator.observe(record("cairo-eg", step, temperature=heat + 2, humidity=20))
        made += evaluator.observe(record("paris-fr", step, temperature=heat, humidity=35))
        made += evaluator.observe(record("berlin-de", step, temperature=heat - 1, humidity=40))  # hot for 100m only
        made += evaluator.observe(record("london-gb", step, temperature=heat - 8, humidity=60))
    assert [(t.kind, t.subject, t.at) for t in made] == [
        (OPEN, "cairo-eg", at(40)),
        (OPEN, "paris-fr", at(100)),
        (CLEAR, "paris-fr", at(340)),  # 33 °C at 330, then 10 minutes
        (CLEAR, "cairo-eg", at(400)),
    ]
    assert all(t.rule.name == "extreme-heat" for t in made)
    assert [t.city for t in made] == ["Cairo", "Paris", "Paris", "Cairo"]
    assert made[1].message == "Paris: temperature 36.7 °C above 35 °C for 2h"  # at 220, when 2h had passed


def test_a_rule_with_cities_watches_only_those():
    evaluator = Evaluator(rules(rule("threshold", metric='"temperature"', above=35, cities='["paris-fr"]')))
    assert feed(evaluator, "london-gb", [(0, 40)]) == []
    assert kinds(feed(evaluator, "paris-fr", [(0, 40)])) == [(OPEN, "paris-fr", at(0))]


# --- restore_open -----------------------------------------------------------------------


def test_a_restored_alert_clears_later_instead_of_opening_again():
    evaluator = Evaluator(rules(HOT + rule("source")))
    evaluator.restore_open("threshold", "london-gb")
    evaluator.restore_open("source", "pipeline")
    assert evaluator.is_open("threshold", "london-gb") and evaluator.is_open("source", "pipeline")
    assert feed(evaluator, "london-gb", [(0, 40), (60, 40), (120, 40)]) == []
    assert evaluator.tick(PipelineFacts(now=at(0), fallback_engaged=True)) == []
    feed(evaluator, "london-gb", [(130, 30)])
    (cleared,) = feed(evaluator, "london-gb", [(140, 30)])
    assert (cleared.kind, cleared.value) == (CLEAR, 30.0)
    assert evaluator.tick(PipelineFacts(now=at(10))) == []
    assert [t.kind for t in evaluator.tick(PipelineFacts(now=at(20)))] == [CLEAR]


def test_readings_from_before_a_restored_episode_are_not_judged():
    """After a restart the service reads observations again: the ordinary hours before the
    heat wave must not resolve the heat wave's alert."""
    evaluator = Evaluator(rules(HOT))
    evaluator.restore_open("threshold", "london-gb", since=at(60))
    assert feed(evaluator, "london-gb", [(0, 20), (10, 20), (20, 20), (30, 20), (50, 20)]) == []
    assert feed(evaluator, "london-gb", [(60, 40), (90, 40)]) == []
    assert evaluator.is_open("threshold", "london-gb")
    assert kinds(feed(evaluator, "london-gb", [(100, 30), (110, 30)])) == [(CLEAR, "london-gb", at(110))]


def test_a_restored_alert_that_never_clears_stays_quiet():
    evaluator = Evaluator(rules(rule("dead_letters", per_minute=5)))
    evaluator.restore_open("dead-letters", "pipeline")
    assert evaluator.tick(PipelineFacts(now=at(0))) == []  # unknown rate
    assert evaluator.tick(PipelineFacts(now=at(60))) == []
    assert evaluator.is_open("dead-letters", "pipeline")


def test_restoring_what_the_rules_cannot_clear_is_refused():
    evaluator = Evaluator(rules(HOT + rule("source") + rule("silent", after='"30m"', cities='["paris-fr"]')))
    with pytest.raises(KeyError, match="no alert rule named 'gone'"):
        evaluator.restore_open("gone", "london-gb")
    with pytest.raises(ValueError, match="does not watch 'london-gb'"):
        evaluator.restore_open("source", "london-gb")
    with pytest.raises(ValueError, match="does not watch 'pipeline'"):
        evaluator.restore_open("threshold", "pipeline")
    with pytest.raises(ValueError, match="does not watch 'london-gb'"):
        evaluator.restore_open("silent", "london-gb")


# --- silent -------------------------------------------------------------------------------


SILENT = rule("silent", after='"30m"')


def test_a_fresh_start_does_not_page_for_cities_never_seen_until_after_has_passed():
    evaluator = Evaluator(rules(SILENT), cities=["london-gb", "paris-fr"])
    assert evaluator.tick(PipelineFacts(now=at(0))) == []
    evaluator.observe(record("paris-fr", 5))
    assert evaluator.tick(PipelineFacts(now=at(30))) == []
    (opened,) = evaluator.tick(PipelineFacts(now=at(31)))
    assert (opened.subject, opened.at, opened.city) == ("london-gb", at(30), "London")
    assert opened.message == "London: no observation in the 31m since alerting started"
    assert kinds(evaluator.tick(PipelineFacts(now=at(40)))) == [(OPEN, "paris-fr", at(35))]


def test_a_silent_city_opens_at_last_seen_plus_after_and_clears_resolve_after_the_new_observation():
    evaluator = Evaluator(rules(SILENT), cities=["paris-fr"])
    evaluator.observe(record("paris-fr", 0))
    assert evaluator.tick(PipelineFacts(now=at(30))) == []
    (opened,) = evaluator.tick(PipelineFacts(now=at(47)))
    assert (opened.kind, opened.subject, opened.at, opened.value) == (OPEN, "paris-fr", at(30), 47 * 60.0)
    assert opened.message == "Paris: no observation for 47m (last at 2026-07-01T12:00:00Z)"
    assert evaluator.tick(PipelineFacts(now=at(60))) == []
    evaluator.observe(record("paris-fr", 58))
    assert evaluator.tick(PipelineFacts(now=at(61))) == []  # cleared from here
    evaluator.observe(record("paris-fr", 68))
    assert evaluator.tick(PipelineFacts(now=at(70))) == []
    (cleared,) = evaluator.tick(PipelineFacts(now=at(71)))
    assert (cleared.kind, cleared.at, cleared.message) == (CLEAR, at(71), "Paris: observations again for 10m")


def test_a_late_record_does_not_resolve_a_silent_alert_the_city_is_about_to_reopen():
    evaluator = Evaluator(rules(SILENT), cities=["paris-fr"])
    evaluator.observe(record("paris-fr", 0))
    assert [t.kind for t in evaluator.tick(PipelineFacts(now=at(40)))] == [OPEN]
    evaluator.observe(record("paris-fr", 35))  # arrives 25 minutes late
    assert evaluator.tick(PipelineFacts(now=at(60))) == []
    assert evaluator.tick(PipelineFacts(now=at(66))) == []  # silent again before resolve_after ran out
    assert evaluator.tick(PipelineFacts(now=at(90))) == []
    assert evaluator.is_open("silent", "paris-fr")


def test_a_restored_silent_alert_for_a_city_still_silent_stays_open():
    evaluator = Evaluator(rules(SILENT), cities=["paris-fr"])
    evaluator.restore_open("silent", "paris-fr")
    assert evaluator.tick(PipelineFacts(now=at(0))) == []
    assert evaluator.tick(PipelineFacts(now=at(120))) == []
    assert evaluator.is_open("silent", "paris-fr")


# --- anomaly ------------------------------------------------------------------------------


def anomaly(city_id: str, minutes: float, severity: str = "severe", metric: str = "temperature", score=7.3) -> dict:
    return {"city_id": city_id, "city": NAMES.get(city_id, city_id), "metric": metric, "severity": severity,
            "score": score, "value": 31.5, "timestamp": at(minutes).strftime("%Y-%m-%dT%H:%M:%SZ")}


def test_an_anomaly_opens_while_a_recent_row_is_severe_enough_and_clears_when_none_remains():
    evaluator = Evaluator(rules(rule("anomaly", min_severity='"severe"')))
    rows = (anomaly("london-gb", 50, "moderate"), anomaly("paris-fr", 52), anomaly("paris-fr", 55, "extreme", score=-11))
    (opened,) = evaluator.tick(PipelineFacts(now=at(60), live_anomalies=rows))
    assert (opened.subject, opened.at, opened.value) == ("paris-fr", at(52), -11.0)
    assert opened.message == "Paris: extreme temperature anomaly, 31.5 °C (score -11)"
    assert evaluator.tick(PipelineFacts(now=at(100), live_anomalies=rows)) == []
    assert evaluator.tick(PipelineFacts(now=at(200), live_anomalies=None)) == []  # unknown: kept open
    assert evaluator.is_open("anomaly", "paris-fr")
    # An hour after the newest row it no longer holds; it resolves 10 minutes later.
    assert evaluator.tick(PipelineFacts(now=at(116), live_anomalies=rows)) == []
    assert kinds(evaluator.tick(PipelineFacts(now=at(126), live_anomalies=rows))) == [(CLEAR, "paris-fr", at(126))]


@pytest.mark.parametrize(
    ("keys", "row", "opens"),
    [
        ({}, anomaly("london-gb", 0, "moderate"), False),
        ({"min_severity": '"moderate"'}, anomaly("london-gb", 0, "moderate"), True),
        ({"min_severity": '"extreme"'}, anomaly("london-gb", 0, "severe"), False),
        ({"metrics": '["pressure"]'}, anomaly("london-gb", 0), False),
        ({"metrics": '["pressure"]'}, anomaly("london-gb", 0, metric="pressure"), True),
        ({"cities": '["paris-fr"]'}, anomaly("london-gb", 0), False),
        ({}, anomaly("london-gb", -61), False),  # older than an hour
        ({}, {**anomaly("london-gb", 0), "timestamp": "yesterday"}, False),
        ({}, {**anomaly("london-gb", 0), "severity": ["severe"]}, False),
    ],
)
def test_which_anomaly_rows_count(keys, row, opens):
    evaluator = Evaluator(rules(rule("anomaly", **keys)))
    assert len(evaluator.tick(PipelineFacts(now=at(0), live_anomalies=(row,)))) == int(opens)


# --- pipeline rules -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule_text", "tripped", "fine", "unknown", "message"),
    [
        (rule("dead_letters", per_minute=5), {"dead_letters_per_minute": 7.5}, {"dead_letters_per_minute": 5.0},
         {}, "Pipeline: 7.5 dead letters a minute, above 5 a minute"),
        (rule("lag", layer='"sink"', records=10000), {"sink_lag_records": 12345}, {"sink_lag_records": 10000},
         {"speed_lag_seconds": 900.0}, "Pipeline: the lake sink is 12,345 records behind, more than 10,000"),
        (rule("lag", layer='"speed"', seconds=120), {"speed_lag_seconds": 300.0}, {"speed_lag_seconds": 3.0},
         {"sink_lag_records": 10**9}, "Pipeline: the speed layer's snapshot is 300 s old, older than 120 s"),
        (rule("batch", on_failure="true"), {"last_batch_failed": True}, {"last_batch_failed": False},
         None, "Pipeline: the last scheduled batch run failed"),
        (rule("source"), {"fallback_engaged": True}, {}, None,
         "Pipeline: the weather provider is down and the producer is serving synthetic data"),
    ],
    ids=["dead-letters", "sink-lag", "speed-lag", "batch-failure", "source"],
)
def test_pipeline_rules_open_and_clear(rule_text, tripped, fine, unknown, message):
    evaluator = Evaluator(rules(rule_text))
    name = evaluator_rule_name(rule_text)
    assert evaluator.tick(PipelineFacts(now=at(0), **fine)) == []
    (opened,) = evaluator.tick(PipelineFacts(now=at(1), **tripped))
    assert (opened.kind, opened.subject, opened.at, opened.message, opened.city) == (OPEN, "pipeline", at(1), message,
                                                                                     None)
    assert evaluator.tick(PipelineFacts(now=at(2), **tripped)) == []  # never a second open
    if unknown is not None:  # an unknown fact neither clears...
        assert evaluator.tick(PipelineFacts(now=at(30), **unknown)) == []
        assert evaluator.is_open(name, "pipeline")
    assert evaluator.tick(PipelineFacts(now=at(31), **fine)) == []
    assert evaluator.tick(PipelineFacts(now=at(40), **tripped)) == []  # tripped again before 10m: still open
    assert evaluator.tick(PipelineFacts(now=at(41), **fine)) == []
    assert kinds(evaluator.tick(PipelineFacts(now=at(51), **fine))) == [(CLEAR, "pipeline", at(51))]
    if unknown is not None:  # ...nor trips
        assert evaluator.tick(PipelineFacts(now=at(60), **unknown)) == []


def evaluator_rule_name(rule_text: str) -> str:
    (only,) = rules(rule_text)
    return only.name


def test_batch_overdue_opens_when_the_last_success_is_too_old_and_unknown_means_unknown():
    evaluator = Evaluator(rules(rule("batch", overdue='"3h"')))
    assert evaluator.tick(PipelineFacts(now=at(0))) == []  # never ran, or not known: no page
    assert evaluator.tick(PipelineFacts(now=at(0), last_batch_success=at(-180))) == []
    (opened,) = evaluator.tick(PipelineFacts(now=at(20), last_batch_success=at(-180)))
    assert opened.at == at(0)
    assert opened.message == ("Pipeline: no successful batch run for 3h20m (last at 2026-07-01T09:00:00Z, "
                              "due every 3h)")
    assert evaluator.tick(PipelineFacts(now=at(25), last_batch_failed=True)) == []  # on_failure not set
    assert evaluator.tick(PipelineFacts(now=at(30), last_batch_success=at(29))) == []
    assert [t.kind for t in evaluator.tick(PipelineFacts(now=at(40), last_batch_success=at(29)))] == [CLEAR]


def test_a_pipeline_rule_with_for_opens_after_the_condition_held_that_long_in_wall_clock_time():
    evaluator = Evaluator(rules(rule("dead_letters", per_minute=5, **{"for": '"5m"'})))
    assert evaluator.tick(PipelineFacts(now=at(0), dead_letters_per_minute=9)) == []
    assert evaluator.tick(PipelineFacts(now=at(2), dead_letters_per_minute=1)) == []  # reset
    assert evaluator.tick(PipelineFacts(now=at(3), dead_letters_per_minute=9)) == []
    assert evaluator.tick(PipelineFacts(now=at(7), dead_letters_per_minute=9)) == []
    (opened,) = evaluator.tick(PipelineFacts(now=at(8), dead_letters_per_minute=9))
    assert (opened.at, opened.value, opened.message) == (at(3), 9.0, "Pipeline: 9 dead letters a minute, above 5 a "
                                                                     "minute for 5m")


def test_the_shipped_defaults_all_stay_quiet_on_a_healthy_pipeline():
    evaluator = Evaluator(load_rules(None), cities=NAMES)
    healthy = {"dead_letters_per_minute": 0.0, "sink_lag_records": 10, "speed_lag_seconds": 5.0}
    for minutes in range(0, 120, 5):
        for city_id in NAMES:
            assert evaluator.observe(record(city_id, minutes, temperature=18.0, wind_speed=4.0, rainfall=0.2)) == []
        assert evaluator.tick(PipelineFacts(now=at(minutes + 1), last_batch_success=at(minutes - 60), **healthy)) == []


def test_records_without_a_city_or_a_timestamp_are_ignored():
    evaluator = Evaluator(rules(rule("threshold", metric='"temperature"', above=35)))
    assert evaluator.observe({"timestamp": "2026-07-01T12:00:00Z", "temperature": 40}) == []
    assert evaluator.observe({"city_id": "london-gb", "timestamp": "noon", "temperature": 40}) == []
    assert not evaluator.is_open("threshold", "london-gb")


def test_two_rules_with_one_name_are_refused():
    (only,) = rules(rule("source"))
    with pytest.raises(ValueError, match="two rules named 'source'"):
        Evaluator([only, only])
