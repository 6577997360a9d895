#!/usr/bin/env bash
# Copy files of one npm package into the dashboard's vendored assets
# (src/weatherlake/web/static/vendor), printing the first one's digest:
#   scripts/vendor_npm.sh PACKAGE@VERSION FILE:TARGET [FILE:TARGET ...]
# FILE is a path inside the package, TARGET a name in static/vendor. Used by
# vendor_plotly.sh and vendor_land.sh. Needs npm (`npm pack` from npm's configured registry).
set -euo pipefail
cd "$(dirname "$0")/.."
package=${1:?usage: scripts/vendor_npm.sh PACKAGE@VERSION FILE:TARGET [FILE:TARGET ...]}
shift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$package" >/dev/null && tar xzf ./*.tgz)
target=src/weatherlake/web/static/vendor
for pair in "$@"; do
  cp "$work/package/${pair%%:*}" "$target/${pair#*:}"
done
first=${1#*:}
echo "vendored $package $first: $(sha256sum "$target/$first" | cut -c1-16)..." >&2
