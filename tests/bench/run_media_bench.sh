#!/bin/bash
# run_media_bench.sh: the media forwarding benchmark (SPEC 6), our server and Debian's Janus
# 1.1.2 in the same run, same client (tests/bench/media_bench), same load; prints both sets
# of figures and the ratios.
#
# Usage: tests/bench/run_media_bench.sh [extra media_bench options...]
#   env PARLEY_BIN      server binary (default: newest build*/parley that is not a sanitizer
#                       or fuzz build: those would measure the sanitizer)
#       MEDIA_BENCH     client binary (default: the same choice for tests/bench/media_bench)
#       BENCH_SESSIONS  echotest sessions; a list is a sweep at the same total rate, each
#                       point run against every target (default "8 32 128 256")
#       BENCH_RATE      total packets/s sent (default 16000)
#       BENCH_ARRIVAL   paced (default: each session evenly spaced on its own phase),
#                       poisson, or burst (1 ms ticks); a list runs each
#       BENCH_DURATION  measurement window, s (default 10)
#       BENCH_WARMUP    warm-up, s (default 2)
#       BENCH_PARLEY    our server's variants, each run at every point: "default" (no
#                       option: as an operator runs it; the default) or settings joined by
#                       commas, e.g. "default general.loop_batch_us=0 general.loops=1";
#                       a variant's "bin:PATH" runs another build, "label:NAME" names it
#                       (e.g. "default bin:/tmp/old/build/parley,label:before")
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

SWEEP="${BENCH_SESSIONS:-8 32 128 256}"
RATE="${BENCH_RATE:-16000}"
ARRIVALS="${BENCH_ARRIVAL:-paced}"
DURATION="${BENCH_DURATION:-10}"
WARMUP="${BENCH_WARMUP:-2}"
VARIANTS="${BENCH_PARLEY:-default}"
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
        --arrival "$ARRIVAL" --bind-ip 127.0.0.2 \
        "${CLIENT_ARGS[@]}" 2>&1 | tee "$LOGDIR/client-$1.log"
    return "${PIPESTATUS[0]}"
}

run_parley() { # variant
    local name="parley" opt=() o bin="$PARLEY_BIN"
    if [ "$1" != default ]; then
        name="parley[$1]"
        for o in ${1//,/ }; do
            case $o in
                bin:*) bin="${o#bin:}" ;;
                label:*) name="${o#label:}" ;;
                *) opt+=("--$o") ;;
            esac
        done
    fi
    local label="$name-$POINT" dir="$LOGDIR/$name-$POINT"
    local PARLEY_BIN="$bin"
    bench_start_parley "$dir" 31000-31999 "${opt[@]}" || return 1
    if ! bench_wait_info 19088 janus.plugin.echotest; then
        bench_start_failed "parley did not start with the echotest plugin" "$dir"
        return 1
    fi
    run_measured "$label" 19088
}

run_janus() {
    local dir="$LOGDIR/janus-$POINT"
    mkdir -p "$dir"
    bench_start_janus "$dir" echotest 32000-32999
    if ! bench_wait_info 19188 janus.plugin.echotest; then
        bench_start_failed "janus did not start" "$dir"
        return 1
    fi
    run_measured "janus-$POINT" 19188
}

CLIENT_ARGS=("$@")
status=0
echo "media_bench: sessions $SWEEP at $RATE pkt/s in total, arrivals $ARRIVALS, ${DURATION}s window (+${WARMUP}s warm-up); logs in $LOGDIR"
for ARRIVAL in $ARRIVALS; do
    for SESSIONS in $SWEEP; do
        POINT="$ARRIVAL-s$SESSIONS"
        for t in $TARGETS; do
            case $t in
                parley) for v in $VARIANTS; do run_parley "$v" || status=1; done ;;
                janus) run_janus || status=1 ;;
                *) echo "unknown target $t" >&2; status=1 ;;
            esac
        done
    done
done

# The table: every run's figures, and ours / Janus's at the same point, from RESULT lines.
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" "$LOGDIR/client-$1.log" | head -n 1; }
echo
echo "| arrivals | sessions x pkt/s | server | CPU us/pkt | ratio | pkt/s per core | loss % | p99 latency us | kB/session | ratio |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for ARRIVAL in $ARRIVALS; do
    for SESSIONS in $SWEEP; do
        POINT="$ARRIVAL-s$SESSIONS"
        jus=""; jkb=""
        [ -f "$LOGDIR/client-janus-$POINT.log" ] && { jus="$(field "janus-$POINT" us_per_pkt)"; jkb="$(field "janus-$POINT" kb_per_session)"; }
        for f in "$LOGDIR"/client-*-"$POINT".log; do
            [ -f "$f" ] || continue
            l="$(basename "$f" .log)"; l="${l#client-}"
            us="$(field "$l" us_per_pkt)"; [ -n "$us" ] || continue
            awk -v a="$ARRIVAL" -v n="$SESSIONS" -v r="$RATE" -v l="${l%-"$POINT"}" -v us="$us" \
                -v pps="$(field "$l" pps_per_core)" -v loss="$(field "$l" loss_pct)" \
                -v p99="$(field "$l" lat_p99_us)" -v kb="$(field "$l" kb_per_session)" \
                -v jus="$jus" -v jkb="$jkb" 'BEGIN {
                printf "| %s | %d x %d | %s | %.2f | %s | %d | %.3f | %d | %d | %s |\n", a, n, r / n, l, us,
                       (jus > 0 ? sprintf("%.2f", us / jus) : "-"), pps, loss, p99, kb,
                       (jkb > 0 ? sprintf("%.2f", kb / jkb) : "-") }'
        done
    done
done
echo "(ratio: this server / Janus 1.1.2 at the same point of the same run; logs in $LOGDIR)"
exit $status
