#!/usr/bin/env bash
# Refresh the dashboard's vendored Plotly bundle: the "basic" partial bundle (scatter,
# bar, pie; a quarter of the full bundle's size) of exactly the plotly.js release the
# installed `plotly` Python package ships. Run it after bumping plotly in requirements/;
# tests/web/test_dashboard_bundle.py fails until the two versions agree.
# Needs npm (it fetches with `npm pack` from npm's configured registry).
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(.venv/bin/python -c "import plotly.offline; print(plotly.offline.get_plotlyjs_version())")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "plotly.js-basic-dist-min@$version" >/dev/null && tar xzf ./*.tgz)
target=src/weatherlake/web/static/vendor
cp "$work/package/plotly-basic.min.js" "$target/plotly-basic.min.js"
cp "$work/package/LICENSE" "$target/plotly-basic.LICENSE"
echo "vendored plotly.js-basic-dist-min $version: $(sha256sum "$target/plotly-basic.min.js" | cut -c1-16)..." >&2
