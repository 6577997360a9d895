"""A report as Markdown and as HTML (self-contained, escaped), and where reports live.

``reports/date=YYYY-MM-DD/report.json`` (the facts and findings), ``report.md`` and
``report.html``, each replaced atomically when the day's report is made again.
"""

from __future__ import annotations

import html
import re

import orjson

from weatherlake.lake import Lake, join

REPORTS = "reports"
FORMATS = {"json": "application/json", "md": "text/markdown; charset=utf-8", "html": "text/html; charset=utf-8"}
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def path(day: str, kind: str) -> str:
    return join(REPORTS, f"date={day}", f"report.{kind}")


def save(lake: Lake, report: dict) -> None:
    """The three forms of ``report``; the JSON last, so a listed report has all three."""
    lake.write_atomic(path(report["date"], "md"), markdown(report).encode())
    lake.write_atomic(path(report["date"], "html"), html_page(report).encode())
    lake.write_atomic(path(report["date"], "json"), orjson.dumps(report, option=orjson.OPT_INDENT_2))


def dates(lake: Lake) -> list[str]:
    """The days with a report, oldest first."""
    return [name[len("date="):] for name in lake.list(REPORTS)
            if name.startswith("date=") and DATE.fullmatch(name[len("date="):])
            and lake.exists(path(name[len("date="):], "json"))]


def _summary(report: dict) -> str:
    counts = {s: sum(f["severity"] == s for f in report["findings"]) for s in ("critical", "warning", "info")}
    if not report["findings"]:
        return "No finding: every check below passed."
    return ", ".join(f"{n} {s}" for s, n in counts.items() if n) + "."


def _city_lines(report: dict) -> list[tuple[str, str, str, str, str, str]]:
    rows = []
    for city_id, city in report["facts"]["cities"].items():
        expected = f"{city['records'] / city['expected']:.0%} of {city['expected']:,}" if city["expected"] else "-"
        missing = ", ".join(f"{a:02d}-{b:02d}h" for a, b in city["missing_hours"]) or "none"
        rows.append((f"{city['city']} ({city_id})", f"{city['records']:,}", expected, missing,
                     f"{city['late']:,}", f"{city['duplicates']:,}"))
    return rows


def _other_facts(report: dict) -> list[tuple[str, str]]:
    facts = report["facts"]
    letters = facts["dead_letters"]
    lag = facts["lag"]
    batch = facts["batch"]
    backup = (facts["backup"] or {}).get("last")
    anomalies = facts["anomalies"] or {}
    alerts = facts["alerts"] or {}
    lake = facts["lake"]
    return [
        ("dead letters", "not readable" if letters is None else
         (", ".join(f"{n:,} {reason}" for reason, n in sorted(letters.items(), key=lambda i: -i[1])) or "none")),
        ("lag now (records)", "unknown (no speed snapshot)" if lag is None else
         f"sink {lag['sink']:,}, speed layer {lag['speed']:,} (at {lag['checked_at']})"),
        ("most lag in an hour (records)", _lag_during_day(facts["lag_during_day"])),
        ("batch runs", f"{batch['runs']} started, {batch['failed']} failed"
         + (f", median {batch['median_seconds']} s, longest {batch['longest_seconds']} s" if batch["runs"] else "")),
        ("raw files by date", ", ".join(f"{d}: {v['files']:,} ({v['bytes'] / 1e6:.1f} MB)"
                                        for d, v in lake["dates"].items()) or "none"),
        ("last backup", "none" if backup is None else
         f"{backup['backup_id']}, {'ok' if backup['ok'] else 'failed'}, finished {backup['finished_at']}"),
        ("anomalies", "view not published" if not anomalies else
         (", ".join(f"{n} {s}" for s, n in sorted(anomalies["by_severity"].items())) or "none")),
        ("alerts", "no alert book" if not alerts else
         f"{len(alerts['opened'])} opened, {alerts['resolved']} resolved, {len(alerts['open_now'])} open now"),
    ]


def markdown(report: dict) -> str:
    lines = [f"# weatherlake daily report: {report['date']}", "",
             f"Made {report['generated_at']} from the lake ({report['hours']} hours of the day). "
             + _summary(report), ""]
    if report["findings"]:
        lines += ["## Findings", ""]
        for finding in report["findings"]:
            lines += [f"- **{finding['severity']}**: {finding['text']}", f"  - What to do: {finding['action']}"]
        lines.append("")
    lines += ["## Cities", "", "| city | records | of expected | hours without data | late | duplicates |",
              "| --- | --- | --- | --- | --- | --- |"]
    lines += ["| " + " | ".join(cells) + " |" for cells in _city_lines(report)]
    lines += ["", "## The rest of the pipeline", ""]
    lines += [f"- {name}: {value}" for name, value in _other_facts(report)]
    return "\n".join(lines) + "\n"


def html_page(report: dict) -> str:
    e = html.escape
    parts = [f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>weatherlake report "
             f"{e(report['date'])}</title><style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
             "padding:0 1rem}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem;"
             "text-align:left}.critical{color:#b00020}.warning{color:#a15c00}.info{color:#555}</style></head><body>",
             f"<h1>weatherlake daily report: {e(report['date'])}</h1>",
             f"<p>Made {e(report['generated_at'])} from the lake ({report['hours']} hours of the day). "
             f"{e(_summary(report))}</p>"]
    if report["findings"]:
        parts.append("<h2>Findings</h2><ul>")
        parts += [f"<li class=\"{e(f['severity'])}\"><strong>{e(f['severity'])}</strong>: {e(f['text'])}<br>"
                  f"What to do: {e(f['action'])}</li>" for f in report["findings"]]
        parts.append("</ul>")
    parts.append("<h2>Cities</h2><table><tr><th>city</th><th>records</th><th>of expected</th>"
                 "<th>hours without data</th><th>late</th><th>duplicates</th></tr>")
    parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>" for cells in _city_lines(report)]
    parts.append("</table><h2>The rest of the pipeline</h2><ul>")
    parts += [f"<li>{e(name)}: {e(value)}</li>" for name, value in _other_facts(report)]
    parts.append("</ul></body></html>")
    return "\n".join(parts) + "\n"


def _lag_during_day(during: dict | None) -> str:
    if during is None:
        return "not kept (no speed snapshot, or the day is older than the speed layer keeps)"
    if not during["hours_sampled"]:
        return "not sampled (the speed layer did not run)"
    worst = [f"{name} {during[layer]['max']:,} ({during[layer]['at'][11:16]} UTC)"
             for layer, name in (("sink", "sink"), ("speed", "speed layer")) if during[layer]["max"] is not None]
    return f"{', '.join(worst) or 'sink unknown'}; {during['hours_sampled']} hours sampled"
