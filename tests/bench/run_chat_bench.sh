#!/bin/bash
# run_chat_bench.sh: billed chat messages per second over data channels and their latency
# (tests/bench/chat_bench.mjs), our server and Debian's Janus 1.1.2 textroom in the same run.
#
# Usage: tests/bench/run_chat_bench.sh [--pairs 50] [--rates 1000,2500,5000] [--seconds 10]
#                                      [--targets parley,janus]          (as root)
#   env PARLEY_BIN  server binary (default: newest build*/parley that is not a sanitizer or
#                   fuzz build)
# Runs inside a private network namespace (tests/tools/netns.sh), as the integration tests:
# Chromium would otherwise offer the machine's real addresses. Needs `npm ci` in
# tests/integration (playwright-core) and /usr/bin/chromium.
set -u
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
if [ "${PARLEY_NETNS:-}" != "1" ]; then
    exec "$ROOT/tests/tools/netns.sh" "$0" "$@"
fi
if [ -z "${PARLEY_BIN:-}" ]; then
    PARLEY_BIN="$(ls -t "$ROOT"/build*/parley 2>/dev/null | grep -v -e asan -e tsan -e fuzz | head -n 1)"
fi
export PARLEY_BIN PARLEY_ROOT="$ROOT"
exec node "$HERE/chat_bench.mjs" "$@"
