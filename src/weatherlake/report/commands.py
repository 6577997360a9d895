"""``weatherlake report [--date D] [--email]``: make (and keep, and mail) one day's report."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage

import click

from weatherlake.config import Settings
from weatherlake.errors import ConfigError

log = logging.getLogger(__name__)


def make_report(settings: Settings, day: date, *, email: bool = False) -> dict:
    """Build ``day``'s report, keep it in the lake (reports/date=D/), mail it when asked."""
    from weatherlake.lake import open_lake
    from weatherlake.report import build, render

    with open_lake(settings) as lake:
        report = build.build(lake, settings, day, build.dead_letters(settings, day))
        render.save(lake, report)
    log.info("report of %s: %d findings, in %s", day, len(report["findings"]), render.path(report["date"], "html"))
    if email:
        mail_report(settings, report)
    return report


def mail_report(settings: Settings, report: dict) -> None:
    """The report by SMTP_URL (the alerts' mail settings): Markdown as the text, the HTML beside it."""
    from weatherlake.alerts.notify import EmailChannel
    from weatherlake.report import render

    if not settings.smtp_url:
        raise ConfigError("--email needs SMTP_URL (smtp://host:25?from=...&to=...)")
    channel = EmailChannel(settings.smtp_url.reveal())
    message = EmailMessage()
    findings = report["findings"]
    worst = findings[0]["severity"] if findings else "no finding"
    message["Subject"] = f"[weatherlake] daily report {report['date']}: {len(findings)} findings ({worst})"
    message["From"] = channel.target.sender
    message["To"] = ", ".join(channel.target.recipients)
    message.set_content(render.markdown(report))
    message.add_alternative(render.html_page(report), subtype="html")
    channel.send_message(message, f"the report of {report['date']}")
    log.info("report of %s mailed to %d recipients", report["date"], len(channel.target.recipients))


def yesterday() -> date:
    return datetime.now(UTC).date() - timedelta(days=1)


@click.command("report")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), help="The UTC day (default: yesterday).")
@click.option("--email", is_flag=True, help="Also mail it (SMTP_URL, as the alerts do).")
@click.pass_obj
def report(settings: Settings, day: datetime | None, email: bool) -> None:
    """Write a day's health report (HTML, Markdown, JSON) into the lake and print it.

    Records per city against what was expected, gaps, late data, dead letters by reason,
    duplicates, lag, batch runs, small files, the last backup, the day's anomalies and
    alerts, and for each problem what to do. The web app serves it at /reports/<date>.
    """
    from weatherlake.report import render

    made = make_report(settings, day.date() if day else yesterday(), email=email)
    click.echo(render.markdown(made), nl=False)
