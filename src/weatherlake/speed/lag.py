"""How far the lake sink and the speed layer fall behind Kafka, hour by hour.

A lag read once says little about a day: a sink that stalled for three hours at night and
caught up by morning looks healthy at breakfast. So the speed layer samples both lags
(Kafka's end offsets against the sink's committed state in the lake and against its own
positions) at most once a minute, keeps the most each lagged in every clock hour, for the
newest :data:`KEEP_HOURS` hours, and publishes them in its snapshot as ``lag_by_hour``:

    {"2026-11-20T03:00:00Z": {"sink": 41250, "speed": 12, "samples": 60}, ...}

``sink`` is None in an hour when the lake's sink state could not be read. The daily report
(weatherlake.report.build) sums a day up with :func:`of_day`. Hours when the speed layer
did not run have no entry: the report says how many hours were sampled.
"""

from __future__ import annotations

#: Hours of lag kept in the snapshot: a day's report can be made (or made again) two days later.
KEEP_HOURS = 72
#: The sink's state is read from the lake at most this often.
SAMPLE_SECONDS = 60.0


def records_behind(ends: dict[int, int], positions: dict[int, int]) -> int:
    """Records between ``positions`` and Kafka's ``ends``, over every partition."""
    return sum(max(0, end - positions.get(partition, 0)) for partition, end in ends.items())


def note(hours: dict[str, dict], hour: str, sink: int | None, speed: int, keep: int = KEEP_HOURS) -> None:
    """Add one sample to the ``hour`` (``YYYY-MM-DDTHH:00:00Z``) of ``hours``, in place,
    and forget all but the newest ``keep`` hours."""
    entry = hours.setdefault(hour, {"sink": None, "speed": 0, "samples": 0})
    if sink is not None:
        entry["sink"] = max(entry["sink"] or 0, sink)
    entry["speed"] = max(entry["speed"], speed)
    entry["samples"] += 1
    for old in sorted(hours)[:-keep]:
        del hours[old]


def restored(hours) -> dict[str, dict]:
    """The ``lag_by_hour`` of a previous snapshot, or {} if it has none that reads."""
    if not isinstance(hours, dict):
        return {}
    return {hour: dict(entry) for hour, entry in hours.items()
            if isinstance(entry, dict) and {"sink", "speed", "samples"} <= entry.keys()}


def of_day(hours: dict[str, dict], day: str) -> dict:
    """The day's (``YYYY-MM-DD``) hours summed up: how many were sampled, and for the sink
    and the speed layer the most they lagged, in which hour, and the hours of each entry."""
    mine = {hour: entry for hour, entry in sorted(hours.items()) if hour.startswith(day)}
    summary: dict = {"hours_sampled": len(mine), "by_hour": mine}
    for layer in ("sink", "speed"):
        known = {hour: entry[layer] for hour, entry in mine.items() if entry[layer] is not None}
        worst = max(known, key=known.__getitem__, default=None)
        summary[layer] = {"max": known[worst] if worst else None, "at": worst}
    return summary
