"""The dashboard's Plotly bundle (the vendored basic one, at the installed package's plotly.js release) and its warm-up."""

from __future__ import annotations

import logging

import pytest
from plotly.offline import get_plotlyjs_version

from weatherlake.web import dashboard


@pytest.fixture
def fresh_choice():
    dashboard.plotly_bundle.cache_clear()
    yield
    dashboard.plotly_bundle.cache_clear()


def test_the_vendored_bundle_is_the_plotly_js_release_the_plotly_package_ships():
    # Fails after a plotly upgrade until scripts/vendor_plotly.sh is run.
    assert dashboard.bundle_version(dashboard.PLOTLY_BASIC) == get_plotlyjs_version()
    assert dashboard.bundle_version(dashboard.PLOTLY_FULL) == get_plotlyjs_version()
    assert (dashboard.PLOTLY_BASIC.parent / "plotly-basic.LICENSE").read_text().startswith("MIT License")


def test_the_vendored_basic_bundle_is_served_when_it_matches(fresh_choice):
    assert dashboard.plotly_bundle() == (dashboard.PLOTLY_BASIC, f"{get_plotlyjs_version()}-basic")


def test_a_mismatched_vendored_bundle_gives_way_to_the_packages_full_one(fresh_choice, monkeypatch, tmp_path, caplog):
    stale = tmp_path / "plotly-basic.min.js"
    stale.write_text("/**\n* plotly.js (basic - minified) v0.0.1\n*/\n")
    monkeypatch.setattr(dashboard, "PLOTLY_BASIC", stale)
    with caplog.at_level(logging.WARNING, logger="weatherlake.web.dashboard"):
        assert dashboard.plotly_bundle() == (dashboard.PLOTLY_FULL, f"{get_plotlyjs_version()}-full")
    assert "vendored Plotly bundle is 0.0.1" in caplog.text and "scripts/vendor_plotly.sh" in caplog.text


def test_warm_up_compiles_the_page_and_chooses_the_bundle_before_any_request(make_settings, fresh_choice):
    from weatherlake.web import create_app

    app = create_app(make_settings(), {"BACKGROUND_REFRESH": False})
    dashboard.warm_up(app)
    assert any(name == "dashboard.html" for _, name in app.jinja_env.cache)
    assert dashboard.plotly_bundle.cache_info().currsize == 1
