#!/usr/bin/env bash
# Refresh the dashboard map's coastlines: Natural Earth's land at 1:110m (public domain)
# as TopoJSON, from the world-atlas package (ISC), served from the app itself so the map
# works offline. Needs npm.
set -euo pipefail
exec "$(dirname "$0")/vendor_npm.sh" world-atlas@2.0.2 land-110m.json:land-110m.json LICENSE:land-110m.LICENSE
