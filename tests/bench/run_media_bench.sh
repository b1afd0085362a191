#!/bin/bash
# run_media_bench.sh: the media forwarding benchmark (SPEC 6), our server and Debian's Janus
# 1.1.2 in the same run, same client (tests/bench/media_bench), same load; prints both sets
# of figures and the ratios.
#
# Usage: tests/bench/run_media_bench.sh [extra media_bench options...]
#   env PARLEY_BIN      server binary (default: newest build*/parley that is not a sanitizer
#                       or fuzz build: those would measure the sanitizer)
#       MEDIA_BENCH     client binary (default: the same choice for tests/bench/media_bench)
#       BENCH_SESSIONS  echotest sessions (default 10)
#       BENCH_RATE      total packets/s sent (default 20000)
#       BENCH_DURATION  measurement window, s (default 10)
#       BENCH_WARMUP    warm-up, s (default 2)
#       BENCH_LOOPS     our --general.loops (default 1, so "per core" is honest; 0 = one
#                       per core); BENCH_LOOPS="1 0" runs both
#       BENCH_TARGETS   "parley janus" (default) or one of them
#       BENCH_NICE      nice value of both servers, the client and the run's autogroup
#                       (default -10, so that other work on a shared machine disturbs the
#                       figures less; 0 to leave scheduling alone)
#       BENCH_PERF      1: `perf record -g` each server during its run (perf-<label>.data
#                       in the log dir; perf report -i ... --no-children --sort dso);
#                       BENCH_PERF_ARGS overrides "-g" (e.g. "--call-graph dwarf -F 499")
# Everything runs inside a private network namespace (tests/tools/netns.sh): this script
# re-executes itself there. Logs go to a temp dir printed at the end.
set -u
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

NAME=run_media_bench
# shellcheck source=tests/bench/bench_common.sh
. "$HERE/bench_common.sh"
bench_enter "$@"

SESSIONS="${BENCH_SESSIONS:-10}"
RATE="${BENCH_RATE:-20000}"
DURATION="${BENCH_DURATION:-10}"
WARMUP="${BENCH_WARMUP:-2}"
LOOPS="${BENCH_LOOPS:-1}"
TARGETS="${BENCH_TARGETS:-parley janus}"
PARLEY_BIN="${PARLEY_BIN:-$(bench_newest_build parley)}"
MEDIA_BENCH="${MEDIA_BENCH:-$(bench_newest_build tests/bench/media_bench)}"
if [ -z "$MEDIA_BENCH" ] || [ ! -x "$MEDIA_BENCH" ]; then
    echo "run_media_bench: no media_bench binary (build it: ninja -C build tests/bench/media_bench)" >&2
    exit 2
fi
bench_init_logdir /tmp/parley-media-bench.XXXXXX

# The client against the running server (perf-recorded with BENCH_PERF=1), then the server
# stopped.
run_measured() { # label port
    bench_perf_start "$1"
    run_client "$1" "$2"
    local rc=$?
    bench_perf_stop
    bench_stop_server
    return $rc
}

run_client() { # label port
    nice -n "$NICE" "$MEDIA_BENCH" --url "http://127.0.0.1:$2/janus" --pid "$SERVER_PID" --label "$1" \
        --sessions "$SESSIONS" --rate "$RATE" --duration "$DURATION" --warmup "$WARMUP" \
        --bind-ip 127.0.0.2 \
        "${CLIENT_ARGS[@]}" 2>&1 | tee "$LOGDIR/client-$1.log"
    return "${PIPESTATUS[0]}"
}

run_parley() { # loops
    local label="parley-loops$1" dir="$LOGDIR/parley-loops$1"
    bench_start_parley "$dir" 31000-31999 --general.loops="$1" || return 1
    if ! bench_wait_info 19088 janus.plugin.echotest; then
        bench_start_failed "parley did not start with the echotest plugin" "$dir"
        return 1
    fi
    run_measured "$label" 19088
}

run_janus() {
    local dir="$LOGDIR/janus"
    mkdir -p "$dir"
    bench_start_janus "$dir" echotest 32000-32999
    if ! bench_wait_info 19188 janus.plugin.echotest; then
        bench_start_failed "janus did not start" "$dir"
        return 1
    fi
    run_measured janus 19188
}

CLIENT_ARGS=("$@")
status=0
echo "media_bench: $SESSIONS sessions, $RATE pkt/s, ${DURATION}s window (+${WARMUP}s warm-up); logs in $LOGDIR"
for t in $TARGETS; do
    case $t in
        parley) for l in $LOOPS; do run_parley "$l" || status=1; done ;;
        janus) run_janus || status=1 ;;
        *) echo "unknown target $t" >&2; status=1 ;;
    esac
done

# Ratios: ours / Janus, from the RESULT lines.
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" "$LOGDIR/client-$1.log" | head -n 1; }
if [ -f "$LOGDIR/client-janus.log" ]; then
    jus="$(field janus us_per_pkt)"; jup="$(field janus webrtcup_p50_ms)"
    for f in "$LOGDIR"/client-parley-loops*.log; do
        [ -f "$f" ] || continue
        l="$(basename "$f" .log)"; l="${l#client-}"
        pus="$(field "$l" us_per_pkt)"; pup="$(field "$l" webrtcup_p50_ms)"
        if [ -n "$pus" ] && [ -n "$jus" ] && [ -n "$pup" ] && [ -n "$jup" ]; then
            awk -v l="$l" -v a="$pus" -v b="$jus" -v c="$pup" -v d="$jup" 'BEGIN {
                printf "RATIO %s/janus: CPU per forwarded packet %.2f/%.2f us = %.3f; create->webrtcup p50 %.1f/%.1f ms = %.3f\n",
                       l, a, b, (b > 0 ? a / b : 0), c, d, (d > 0 ? c / d : 0) }'
        fi
    done
fi
echo "(logs in $LOGDIR)"
exit $status
