#!/bin/bash
# run_chat_bench.sh: billed chat messages per second over data channels and their latency
# (tests/bench/chat_bench.mjs), our server and Debian's Janus 1.1.2 textroom in the same run.
#
# Usage: tests/bench/run_chat_bench.sh [--pairs 50] [--rates 1000,2500,5000] [--seconds 10]
#                                      [--targets parley,janus] [--client c|chromium]
#                                      [--client-loops 2]                (as root)
#   env PARLEY_BIN  server binary (default: newest build*/parley that is not a sanitizer or
#                   fuzz build); the C client (--client c, the default) is the
#                   tests/bench/chat_bench_client of the same build dir (env CHAT_BENCH_CLIENT)
# Runs inside a private network namespace (tests/tools/netns.sh), as the integration tests:
# the clients would otherwise offer the machine's real addresses. Needs `npm ci` in
# tests/integration (playwright-core), and /usr/bin/chromium for --client chromium.
set -u
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
NAME="$(basename "$0" .sh)"
# shellcheck source=tests/bench/bench_common.sh
. "$HERE/bench_common.sh"
bench_enter "$@"
bench_exec_node chat_bench.mjs "$@"
