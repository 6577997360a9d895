"""The command line: help everywhere, one-line errors, never a traceback for a user mistake."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from weatherlake.cli import cli, parse_duration

CLEAN_ENV = {"KAFKA_BOOTSTRAP_SERVERS": "", "LAKE_URL": "", "CITIES": "", "WEATHER_SOURCE": "", "WEB_PORT": ""}


def run(*args, **env):
    return CliRunner().invoke(cli, list(args), env={**CLEAN_ENV, **env}, catch_exceptions=False)


def test_every_command_has_help_text():
    assert cli.commands
    for name, command in cli.commands.items():
        assert command.help and len(command.help.split()) >= 4, f"{name} has no real help text"
        result = run(name, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output, name


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WEB_PORT": "abc"}, "Error: WEB_PORT must be an integer, got 'abc'"),
        ({"KAFKA_PARTITIONS": "0"}, "Error: KAFKA_PARTITIONS must be at least 1, got 0"),
        ({"LAKE_URL": "s3://bucket"}, "Error: LAKE_URL must start with file:// or hdfs://, got 's3://bucket'"),
        ({"WEATHER_SOURCE": "radio"}, "Error: WEATHER_SOURCE must be one of"),
        ({"CITIES": "London GB"}, "Error: CITIES must be a comma-separated list of lowercase ids"),
        ({"SINK_MAX_AGE_SECONDS": "soon"}, "Error: SINK_MAX_AGE_SECONDS must be a number, got 'soon'"),
    ],
)
def test_a_bad_setting_stops_with_one_line_naming_it(env, message):
    result = run("cities", **env)
    assert result.exit_code == 1
    assert result.output.startswith(message)
    assert result.output.count("\n") == 1 and "Traceback" not in result.output


def test_an_unknown_city_is_one_clear_line():
    result = run("produce", "--source", "synthetic", "--cities", "atlantis-xx", "--cycles", "1")
    assert result.exit_code == 1
    assert result.output.startswith("Error: unknown city id 'atlantis-xx'")
    assert result.output.count("\n") == 1


def test_a_replay_is_not_shared_among_workers(tmp_path):
    recording = tmp_path / "recording.jsonl"
    recording.write_text("{}\n")
    result = run("produce", "--source", "replay", "--replay-file", str(recording), "--backfill", "1d", "--workers", "2")
    assert (result.exit_code, result.output) == (1, "Error: --workers cannot share a replay among processes; replay with one\n")


def test_cities_lists_the_catalogue_and_marks_the_configured_ones():
    result = run("cities", CITIES="tokyo-jp")
    lines = result.output.splitlines()
    assert len(lines) >= 25
    assert [line.split()[1] for line in lines if line.startswith("*")] == ["tokyo-jp"]


def test_compact_an_empty_day_says_so(tmp_path):
    result = run("compact", "--date", "2026-11-20", LAKE_URL=(tmp_path / "lake").as_uri())
    assert result.exit_code == 0
    assert result.output.strip() == "2026-11-20: merged 0 files into 0"


def test_compact_refuses_a_bad_date():
    result = run("compact", "--date", "20-11-2026")
    assert result.exit_code == 2 and "Invalid value for '--date'" in result.output


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("36h", 129600), ("7d", 604800)])
def test_durations(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


def test_a_bad_duration_is_a_usage_error():
    result = run("produce", "--backfill", "a week")
    assert result.exit_code == 2 and "is not a duration like 30s, 15m, 36h or 7d" in result.output


@pytest.mark.broker
def test_broker_with_an_external_kafka_only_creates_the_topics(broker):
    from weatherlake.config import Settings
    from weatherlake.ingest import kafka

    topic = "cli-topic-check"
    result = run("broker", KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap_servers, KAFKA_TOPIC=topic,
                 KAFKA_DLQ_TOPIC=f"{topic}.dlq", ALERT_TOPIC=f"{topic}.alerts")
    assert result.exit_code == 0, result.output
    assert "topics ready (3 created)" in result.output
    settings = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers, "KAFKA_TOPIC": topic,
                                  "KAFKA_DLQ_TOPIC": f"{topic}.dlq", "ALERT_TOPIC": f"{topic}.alerts"})
    assert kafka.ensure_topics(settings) == []  # already there


def test_alerts_check_lists_the_rules_and_a_bad_rules_file_is_one_line(tmp_path):
    result = run("alerts", "--check")
    assert result.exit_code == 0 and "heat-index-danger: threshold, critical" in result.output
    bad = tmp_path / "rules.toml"
    bad.write_text('[[rule]]\nname = "heat"\nkind = "threshold"\nseverity = "critical"\nmetric = "temperature"\n'
                   'above = "hot"\n')
    result = run("alerts", "--check", ALERT_RULES=str(bad))
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: alert rules {bad}: rule 'heat': 'above' must be a number, got 'hot'"]
