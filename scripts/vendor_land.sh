#!/usr/bin/env bash
# Refresh the dashboard map's coastlines: Natural Earth's land at 1:110m (public domain)
# as TopoJSON, from the world-atlas package (ISC), served from the app itself so the map
# works offline. Needs npm (it fetches with `npm pack` from npm's configured registry).
set -euo pipefail
cd "$(dirname "$0")/.."
version=2.0.2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "world-atlas@$version" >/dev/null && tar xzf ./*.tgz)
target=src/weatherlake/web/static/vendor
cp "$work/package/land-110m.json" "$target/land-110m.json"
cp "$work/package/LICENSE" "$target/land-110m.LICENSE"
echo "vendored world-atlas $version land-110m.json: $(sha256sum "$target/land-110m.json" | cut -c1-16)..." >&2
