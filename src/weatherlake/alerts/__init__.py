"""Alerts: rules an operator edits, evaluated live, with a lifecycle and notifications.

* :mod:`~weatherlake.alerts.rules`: the rules file (TOML), validated at start;
* :mod:`~weatherlake.alerts.evaluate`: the rules as plain functions of observations and
  pipeline facts, with durations and hysteresis (no I/O, no clock of its own);
* :mod:`~weatherlake.alerts.book`: the lifecycle (firing -> acknowledged -> resolved) as a
  log of events;
* :mod:`~weatherlake.alerts.notify`: webhooks and email, retried in their own threads;
* :mod:`~weatherlake.alerts.service`: ``weatherlake alerts``, which ties them to Kafka and
  the lake; :mod:`~weatherlake.alerts.commands` is its command line.
"""

#: The alerts as the service last wrote them (what the API serves, where a restart starts).
STATE_PATH = "alerts/current.json"
#: Every applied event, appended in batches: alerts/events/date=YYYY-MM-DD/events-<n>.jsonl
EVENTS_DIR = "alerts/events"
