"""Schemathesis against /api/openapi.json: no 5xx, and every response matches the document.

Every operation is called with requests generated from the document itself: valid ones
(they must be answered 2xx, or 404 for a city id the data does not know) and, for
operations with parameters, invalid ones (they must be refused with a 4xx). Each response
is checked against the document: status code, content type, body schema. The app runs
over a lake with real data (batch views, a speed snapshot, raw files of two dates, alerts).
The write endpoints run without a configured token, so they must answer 403 or a 4xx
for a malformed request (tests/web/test_alerts_api.py drives them with one).

Deterministic (derandomized, no example database), bounded (EXAMPLES per operation and
mode). schemathesis' pytest plugin resolves fixtures through ``request.node._nodeid``,
which pytest 9 removed, so its Hypothesis strategies are driven here directly.
"""

from __future__ import annotations

import dataclasses

import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode

from tests.web import data
from tests.web.test_alerts_api import write_alerts
from weatherlake.web import create_app
from weatherlake.web.openapi import document

EXAMPLES = 40
OPERATIONS = [(path, method.upper(), operation) for path, item in document()["paths"].items()
              for method, operation in item.items()]
RUNS = [pytest.param(path, method, mode, id=f"{method} {path}-{mode.value}") for path, method, operation in OPERATIONS
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        if mode is GenerationMode.POSITIVE or operation.get("parameters") or operation.get("requestBody")]


EXPORT_TOKEN = "token-of-the-conformance-run"


@pytest.fixture
def api(settings, lake, published, tmp_path):
    """The document as schemathesis reads it from the app, over a lake with data in every layer."""
    rows = data.observations(hours=30, per_hour=3)
    for day in ("2026-11-20", "2026-11-21"):
        lines = b"".join(orjson.dumps(r) + b"\n" for r in rows if r["timestamp"].startswith(day))
        lake.write(f"raw/date={day}/weather.observations+0+0000000000+0000000099.jsonl", lines)
    lake.write_atomic(f"raw/_state/{settings.kafka_topic}+0.json", b'{"next_offset": 270, "pending": []}')
    write_alerts(lake)
    tokens = tmp_path / "export_tokens"
    tokens.write_text(f"conformance {EXPORT_TOKEN}\n")
    settings = dataclasses.replace(settings, export_tokens=str(tokens), export_rate_per_minute=100_000)
    app = create_app(settings, {"TESTING": True, "RELOAD_SECONDS": 3600, "BACKGROUND_REFRESH": False})
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app)


@pytest.mark.parametrize(("path", "method", "mode"), RUNS)
def test_the_api_answers_as_its_document_says(api, path, method, mode):
    operation = api[path][method]

    @given(case=operation.as_strategy(mode))
    @hypothesis_settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                         suppress_health_check=list(HealthCheck))
    def conforms(case):
        # Every check schemathesis has, 5xx and schema conformance included; the export with a client's token.
        headers = None
        if path.startswith("/api/export/"):
            headers = {"Authorization": f"Bearer {EXPORT_TOKEN}"}
            if mode is GenerationMode.POSITIVE and case.query:
                # What the schema cannot say: a cursor is valid only as the API gave it, and
                # partition and after go together. tests/web/test_export_api.py covers both.
                case.query.pop("cursor", None)
                if ("partition" in case.query) != ("after" in case.query):
                    case.query.pop("partition", None)
                    case.query.pop("after", None)
        case.call_and_validate(headers=headers)

    conforms()
