#!/bin/bash
# run.sh [SETTINGS...]: installs what is missing, builds, and runs the server with the
# embedded defaults: SQLite under ./data, the demo page at http://localhost:8088/, Janus API
# on :8088 (HTTP) and :8188 (WebSocket), admin on 127.0.0.1:7088. Extra arguments are passed
# to the server (e.g. --media.nat_1_1_ip=203.0.113.7).
# It chooses the dev payment provider (purchases complete at once, WITHOUT payment) so that
# you can try buying credits; the server's own default is none (purchases refused with 503).
# For a real deployment pass --billing.payment_provider=webhook (later flags win) or run the
# binary yourself.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/install-deps.sh
[ -d build ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
exec build/parley --general.data_dir="$ROOT/data" --general.web_root="$ROOT/web" \
    --billing.payment_provider=dev "$@"
