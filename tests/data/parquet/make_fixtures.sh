#!/usr/bin/env bash
# Regenerates the Parquet fixtures of this folder with make_fixtures.mjs,
# using pinned npm packages installed into a temporary folder (nothing is
# left in the tree). Needs node and the npm registry; run once, commit the
# .parquet files.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$here/make_fixtures.mjs" "$tmp/"
(cd "$tmp" && npm init -y >/dev/null &&
    npm install --silent --no-audit --no-fund parquet-wasm@0.8.0 apache-arrow@21.2.0 >/dev/null)
(cd "$tmp" && node make_fixtures.mjs "$here")
