"""Alert rule files: the shipped defaults, every kind, and one clear error line per mistake."""

from __future__ import annotations

from datetime import timedelta

import pytest

from weatherlake.alerts.rules import Rule, format_duration, load_rules, parse_duration, parse_rules
from weatherlake.errors import ConfigError

ORIGIN = "/etc/weatherlake/rules.toml"


def one(text: str) -> Rule:
    (rule,) = parse_rules(text, ORIGIN)
    return rule


def test_the_shipped_defaults_load_and_say_what_the_docs_promise():
    rules = {rule.name: rule for rule in load_rules(None)}
    assert list(rules) == [
        "heat-index-danger", "extreme-heat", "dangerous-wind-chill", "strong-wind", "heavy-rain",
        "severe-anomaly", "city-silent", "dead-letters", "sink-lag", "speed-layer-stale",
        "batch-overdue", "source-fallback",
    ]
    heat = rules["heat-index-danger"]
    assert (heat.metric, heat.above, heat.clear, heat.for_) == ("heat_index", 39.4, 37.0, timedelta(hours=1))
    assert (rules["extreme-heat"].above, rules["extreme-heat"].clear, rules["extreme-heat"].for_) == (
        35.0, 33.0, timedelta(hours=2))
    chill = rules["dangerous-wind-chill"]
    assert (chill.metric, chill.below, chill.above, chill.for_) == ("wind_chill", -28.0, None, timedelta(hours=1))
    assert (rules["strong-wind"].above, rules["strong-wind"].for_) == (20.8, timedelta(minutes=30))
    assert (rules["heavy-rain"].metric, rules["heavy-rain"].above) == ("rainfall", 7.6)
    assert rules["severe-anomaly"].min_severity == "severe"
    assert rules["city-silent"].after == timedelta(minutes=30)
    assert rules["dead-letters"].per_minute == 5.0
    assert (rules["sink-lag"].layer, rules["sink-lag"].records) == ("sink", 10000)
    assert (rules["speed-layer-stale"].layer, rules["speed-layer-stale"].seconds) == ("speed", 120.0)
    assert (rules["batch-overdue"].overdue, rules["batch-overdue"].on_failure) == (timedelta(hours=3), True)
    assert rules["source-fallback"].kind == "source"
    assert (heat.for_seconds, heat.resolve_after_seconds, heat.after_seconds) == (3600.0, 600.0, None)
    assert rules["city-silent"].after_seconds == 1800.0
    assert all(rule.description for rule in rules.values())
    assert all(rule.resolve_after == timedelta(minutes=10) for rule in rules.values())


def test_load_rules_reads_a_file(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text('[[rule]]\nname = "hot"\nkind = "threshold"\nseverity = "info"\nmetric = "temperature"\nabove = 30\n',
                    encoding="utf-8")
    (rule,) = load_rules(str(path))
    assert (rule.name, rule.above, rule.clear, rule.below) == ("hot", 30.0, 30.0, None)


def test_a_missing_file_is_one_config_error_line(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as caught:
        load_rules(str(missing))
    assert str(caught.value) == f"alert rules {missing}: cannot read: No such file or directory"


def test_a_file_without_rules_has_none():
    assert parse_rules("# alerting off\n", ORIGIN) == []


def test_every_kind_parses_with_its_defaults():
    rules = parse_rules(
        """
        [[rule]]
        name = "cold"
        kind = "threshold"
        severity = "warning"
        metric = "temperature"
        below = -10
        clear = -7.5
        cities = ["moscow-ru", "helsinki-fi", "moscow-ru"]
        resolve_after = "1h30m"

        [[rule]]
        name = "odd"
        kind = "anomaly"
        severity = "info"
        metrics = ["pressure"]

        [[rule]]
        name = "quiet"
        kind = "silent"
        severity = "warning"
        after = "45m"

        [[rule]]
        name = "dlq"
        kind = "dead_letters"
        severity = "warning"
        per_minute = 2

        [[rule]]
        name = "stale"
        kind = "lag"
        severity = "warning"
        layer = "speed"
        seconds = 90

        [[rule]]
        name = "batch_failed"
        kind = "batch"
        severity = "critical"
        on_failure = true

        [[rule]]
        name = "fake-data"
        kind = "source"
        severity = "info"
        for = "5m"
        """,
        ORIGIN,
    )
    cold, odd, quiet, dlq, stale, batch, source = rules
    assert (cold.below, cold.clear, cold.cities, cold.resolve_after) == (
        -10.0, -7.5, ("moscow-ru", "helsinki-fi"), timedelta(hours=1, minutes=30))
    assert (odd.min_severity, odd.metrics, odd.cities) == ("severe", ("pressure",), None)
    assert quiet.after == timedelta(minutes=45)
    assert dlq.per_minute == 2.0
    assert (stale.layer, stale.seconds, stale.records) == ("speed", 90.0, None)
    assert (batch.on_failure, batch.overdue) == (True, None)
    assert (source.for_, source.description) == (timedelta(minutes=5), "")
    assert [rule.subject_kind for rule in rules] == ["city", "city", "city", "pipeline", "pipeline", "pipeline",
                                                     "pipeline"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0s", 0), ("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("1d2h3m4s", 93784)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)
    assert parse_duration(format_duration(timedelta(seconds=seconds))) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "15", "m", "1.5h", "-5m", "15 m", "30m1h", "1w", " 1h"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


HEAD = 'name = "r"\nseverity = "warning"\n'
THRESHOLD = HEAD + 'kind = "threshold"\nmetric = "temperature"\n'


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # The file as a whole.
        ("[[rule]\n", "invalid TOML: "),
        ("[[rules]]\n" + HEAD, "unknown top-level key 'rules' (rules are [[rule]] tables)"),
        ("[rule]\n" + HEAD, "'rule' must be an array of tables, written [[rule]]"),
        # Names.
        ('[[rule]]\nkind = "source"\nseverity = "info"\n', "rule #1: missing required key 'name'"),
        ('[[rule]]\nname = "Heat Wave"\nkind = "source"\nseverity = "info"\n',
         "rule #1: 'name' must match [a-z0-9][a-z0-9_-]*, got 'Heat Wave'"),
        ('[[rule]]\nname = "-x"\nkind = "source"\nseverity = "info"\n', "rule #1: 'name' must match"),
        ('[[rule]]\nname = 7\nkind = "source"\nseverity = "info"\n', "rule #1: 'name' must match [a-z0-9][a-z0-9_-]*, got 7"),
        ('[[rule]]\nname = "a"\nkind = "source"\nseverity = "info"\n[[rule]]\nname = "b"\nkind = "source"\n'
         'severity = "info"\n[[rule]]\nname = "a"\nkind = "source"\nseverity = "info"\n',
         "rule 'a': duplicate name (rule #1 has it too)"),
        # Common keys.
        ('[[rule]]\nname = "r"\nseverity = "info"\n', "rule 'r': missing required key 'kind'"),
        ('[[rule]]\nname = "r"\nkind = "treshold"\nseverity = "info"\n',
         "rule 'r': unknown kind 'treshold' (known: threshold, anomaly, silent, dead_letters, lag, batch, source)"),
        ('[[rule]]\nname = "r"\nkind = "source"\n', "rule 'r': missing required key 'severity'"),
        ('[[rule]]\nname = "r"\nkind = "source"\nseverity = "high"\n',
         "rule 'r': 'severity' must be one of info, warning, critical, got 'high'"),
        ("[[rule]]\n" + HEAD + 'kind = "source"\ncolour = "red"\n',
         "rule 'r': unknown key 'colour' for kind 'source' (allowed: name, kind, severity, description, for, "
         "resolve_after)"),
        ("[[rule]]\n" + HEAD + 'kind = "source"\ndescription = 3\n', "rule 'r': 'description' must be a string, got 3"),
        ("[[rule]]\n" + HEAD + 'kind = "source"\nfor = "15 minutes"\n',
         "rule 'r': 'for' must be a duration like '90s', '15m', '2h', '1d' or '1h30m', got '15 minutes'"),
        ("[[rule]]\n" + HEAD + 'kind = "source"\nresolve_after = 600\n', "rule 'r': 'resolve_after' must be a duration"),
        # threshold
        ("[[rule]]\n" + THRESHOLD + 'above = "hot"\n', "rule 'r': 'above' must be a number, got 'hot'"),
        ("[[rule]]\n" + THRESHOLD + "above = true\n", "rule 'r': 'above' must be a number, got true"),
        ("[[rule]]\n" + THRESHOLD + "above = nan\n", "rule 'r': 'above' must be a number, got nan"),
        ("[[rule]]\n" + THRESHOLD, "rule 'r': needs exactly one of 'above' or 'below', got neither"),
        ("[[rule]]\n" + THRESHOLD + "above = 30\nbelow = 0\n",
         "rule 'r': needs exactly one of 'above' or 'below', got both"),
        ("[[rule]]\n" + HEAD + 'kind = "threshold"\nabove = 3\n', "rule 'r': missing required key 'metric'"),
        ("[[rule]]\n" + HEAD + 'kind = "threshold"\nmetric = "gust"\nabove = 3\n',
         "rule 'r': unknown metric 'gust' (known: temperature, feels_like, heat_index"),
        ("[[rule]]\n" + THRESHOLD + "above = 35\nclear = 36\n", "rule 'r': 'clear' 36 must be at or below 'above' 35"),
        ("[[rule]]\n" + THRESHOLD + "below = -10\nclear = -12\n",
         "rule 'r': 'clear' -12 must be at or above 'below' -10"),
        ("[[rule]]\n" + THRESHOLD + 'above = 30\nclear = "29"\n', "rule 'r': 'clear' must be a number, got '29'"),
        ("[[rule]]\n" + HEAD + 'kind = "threshold"\nmetric = "heat_index"\nabove = 103\n',
         "rule 'r': 'above' 103 is outside heat_index's range -90..100 (units are °C, %, hPa, m/s and mm)"),
        ("[[rule]]\n" + THRESHOLD + 'above = 30\ncities = ["london-gb", "atlantis-xx"]\n',
         "rule 'r': unknown city id 'atlantis-xx' in 'cities'"),
        ("[[rule]]\n" + THRESHOLD + "above = 30\ncities = []\n",
         "rule 'r': 'cities' must be a non-empty array of strings, got []"),
        ("[[rule]]\n" + THRESHOLD + 'above = 30\ncities = "london-gb"\n',
         "rule 'r': 'cities' must be a non-empty array of strings, got 'london-gb'"),
        ("[[rule]]\n" + THRESHOLD + 'above = 30\nfor = "1x"\n', "rule 'r': 'for' must be a duration"),
        ("[[rule]]\n" + THRESHOLD + 'above = 30\nafter = "1h"\n', "rule 'r': unknown key 'after' for kind 'threshold'"),
        # anomaly
        ("[[rule]]\n" + HEAD + 'kind = "anomaly"\nmin_severity = "huge"\n',
         "rule 'r': 'min_severity' must be one of moderate, severe, extreme, got 'huge'"),
        ("[[rule]]\n" + HEAD + 'kind = "anomaly"\nmetrics = ["rainfall"]\n',
         "rule 'r': unknown anomaly metric 'rainfall' in 'metrics' (known: temperature, humidity, pressure, "
         "wind_speed)"),
        # silent
        ("[[rule]]\n" + HEAD + 'kind = "silent"\n', "rule 'r': missing required key 'after'"),
        ("[[rule]]\n" + HEAD + 'kind = "silent"\nafter = "0s"\n', "rule 'r': 'after' must be longer than 0s"),
        ("[[rule]]\n" + HEAD + 'kind = "silent"\nafter = 30\n', "rule 'r': 'after' must be a duration"),
        # dead_letters
        ("[[rule]]\n" + HEAD + 'kind = "dead_letters"\n', "rule 'r': missing required key 'per_minute'"),
        ("[[rule]]\n" + HEAD + 'kind = "dead_letters"\nper_minute = -1\n', "rule 'r': 'per_minute' must be >= 0, got -1"),
        # lag
        ("[[rule]]\n" + HEAD + 'kind = "lag"\nrecords = 5\n', "rule 'r': missing required key 'layer'"),
        ("[[rule]]\n" + HEAD + 'kind = "lag"\nlayer = "batch"\nrecords = 5\n',
         "rule 'r': 'layer' must be one of sink, speed, got 'batch'"),
        ("[[rule]]\n" + HEAD + 'kind = "lag"\nlayer = "sink"\n', "rule 'r': missing required key 'records'"),
        ("[[rule]]\n" + HEAD + 'kind = "lag"\nlayer = "sink"\nseconds = 5\n',
         "rule 'r': layer 'sink' takes 'records', not 'seconds'"),
        ("[[rule]]\n" + HEAD + 'kind = "lag"\nlayer = "speed"\nrecords = 5\n',
         "rule 'r': layer 'speed' takes 'seconds', not 'records'"),
        ("[[rule]]\n" + HEAD + 'kind = "lag"\nlayer = "sink"\nrecords = 1.5\n',
         "rule 'r': 'records' must be a whole number >= 0, got 1.5"),
        # batch
        ("[[rule]]\n" + HEAD + 'kind = "batch"\n', "rule 'r': needs 'overdue' and/or 'on_failure = true'"),
        ("[[rule]]\n" + HEAD + 'kind = "batch"\non_failure = false\n',
         "rule 'r': needs 'overdue' and/or 'on_failure = true'"),
        ("[[rule]]\n" + HEAD + 'kind = "batch"\non_failure = "yes"\n',
         "rule 'r': 'on_failure' must be true or false, got 'yes'"),
        ("[[rule]]\n" + HEAD + 'kind = "batch"\noverdue = "soon"\n', "rule 'r': 'overdue' must be a duration"),
        # source
        ("[[rule]]\n" + HEAD + 'kind = "source"\nafter = "1m"\n', "rule 'r': unknown key 'after' for kind 'source'"),
    ],
)
def test_a_bad_rule_file_is_one_error_line_naming_file_and_rule(body, message):
    with pytest.raises(ConfigError) as caught:
        parse_rules(body, ORIGIN)
    text = str(caught.value)
    assert text.startswith(f"alert rules {ORIGIN}: {message}")
    assert "\n" not in text


def test_the_later_of_two_bad_rules_is_named_when_the_first_is_good():
    text = ('[[rule]]\nname = "fine"\nkind = "source"\nseverity = "info"\n'
            '[[rule]]\nname = "broken"\nkind = "source"\nseverity = "loud"\n')
    with pytest.raises(ConfigError, match=r"rule 'broken': 'severity' must be one of"):
        parse_rules(text, ORIGIN)
