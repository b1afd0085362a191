#!/bin/bash
# run.sh [SETTINGS...]: installs what is missing, builds, and runs the server with the
# embedded defaults: SQLite under ./data, the demo page at http://localhost:8088/, Janus API
# on :8088 (HTTP) and :8188 (WebSocket), admin on 127.0.0.1:7088. Extra arguments are passed
# to the server (e.g. --media.nat_1_1_ip=203.0.113.7).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/install-deps.sh
[ -d build ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
exec build/parley --general.data_dir="$ROOT/data" --general.web_root="$ROOT/web" "$@"
