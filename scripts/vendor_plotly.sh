#!/usr/bin/env bash
# Refresh the dashboard's vendored Plotly bundle: the "basic" partial bundle (scatter,
# bar, pie; a quarter of the full bundle's size) of exactly the plotly.js release the
# installed `plotly` Python package ships. Run it after bumping plotly in requirements/;
# tests/web/test_dashboard_bundle.py fails until the two versions agree. Needs npm.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(.venv/bin/python -c "import plotly.offline; print(plotly.offline.get_plotlyjs_version())")
exec scripts/vendor_npm.sh "plotly.js-basic-dist-min@$version" \
  plotly-basic.min.js:plotly-basic.min.js LICENSE:plotly-basic.LICENSE
