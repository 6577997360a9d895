"""``weatherlake alerts``: the alert service as a foreground command."""

from __future__ import annotations

import click

from weatherlake.config import Settings


@click.command()
@click.option("--check", is_flag=True, help="Only load and validate the rules file, print the rules, and exit.")
@click.pass_obj
def alerts(settings: Settings, check: bool) -> None:
    """Evaluate the alert rules live and keep the alerts' lifecycle.

    Reads ALERT_RULES (default: the bundled rules), follows the observation topic and
    the pipeline's health, writes alert events to ALERT_TOPIC and the lake
    (alerts/current.json, alerts/events/), and notifies ALERT_WEBHOOK_URL and SMTP_URL
    when set. Stops cleanly on Ctrl-C/SIGTERM; a restart rebuilds the alerts.
    """
    from weatherlake import logs
    from weatherlake.alerts.notify import Notifier, channels_from_settings
    from weatherlake.alerts.rules import load_rules
    from weatherlake.alerts.service import AlertService
    from weatherlake.lake import open_lake

    rules = load_rules(settings.alert_rules or None)
    if check:
        for rule in rules:
            click.echo(f"{rule.name}: {rule.kind}, {rule.severity}" + (f" - {rule.description}" if rule.description else ""))
        return
    channels = channels_from_settings(settings.alert_webhook_url.reveal() or None, settings.alert_webhook_format,
                                      settings.smtp_url.reveal() or None)
    stop = logs.stop_event()
    with open_lake(settings) as lake:
        service = AlertService(settings, lake, rules)
        if channels:
            service.notifier = Notifier(channels, service.record_delivery)
        service.run(stop)
    counters = service.counters
    click.echo(f"Alerts stopped: {counters['observations']} observations judged, {counters['opened']} alerts opened, "
               f"{counters['resolved']} resolved.", err=True)
