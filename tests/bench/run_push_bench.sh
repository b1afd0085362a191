#!/bin/bash
# run_push_bench.sh: push notifications per second to a local fake FCM with 100 requests in
# flight, and the time from `call` to the fake receiving the incoming-call push (p50/p99)
# (tests/bench/push_bench.mjs; docs/push.md has the figures).
#
# Usage: tests/bench/run_push_bench.sh [--devices 100] [--messages 50] [--calls 200] [--in-flight 100]
#   env PARLEY_BIN  server binary (default: newest build*/parley that is not a sanitizer or
#                   fuzz build)
# Runs inside a private network namespace (tests/tools/netns.sh), as the integration tests
# (loopback only). Needs node and the openssl CLI; no browser.
set -u
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
NAME="$(basename "$0" .sh)"
# shellcheck source=tests/bench/bench_common.sh
. "$HERE/bench_common.sh"
bench_enter "$@"
bench_exec_node push_bench.mjs "$@"
