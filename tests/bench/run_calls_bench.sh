#!/bin/bash
# run_calls_bench.sh: N concurrent 1:1 calls through the videocall plugin
# (janus.plugin.videocall), our server and Debian's Janus 1.1.2 in the same run, same client
# (tests/bench/calls_bench), same load; one table row per N per server, the ratios, and a
# summary. Rows with loss >= 1 % are flagged.
#
# Usage: tests/bench/run_calls_bench.sh [extra calls_bench options...]     (as root)
#   env CALLS           the sweep of call counts (default "8 32 64"; "" for none, e.g.
#                       with BENCH_RAMP=1)
#       BENCH_DURATION  measurement window, s (default 10)
#       BENCH_WARMUP    warm-up, s (default 2)
#       BENCH_TARGETS   "parley janus" (default) or one of them
#       BENCH_LOOPS     our --general.loops; default: not given (the server's default, one
#                       loop per core: the headline row). "1 0" runs both.
#       BENCH_NICE      nice value of both servers, the client and the run's autogroup
#                       (default -10; 0 leaves scheduling alone)
#       BENCH_RAMP      1: after the sweep, ramp N per server (RAMP_START, default 16,
#                       times RAMP_FACTOR, default 1.5, up to RAMP_MAX, default 512) until
#                       loss >= 1 %, more than 1 % of packets later than 200 ms, a call
#                       fails to come up, the client falls behind its load (the machine is
#                       saturated), or the server uses more than RAMP_CPU_MAX (default 0.9)
#                       of the machine's cores; reports the largest N that passed ("max
#                       calls at <1% loss")
#       PARLEY_BIN      server binary (default: newest build*/parley that is not a sanitizer
#                       or fuzz build)
#       CALLS_BENCH     client binary (default: the same choice for tests/bench/calls_bench)
#       BENCH_PERF      1: `perf record -g` each server during its run (perf-<label>.data in
#                       the log dir)
# Everything runs inside a private network namespace (tests/tools/netns.sh): this script
# re-executes itself there. Client and servers use 127.0.0.2 (veth0) for media, as in
# run_media_bench.sh. Logs go to a temp dir printed at the end.
set -u
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

NAME=run_calls_bench
# shellcheck source=tests/bench/bench_common.sh
. "$HERE/bench_common.sh"
bench_enter "$@"

CALLS="${CALLS-8 32 64}"
DURATION="${BENCH_DURATION:-10}"
WARMUP="${BENCH_WARMUP:-2}"
LOOPS="${BENCH_LOOPS:-default}"
TARGETS="${BENCH_TARGETS:-parley janus}"
PARLEY_BIN="${PARLEY_BIN:-$(bench_newest_build parley)}"
CALLS_BENCH="${CALLS_BENCH:-$(bench_newest_build tests/bench/calls_bench)}"
if [ -z "$CALLS_BENCH" ] || [ ! -x "$CALLS_BENCH" ]; then
    echo "run_calls_bench: no calls_bench binary (build it: ninja -C build tests/bench/calls_bench)" >&2
    exit 2
fi
bench_init_logdir /tmp/parley-calls-bench.XXXXXX
# Many sockets: 2 peers per call on the client, as many on the server, plus long-polls.
ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null

start_parley() { # loops label
    local dir="$LOGDIR/$2" loops_arg=()
    [ "$1" = "default" ] || loops_arg=(--general.loops="$1")
    bench_start_parley "$dir" 31000-39999 "${loops_arg[@]}" || return 1
    bench_wait_info 19088 janus.plugin.videocall
    case $? in
        0) return 0 ;;
        1) echo "run_calls_bench: $PARLEY_BIN has no janus.plugin.videocall (GET /janus/info); skipping it" >&2
           bench_stop_server; return 3 ;;
        *) bench_start_failed "parley did not start" "$dir"; return 1 ;;
    esac
}

start_janus() { # label
    local dir="$LOGDIR/$1"
    mkdir -p "$dir"
    bench_start_janus "$dir" videocall 40000-49999
    bench_wait_info 19188 janus.plugin.videocall ||
        { bench_start_failed "janus did not start with the videocall plugin" "$dir"; return 1; }
}

run_client() { # label port calls
    # Let the fresh server settle before the client reads its idle RSS.
    sleep 1
    bench_perf_start "$1"
    nice -n "$NICE" "$CALLS_BENCH" --url "http://127.0.0.1:$2/janus" --pid "$SERVER_PID" \
        --label "$1" --calls "$3" --duration "$DURATION" --warmup "$WARMUP" \
        --bind-ip 127.0.0.2 "${CLIENT_ARGS[@]}" >"$LOGDIR/client-$1.log" 2>&1
    local rc=$?
    bench_perf_stop
    grep -v '^RESULT' "$LOGDIR/client-$1.log" | sed 's/^/    /'
    return $rc
}

# One measurement: a fresh server, the client, the server stopped. Labels:
# <target>-n<calls> (parley: parley[-loopsL]-n<calls>).
run_one() { # target loops calls
    local label
    if [ "$1" = parley ]; then
        label="parley"; [ "$2" = "default" ] || label="parley-loops$2"
        label="$label-n$3"
        LAST_LABEL="$label"
        start_parley "$2" "$label" || return $?
        run_client "$label" 19088 "$3"
    else
        label="janus-n$3"
        LAST_LABEL="$label"
        start_janus "$label" || return $?
        run_client "$label" 19188 "$3"
    fi
    local rc=$?
    bench_stop_server
    return $rc
}

field() { sed -n "s/^RESULT.* $2=\([^ ]*\).*/\1/p" "$LOGDIR/client-$1.log" 2>/dev/null | head -n 1; }

ROWS=()
row() { # label
    local l="$1" f="$LOGDIR/client-$1.log"
    [ -f "$f" ] && grep -q '^RESULT' "$f" || { ROWS+=("$(printf '| %-22s | (no result: see %s) |' "$l" "$f")"); return; }
    local loss late sendp flag=""
    loss="$(field "$l" loss_pct)"; late="$(field "$l" late_pct)"; sendp="$(field "$l" send_pct)"
    awk -v x="$loss" 'BEGIN { exit !(x >= 1.0) }' && flag="$flag LOSS>=1%"
    awk -v x="$late" 'BEGIN { exit !(x >= 1.0) }' && flag="$flag LATE>=1%"
    awk -v x="$sendp" 'BEGIN { exit !(x < 99.0) }' && flag="$flag CLIENT-BEHIND"
    ROWS+=("$(printf '| %-22s | %4s/%-4s | %8s | %9s | %6s | %8s%s | %6s / %-7s | %7s | %6s / %-7s | %5s |' \
        "$l" "$(field "$l" calls_up)" "$(field "$l" calls)" "$(field "$l" us_per_pkt)" \
        "$(field "$l" relayed_pps)" "$(field "$l" calls_per_core)" "$loss" "$flag" \
        "$(field "$l" lat_p50_us)" "$(field "$l" lat_p99_us)" "$(field "$l" rss_per_call_kb)" \
        "$(field "$l" setup_p50_ms)" "$(field "$l" setup_p99_ms)" "$(field "$l" loadavg)")")
}

CLIENT_ARGS=("$@")
status=0
PARLEY_OK=1
declare -A LABELS
echo "calls_bench: calls \"$CALLS\", ${DURATION}s window (+${WARMUP}s warm-up), targets \"$TARGETS\"; logs in $LOGDIR"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for n in $CALLS; do
    for t in $TARGETS; do
        case $t in
            parley)
                [ $PARLEY_OK = 1 ] || continue
                for l in $LOOPS; do
                    echo "-- parley (loops $l), $n calls"
                    run_one parley "$l" "$n"; rc=$?
                    [ $rc = 3 ] && { PARLEY_OK=0; break; }
                    [ $rc = 0 ] || status=1
                    LABELS["parley-$l-$n"]="$LAST_LABEL"
                    row "$LAST_LABEL"
                done ;;
            janus)
                echo "-- janus, $n calls"
                run_one janus - "$n" || status=1
                LABELS["janus-$n"]="$LAST_LABEL"
                row "$LAST_LABEL" ;;
            *) echo "unknown target $t" >&2; status=1 ;;
        esac
    done
done

RATIOS=()
for n in $CALLS; do
    jl="${LABELS["janus-$n"]:-}"
    [ -n "$jl" ] || continue
    ju="$(field "$jl" us_per_pkt)"; jc="$(field "$jl" calls_per_core)"
    jr="$(field "$jl" rss_per_call_kb)"; js="$(field "$jl" setup_p50_ms)"
    for l in $LOOPS; do
        pl="${LABELS["parley-$l-$n"]:-}"
        [ -n "$pl" ] || continue
        pu="$(field "$pl" us_per_pkt)"; pc="$(field "$pl" calls_per_core)"
        pr="$(field "$pl" rss_per_call_kb)"; ps="$(field "$pl" setup_p50_ms)"
        [ -n "$pu" ] && [ -n "$ju" ] || continue
        RATIOS+=("$(awk -v l="$pl" -v a="$pu" -v b="$ju" -v c="$pc" -v d="$jc" -v e="$pr" -v f="$jr" -v g="$ps" -v h="$js" 'BEGIN {
            printf "RATIO %s/janus: CPU per relayed packet %.2f/%.2f us = %.3f; calls per core %.1f/%.1f = %.2f; RSS per call %.0f/%.0f kB = %.2f; setup p50 %.1f/%.1f ms = %.2f",
                   l, a, b, (b > 0 ? a / b : 0), c, d, (d > 0 ? c / d : 0), e, f, (f != 0 ? e / f : 0), g, h, (h > 0 ? g / h : 0) }')")
    done
done

# Optional ramp: the largest N with loss < 1 % per server.
RAMP_LINES=()
ramp() { # target loops
    local n="${RAMP_START:-16}" best=0 best_label="" why="reached RAMP_MAX"
    local cores; cores="$(nproc)"
    while [ "$n" -le "${RAMP_MAX:-512}" ]; do
        echo "-- ramp $1 (loops $2), $n calls"
        run_one "$1" "$2" "$n"
        local l="$LAST_LABEL"
        mv "$LOGDIR/client-$l.log" "$LOGDIR/client-ramp-$l.log" 2>/dev/null
        local lf="ramp-$l"
        local loss late sendp up calls srvc
        loss="$(field "$lf" loss_pct)"; up="$(field "$lf" calls_up)"; calls="$(field "$lf" calls)"
        srvc="$(field "$lf" server_cores)"; late="$(field "$lf" late_pct)"; sendp="$(field "$lf" send_pct)"
        if [ -z "$loss" ]; then why="no result at $n"; break; fi
        if [ "$up" != "$calls" ]; then why="only $up/$calls calls came up at $n"; break; fi
        if awk -v x="$loss" 'BEGIN { exit !(x >= 1.0) }'; then why="loss $loss % at $n"; break; fi
        if awk -v x="$late" 'BEGIN { exit !(x >= 1.0) }'; then why="$late % of packets late at $n"; break; fi
        if awk -v x="$sendp" 'BEGIN { exit !(x < 99.0) }'; then
            why="client fell behind ($sendp % of the load sent) at $n: machine saturated"; break
        fi
        best=$n; best_label="$lf"
        if awk -v s="$srvc" -v c="$cores" -v m="${RAMP_CPU_MAX:-0.9}" 'BEGIN { exit !(s >= m * c) }'; then
            why="server CPU $srvc cores at $n (saturated)"; break
        fi
        n="$(awk -v n="$n" -v f="${RAMP_FACTOR:-1.5}" 'BEGIN { m = int(n * f + 0.5); print (m > n ? m : n + 1) }')"
    done
    local cpc=""
    [ -n "$best_label" ] && cpc="$(field "$best_label" calls_per_core)"
    RAMP_LINES+=("RAMP $1 (loops $2): max calls at <1% loss = $best (stopped: $why); calls per core at $best: ${cpc:-?}")
}
if [ "${BENCH_RAMP:-0}" = "1" ]; then
    for t in $TARGETS; do
        case $t in
            parley) [ $PARLEY_OK = 1 ] && for l in $LOOPS; do ramp parley "$l"; done ;;
            janus) ramp janus - ;;
        esac
    done
fi

echo
echo "== summary ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average now $(cut -d' ' -f1-3 /proc/loadavg))"
echo "per call and direction: Opus-like 50 pkt/s x 100 B + VP8-like 30 fps in 100 pkt/s x 1200 B (unless overridden: ${CLIENT_ARGS[*]:-none})"
printf '| %-22s | %-9s | %-8s | %-9s | %-6s | %-8s | %-16s | %-7s | %-16s | %-5s |\n' \
    "server-calls" "up/calls" "us/pkt" "relayed/s" "call/c" "loss %" "lat p50/p99 us" "kB/call" "setup p50/p99 ms" "load1"
for r in "${ROWS[@]}"; do echo "$r"; done
for r in "${RATIOS[@]}"; do echo "$r"; done
for r in "${RAMP_LINES[@]}"; do echo "$r"; done
[ $PARLEY_OK = 1 ] || echo "NOTE: parley was skipped: its build has no janus.plugin.videocall yet"
echo "(us/pkt: server CPU per relayed packet; call/c: calls per core = calls / server cores used;"
echo " kB/call: (server RSS loaded - idle) / calls; flags: LOSS>=1%, LATE>=1% (later than 200 ms),"
echo " CLIENT-BEHIND (under 99 % of the nominal load sent: the machine is saturated); logs in $LOGDIR)"
exit $status
