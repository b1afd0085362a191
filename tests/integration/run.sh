#!/bin/bash
# run.sh: run every integration test (tests/integration/*.test.{mjs,py,sh}) against the server.
#
# Usage: tests/integration/run.sh [NAME_FILTER...]
#   env PARLEY_BIN     server binary (default: first of build*/parley found, newest first)
#       PARLEY_TARGET  parley (default) or janus (Debian's Janus 1.1.2, the reference)
#       PARLEY_TEST_TIMEOUT  seconds per test (default 180)
# Each test is an executable: exit 0 pass, 77 skip (reason on its output), else fail.
# Prints "PASS name (12.3s)" / "FAIL name" / "SKIP name: reason" per test, then exactly one
# line "integration: N passed, N failed, N skipped"; exits 0 iff none failed.
# The whole run happens in a private network namespace (tests/tools/netns.sh): this script
# re-executes itself there. Without one (not root), the tests that need WebRTC skip
# themselves with the reason; the signalling-only ones still run.
set -u
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
export PARLEY_ROOT="$ROOT"
export PARLEY_TARGET="${PARLEY_TARGET:-parley}"
TIMEOUT="${PARLEY_TEST_TIMEOUT:-180}"

if [ "${PARLEY_NETNS:-}" != "1" ] && [ "${PARLEY_NO_NETNS:-}" != "1" ]; then
    if out="$("$ROOT/tests/tools/netns.sh" true 2>&1)"; then
        exec "$ROOT/tests/tools/netns.sh" "$0" "$@"
    fi
    echo "note: no network namespace ($out); WebRTC tests will skip" >&2
    export PARLEY_NO_NETNS=1
fi

if [ "$PARLEY_TARGET" = "parley" ] && [ -z "${PARLEY_BIN:-}" ]; then
    PARLEY_BIN="$(ls -t "$ROOT"/build*/parley 2>/dev/null | head -n 1)"
fi
if [ "$PARLEY_TARGET" = "parley" ]; then
    if [ -z "${PARLEY_BIN:-}" ] || [ ! -x "$PARLEY_BIN" ]; then
        echo "run.sh: no server binary (set PARLEY_BIN or build build*/parley)" >&2
        echo "integration: 0 passed, 1 failed, 0 skipped"
        exit 1
    fi
    PARLEY_BIN="$(cd "$(dirname "$PARLEY_BIN")" && pwd)/$(basename "$PARLEY_BIN")"
    export PARLEY_BIN
fi

if [ ! -d "$HERE/node_modules/playwright-core" ]; then
    echo "note: $HERE/node_modules missing; running npm ci" >&2
    (cd "$HERE" && npm ci --no-audit --no-fund >/dev/null 2>&1) || echo "note: npm ci failed" >&2
fi

pass=0; fail=0; skipped=0; index=0
logdir="$(mktemp -d /tmp/parley-integration.XXXXXX)"
for t in "$HERE"/*.test.mjs "$HERE"/*.test.py "$HERE"/*.test.sh; do
    [ -e "$t" ] || continue
    name="$(basename "$t")"
    if [ $# -gt 0 ]; then
        want=0
        for f in "$@"; do case "$name" in *"$f"*) want=1 ;; esac; done
        [ $want = 1 ] || continue
    fi
    index=$((index + 1))
    out="$logdir/$name.log"
    start=$(date +%s.%N)
    # timeout signals the whole process group, so the test's server and browser die too.
    timeout --kill-after=10 "$TIMEOUT" "$t" >"$out" 2>&1
    rc=$?
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    case $rc in
        0)  pass=$((pass + 1)); echo "PASS $name (${secs}s)"
            grep -v '^ok (' "$out" | sed 's/^/    /' | head -n 20 ;;
        77) skipped=$((skipped + 1))
            reason="$(grep -m1 '^SKIP' "$out" | sed 's/^SKIP:\? *//')"
            echo "SKIP $name: ${reason:-no reason given}" ;;
        *)  fail=$((fail + 1))
            if [ $rc = 124 ] || [ $rc = 137 ]; then echo "FAIL $name (timeout after ${TIMEOUT}s)"
            else echo "FAIL $name (exit $rc, ${secs}s)"; fi
            tail -n 120 "$out" | sed 's/^/    /' ;;
    esac
done
echo "(test logs in $logdir)"
echo "integration: $pass passed, $fail failed, $skipped skipped"
[ $fail = 0 ]
