"""The facts of one UTC day, gathered from the lake (and the dead-letter topic), and the
findings an operator should act on, each with its action.

Everything is measured: a finding exists only where a number crossed a line below, and
its sentence is built from those numbers. A day with no finding says so and no more.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

import orjson

from weatherlake import __version__
from weatherlake.alerts import STATE_PATH as ALERTS_PATH
from weatherlake.backup.core import backup_status
from weatherlake.batch.scheduler import STATUS_PATH as SCHEDULER_STATUS
from weatherlake.config import Settings
from weatherlake.ingest import compact
from weatherlake.lake import Lake, join, layout
from weatherlake.speed import lag
from weatherlake.speed.published import SNAPSHOT_PATH, read_pointer, read_rows
from weatherlake.stations.readings import CITY_PREFIX
from weatherlake.timefmt import parse_utc, seconds_text

log = logging.getLogger(__name__)

#: A record ingested this long after its observation time is late.
LATE_SECONDS = 3600
#: A configured city below this share of the readings expected is a finding.
EXPECTED_SHARE = 0.95
#: Lag (records) of the sink or the speed layer worth a finding.
LAG_RECORDS = 10_000
#: The newest good backup may be this old.
BACKUP_AGE = timedelta(days=2)


def build(lake: Lake, settings: Settings, day: date, dead_letters: dict[str, int] | None,
          now: datetime | None = None) -> dict:
    """The report of ``day``: ``facts`` and ``findings`` (each with ``severity``,
    ``text`` and ``action``). ``dead_letters`` is {reason: count} of the day's dead
    letters, or None when the topic could not be read."""
    now = now or datetime.now(UTC)
    hours = 24 if day < now.date() else max(0, now.hour)  # today: the hours gone by
    data = lake.read_atomic(SNAPSHOT_PATH)
    snapshot = orjson.loads(data) if data else None
    facts = {
        "cities": _cities(lake, settings, day, hours),
        "dead_letters": dead_letters,
        "lag": _lag(lake, snapshot),
        "lag_during_day": _lag_during_day(snapshot, day, now),
        "batch": _batch(lake, day),
        "lake": _lake_files(lake, day, now),
        "backup": backup_status(lake),
        "anomalies": _anomalies(lake, day),
        "alerts": _alerts(lake, day),
    }
    report = {"date": day.isoformat(), "generated_at": seconds_text(now), "version": __version__,
              "hours": hours, "facts": facts, "findings": []}
    report["findings"] = findings(report, settings, now)
    return report


# -- facts -----------------------------------------------------------------------------


def _cities(lake: Lake, settings: Settings, day: date, hours_in_day: int) -> dict:
    """Per city: records, duplicates, late records, the hours without data, what was expected."""
    directory = layout.date_dir(day.isoformat())
    seen: dict[str, Counter] = defaultdict(Counter)
    hours: dict[str, set[int]] = defaultdict(set)
    names: dict[str, str] = {}
    late: Counter = Counter()
    latest_delay: dict[str, float] = defaultdict(float)
    for name in layout.live_files(lake.list(directory)):
        for line in lake.read(join(directory, name)).splitlines():
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
                city_id, stamp = record["city_id"], parse_utc(record["timestamp"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
            seen[city_id][record["timestamp"]] += 1
            hours[city_id].add(stamp.hour)
            names.setdefault(city_id, record.get("city") or city_id)
            if record.get("ingested_at"):
                delay = (parse_utc(record["ingested_at"]) - stamp).total_seconds()
                if delay > LATE_SECONDS:
                    late[city_id] += 1
                    latest_delay[city_id] = max(latest_delay[city_id], delay)
    expected = round(hours_in_day * 3600 / settings.poll_interval_seconds)
    out = {}
    for city_id in sorted(set(seen) | set(settings.cities)):
        counts = seen.get(city_id, Counter())
        records = sum(counts.values())
        out[city_id] = {
            "city": names.get(city_id, city_id),
            "station": city_id.startswith(CITY_PREFIX),
            "configured": city_id in settings.cities,
            "records": records,
            "duplicates": records - len(counts),
            "expected": expected if city_id in settings.cities else None,
            "late": late[city_id],
            "latest_delay_seconds": round(latest_delay[city_id]) if late[city_id] else None,
            "missing_hours": _runs(sorted(set(range(hours_in_day)) - hours.get(city_id, set()))),
        }
    return out


def _runs(hours: list[int]) -> list[list[int]]:
    """[[first, last], ...] of consecutive hours."""
    runs: list[list[int]] = []
    for hour in hours:
        if runs and runs[-1][1] == hour - 1:
            runs[-1][1] = hour
        else:
            runs.append([hour, hour])
    return runs


def _lag(lake: Lake, snapshot: dict | None) -> dict | None:
    """The sink's and the speed layer's lag behind Kafka now, from the speed layer's snapshot."""
    if snapshot is None:
        return None
    kafka = snapshot.get("kafka") or {}
    ends = {int(p): n for p, n in (kafka.get("end_offsets") or {}).items()}
    speed = {int(p): n for p, n in (snapshot.get("offsets") or {}).items()}
    sink = layout.sink_positions(lake, snapshot.get("topic") or "")
    if not ends:
        return None
    return {"checked_at": kafka.get("checked_at"),
            "sink": lag.records_behind(ends, sink), "speed": lag.records_behind(ends, speed)}


def _lag_during_day(snapshot: dict | None, day: date, now: datetime) -> dict | None:
    """The most the sink and the speed layer lagged in each hour of the day
    (:func:`weatherlake.speed.lag.of_day`), or None when the speed layer keeps no hours of
    it: no snapshot, or the day began more than lag.KEEP_HOURS ago."""
    start = datetime.combine(day, datetime.min.time(), UTC)
    if snapshot is None or start < now - timedelta(hours=lag.KEEP_HOURS):
        return None
    return lag.of_day(lag.restored(snapshot.get("lag_by_hour")), day.isoformat())


def _batch(lake: Lake, day: date) -> dict:
    """The scheduler's runs that started on ``day``."""
    data = lake.read_atomic(SCHEDULER_STATUS)
    status = orjson.loads(data) if data else {}
    runs = [run for run in status.get("runs", [status] if status else [])
            if str(run.get("started_at", "")).startswith(day.isoformat())]
    durations = [(parse_utc(r["finished_at"]) - parse_utc(r["started_at"])).total_seconds() for r in runs
                 if r.get("finished_at") and r.get("started_at")]
    return {"runs": len(runs), "failed": sum(not r.get("ok") for r in runs),
            "errors": sorted({r["error"] for r in runs if r.get("error")})[:5],
            "longest_seconds": round(max(durations)) if durations else None,
            "median_seconds": round(sorted(durations)[len(durations) // 2]) if durations else None}


def _lake_files(lake: Lake, day: date, now: datetime) -> dict:
    """Files and bytes of the newest raw dates, and the closed ones compaction has not merged."""
    today = now.date().isoformat()
    dates = [d for d in layout.raw_dates(lake) if d <= day.isoformat()][-compact.RECENT_DAYS:]
    per_date, uncompacted = {}, []
    for d in dates:
        sizes = layout.live_file_sizes(lake, d)
        per_date[d] = {"files": len(sizes), "bytes": sum(sizes.values())}
        if d < today and compact.needs_compaction(sizes):
            uncompacted.append(d)
    return {"dates": per_date, "uncompacted": uncompacted}


def _anomalies(lake: Lake, day: date) -> dict | None:
    pointer = read_pointer(lake, "anomalies")
    if pointer is None:
        return None
    counts: Counter = Counter()
    examples = []
    for row in read_rows(lake, pointer):
        if str(row.get("timestamp", "")).startswith(day.isoformat()):
            counts[row.get("severity")] += 1
            examples.append(row)
    examples.sort(key=lambda row: -(row.get("score") or 0))
    return {"by_severity": dict(counts), "strongest": [
        {k: row.get(k) for k in ("city_id", "timestamp", "metric", "value", "baseline", "severity", "method")}
        for row in examples[:5]]}


def _alerts(lake: Lake, day: date) -> dict | None:
    data = lake.read_atomic(ALERTS_PATH)
    if data is None:
        return None
    alerts = orjson.loads(data).get("alerts", [])
    on = day.isoformat()
    return {"opened": [_alert(a) for a in alerts if str(a.get("opened_at", "")).startswith(on)],
            "resolved": sum(str(a.get("resolved_at") or "").startswith(on) for a in alerts),
            "open_now": [_alert(a) for a in alerts if a.get("state") != "resolved"]}


def _alert(alert: dict) -> dict:
    return {k: alert.get(k) for k in ("id", "rule", "city_id", "severity", "state", "opened_at", "message")}


def dead_letters(settings: Settings, day: date, give_up_after: float = 15.0) -> dict[str, int] | None:
    """{reason: count} of the dead letters Kafka took on ``day`` (their ``dlq.reason``
    header, :func:`reason_kind`); None when the topic cannot be read."""
    from weatherlake.errors import WeatherlakeError
    from weatherlake.ingest import kafka

    start = datetime.combine(day, datetime.min.time(), UTC)
    first_ms, end_ms = int(start.timestamp() * 1000), int((start + timedelta(days=1)).timestamp() * 1000)
    try:
        consumer = kafka.consumer(settings, None, give_up_after=give_up_after, enable_auto_commit=False)
    except WeatherlakeError as error:
        log.warning("report: cannot read the dead-letter topic: %s", error)
        return None
    counts: Counter = Counter()
    try:
        partitions = consumer.partitions_for_topic(settings.kafka_dlq_topic) or set()
        topic_partitions = [kafka.TopicPartition(settings.kafka_dlq_topic, p) for p in sorted(partitions)]
        if not topic_partitions:
            return {}
        consumer.assign(topic_partitions)
        ends = consumer.end_offsets(topic_partitions)
        starts = consumer.offsets_for_times({tp: first_ms for tp in topic_partitions})
        for tp in topic_partitions:
            found = starts.get(tp)
            consumer.seek(tp, found.offset if found is not None else ends[tp])
        remaining = {tp for tp in topic_partitions if consumer.position(tp) < ends[tp]}
        deadline = time.monotonic() + 60
        while remaining and time.monotonic() < deadline:
            for tp, messages in consumer.poll(timeout_ms=500).items():
                for message in messages:
                    if message.timestamp < end_ms:
                        reason = dict(message.headers or []).get("dlq.reason", b"unknown").decode(errors="replace")
                        counts[reason_kind(reason)] += 1
                    if message.offset + 1 >= ends[tp] or message.timestamp >= end_ms:
                        remaining.discard(tp)
            remaining = {tp for tp in remaining if consumer.position(tp) < ends[tp]}
    except kafka.KafkaError as error:
        log.warning("report: reading the dead-letter topic failed: %s", error)
        return None
    finally:
        consumer.close()
    return dict(counts)


def reason_kind(reason: str) -> str:
    """A dead letter's reason without its values, so that alike ones count together:
    ``humidity 140.0 out of range 0..100`` -> ``humidity # out of range #..#``."""
    reason = re.sub(r"(?<![A-Za-z])'[^']*'|\"[^\"]*\"", "'…'", reason)
    return re.sub(r"-?\d+(?:\.\d+)?", "#", reason).strip()[:160] or "unknown"


# -- findings --------------------------------------------------------------------------


def _hours(run: list[int]) -> str:
    first, last = run
    return f"{first:02d}:00-{last:02d}:59 UTC ({last - first + 1} h)"


def findings(report: dict, settings: Settings, now: datetime) -> list[dict]:
    facts, day = report["facts"], report["date"]
    found: list[dict] = []

    def add(severity: str, text: str, action: str) -> None:
        found.append({"severity": severity, "text": text, "action": action})

    cities = facts["cities"]
    hours = report["hours"]
    reporting = [c for c in cities.values() if c["records"]]
    silent_everywhere = set(range(hours))
    for city in reporting:
        silent_everywhere -= {h for first, last in _complement(city["missing_hours"], hours)
                              for h in range(first, last + 1)}
    outages = _runs(sorted(silent_everywhere)) if reporting else [[0, hours - 1]]
    for run in outages:
        add("critical", f"No city has data for {_hours(run)} on {day}: the producer or its weather source was down.",
            "Read the producer's log for those hours (`weatherlake produce`); once it runs again, fill the hours "
            "with `weatherlake produce --backfill 1d --cycles 0` (the batch layer keeps one record per city and "
            "time, so the overlap is harmless).")
    in_outage = {h for first, last in outages for h in range(first, last + 1)}
    for city_id, city in cities.items():
        label = f"{city['city']} ({city_id})"
        own = [run for run in city["missing_hours"]
               if not set(range(run[0], run[1] + 1)) <= in_outage]
        if city["records"] == 0 and city["configured"]:
            if outages != [[0, hours - 1]]:
                add("critical", f"{label} sent nothing on {day}, though it is configured.",
                    "Check that the weather source knows the city (the producer logs each city it cannot get), "
                    "or take it out of CITIES.")
            continue
        if own and city["records"]:
            gaps = ", ".join(_hours(run) for run in own)
            who = "The station" if city["station"] else "The city"
            add("warning", f"{label} has no data for {gaps}, while other cities have.",
                f"{who} or its source was silent then, or its readings are late (a later batch run counts late "
                "data); `/api/gaps` lists the gaps and `/api/hourly-filled` their filled values.")
        if city["expected"] and city["records"] < EXPECTED_SHARE * city["expected"] and city["records"]:
            share = city["records"] / city["expected"]
            add("warning", f"{label} sent {city['records']:,} readings on {day}, {share:.0%} of the "
                           f"{city['expected']:,} expected at one every {settings.poll_interval_seconds:.0f} s.",
                "Look for the city's errors in the producer's log (rate limits, timeouts) and at its gaps.")
        if city["late"]:
            add("info", f"{label}: {city['late']:,} readings arrived more than an hour after they were taken "
                        f"(the latest {city['latest_delay_seconds'] / 3600:.1f} h late).",
                "Late readings are counted by the next batch run; if it is a station, check its clock and its "
                "connection.")
        if city["duplicates"]:
            add("info", f"{label}: {city['duplicates']:,} readings arrived twice (same city and time); the batch "
                        "layer kept one of each.",
                "Nothing to do unless it grows: a producer retry or a replayed backfill sends a reading again.")
    letters = facts["dead_letters"]
    if letters is None:
        add("warning", "The dead-letter topic could not be read, so refused records are not counted here.",
            "Check that Kafka is reachable from where the report runs (KAFKA_BOOTSTRAP_SERVERS).")
    else:
        for reason, count in sorted(letters.items(), key=lambda item: -item[1]):
            add("warning", f"{count:,} records went to the dead-letter topic on {day}: {reason}.",
                "Read them (docs/operations.md, Dead letters), fix the sender, and replay them if they are worth "
                "keeping.")
    during = facts["lag_during_day"]
    if during:
        _lag_findings(during, day, hours, add)
    lag = facts["lag"]
    if lag and lag["sink"] > LAG_RECORDS:
        add("warning", f"The lake sink is {lag['sink']:,} records behind Kafka (at {lag['checked_at']}).",
            "Check that `weatherlake consume` runs and can write the lake; add members (`--workers`) if it keeps up "
            "too slowly.")
    if lag and lag["speed"] > LAG_RECORDS:
        add("warning", f"The speed layer is {lag['speed']:,} records behind Kafka (at {lag['checked_at']}).",
            "Check that `weatherlake speed` runs.")
    batch = facts["batch"]
    if batch["failed"]:
        add("critical", f"{batch['failed']} of {batch['runs']} batch runs on {day} failed"
                        f"{': ' + batch['errors'][0] if batch['errors'] else ''}.",
            "Read ANALYTICS_LOG_DIR/spark.log; the views keep their last good run meanwhile.")
    elif batch["runs"] == 0 and day < now.date().isoformat():
        add("warning", f"No batch run started on {day}.",
            "Check that `weatherlake scheduler` runs (or the cron line of scripts/run_analytics.sh).")
    for d in facts["lake"]["uncompacted"]:
        files = facts["lake"]["dates"][d]["files"]
        add("info", f"The raw data of {d} is still in {files:,} small files.",
            f"Run `weatherlake compact --date {d}` (safe while the sink runs).")
    backup = facts["backup"]
    last = (backup or {}).get("last")
    good = [run for run in (backup or {}).get("runs", []) if run.get("ok")]
    if last and not last["ok"]:
        add("critical", f"The last backup ({last['backup_id']}) failed: {last['error']}.",
            "Fix the cause and run `weatherlake backup`; `weatherlake backup list` shows the backups there are.")
    if not good:
        add("warning", "The lake has no backup.", "Run `weatherlake backup`, and let the scheduler take one every "
                                                  "BACKUP_EVERY.")
    elif now - parse_utc(good[-1]["finished_at"]) > BACKUP_AGE:
        add("warning", f"The newest good backup is from {good[-1]['finished_at']}, more than two days ago.",
            "Check that the scheduler runs with BACKUP_EVERY set, or the cron line of scripts/run_backup.sh.")
    anomalies = facts["anomalies"] or {}
    severe = sum(n for s, n in (anomalies.get("by_severity") or {}).items() if s in ("severe", "extreme"))
    if severe:
        add("info", f"{severe} severe or extreme anomalies in the weather of {day} (the strongest: "
                    + "; ".join(f"{a['city_id']} {a['metric']} {a['value']} at {a['timestamp'][11:16]}"
                                for a in anomalies["strongest"][:3]) + ").",
            "Look at them on the dashboard; a stuck sensor (`method` `stuck_sensor`) needs its owner.")
    alerts = facts["alerts"] or {}
    for alert in alerts.get("open_now", []):
        add("warning" if alert["severity"] != "critical" else "critical",
            f"Alert {alert['id']} ({alert['rule']}, {alert['severity']}) is {alert['state']} since "
            f"{alert['opened_at']}: {alert['message']}.",
            "Acknowledge it once someone is on it (`POST /api/alerts/<id>/acknowledge`), resolve it when it is over.")
    order = {"critical": 0, "warning": 1, "info": 2}
    return sorted(found, key=lambda f: order[f["severity"]])


def _lag_findings(during: dict, day: str, hours: int, add) -> None:
    """Findings from the lag in each hour of the day (:func:`_lag_during_day`)."""
    actions = {"sink": "Read the sink's log for those hours (`weatherlake consume`): a lake it could not write, "
                       "or too few members for the rate (`--workers`).",
               "speed": "Read the speed layer's log for those hours (`weatherlake speed`); the dashboard's newest "
                        "minutes were stale meanwhile."}
    for layer, name in (("sink", "The lake sink"), ("speed", "The speed layer")):
        worst = during[layer]
        if worst["max"] is None or worst["max"] <= LAG_RECORDS:
            continue
        over = [int(hour[11:13]) for hour, entry in during["by_hour"].items()
                if (entry[layer] or 0) > LAG_RECORDS]
        add("warning", f"{name} fell up to {worst['max']:,} records behind Kafka on {day}, the most in "
                       f"{_hours([int(worst['at'][11:13])] * 2)}; more than {LAG_RECORDS:,} behind in "
                       f"{', '.join(_hours(run) for run in _runs(over))}.", actions[layer])
    if during["hours_sampled"] < hours:
        add("info", f"The speed layer sampled the lag in {during['hours_sampled']} of the {hours} hours of {day}: "
                    "it did not run in the others, so their lag is unknown and the dashboard's newest minutes "
                    "were not kept fresh.",
            "Check that `weatherlake speed` runs; its log says why it stopped (compose restarts it).")


def _complement(missing: Iterable[list[int]], hours: int) -> list[list[int]]:
    """The hours with data, as runs, from the runs without."""
    gone = {h for first, last in missing for h in range(first, last + 1)}
    return _runs(sorted(set(range(hours)) - gone))
