"""docs/api.md is generated from the OpenAPI document and must not drift from it."""

from __future__ import annotations

from pathlib import Path

from weatherlake.web.api import ENDPOINTS
from weatherlake.web.openapi import document, markdown

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_the_checked_in_api_reference_matches_the_api():
    assert REFERENCE.read_text() == markdown(), (
        "docs/api.md is stale: regenerate it with `python -m weatherlake.web.openapi > docs/api.md`"
    )


def test_the_reference_names_every_endpoint_and_parameter():
    text = markdown(document())
    for endpoint in ENDPOINTS:
        assert f"## `GET {endpoint.rule}`" in text
        for param in endpoint.params:
            assert f"| `{param.name}` |" in text
    assert "## `GET /metrics`" in text and "## `GET /`" in text
