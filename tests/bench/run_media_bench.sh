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

if [ "${PARLEY_NETNS:-}" != "1" ]; then
    exec "$ROOT/tests/tools/netns.sh" "$0" "$@"
fi

NICE="${BENCH_NICE:--10}"
# The kernel groups tasks by session ("autogroup") and shares the CPU between groups, so a
# nice value alone does nothing against other sessions' work on a shared machine: run in a
# session of our own and give that group the nice value too.
if [ "${PARLEY_BENCH_SESSION:-}" != "1" ]; then
    export PARLEY_BENCH_SESSION=1
    exec setsid -w "$0" "$@"
fi
if [ -w /proc/self/autogroup ] && ! echo "$NICE" >/proc/self/autogroup 2>/dev/null; then
    echo "note: could not set the autogroup nice value" >&2
fi

SESSIONS="${BENCH_SESSIONS:-10}"
RATE="${BENCH_RATE:-20000}"
DURATION="${BENCH_DURATION:-10}"
WARMUP="${BENCH_WARMUP:-2}"
LOOPS="${BENCH_LOOPS:-1}"
TARGETS="${BENCH_TARGETS:-parley janus}"
PARLEY_BIN="${PARLEY_BIN:-$(ls -t "$ROOT"/build*/parley 2>/dev/null | grep -v -E 'asan|fuzz|tsan' | head -n 1)}"
MEDIA_BENCH="${MEDIA_BENCH:-$(ls -t "$ROOT"/build*/tests/bench/media_bench 2>/dev/null | grep -v -E 'asan|fuzz|tsan' | head -n 1)}"
if [ -z "$MEDIA_BENCH" ] || [ ! -x "$MEDIA_BENCH" ]; then
    echo "run_media_bench: no media_bench binary (build it: ninja -C build tests/bench/media_bench)" >&2
    exit 2
fi
LOGDIR="$(mktemp -d /tmp/parley-media-bench.XXXXXX)"
SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill -9 "$SERVER_PID" 2>/dev/null; }
trap cleanup EXIT

stop_server() {
    [ -n "$SERVER_PID" ] || return
    kill -TERM "$SERVER_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=""
}

run_client() { # label port
    nice -n "$NICE" "$MEDIA_BENCH" --url "http://127.0.0.1:$2/janus" --pid "$SERVER_PID" --label "$1" \
        --sessions "$SESSIONS" --rate "$RATE" --duration "$DURATION" --warmup "$WARMUP" \
        --bind-ip 127.0.0.2 \
        "${CLIENT_ARGS[@]}" 2>&1 | tee "$LOGDIR/client-$1.log"
    return "${PIPESTATUS[0]}"
}

PERF_PID=""
perf_start() { # label
    [ "${BENCH_PERF:-0}" = "1" ] || return 0
    # shellcheck disable=SC2086
    perf record ${BENCH_PERF_ARGS:--g} -o "$LOGDIR/perf-$1.data" -p "$SERVER_PID" >"$LOGDIR/perf-$1.log" 2>&1 &
    PERF_PID=$!
}
perf_stop() {
    [ -n "$PERF_PID" ] || return 0
    kill -INT "$PERF_PID"; wait "$PERF_PID"; PERF_PID=""
}

run_parley() { # loops
    local label="parley-loops$1" dir="$LOGDIR/parley-loops$1"
    if [ -z "$PARLEY_BIN" ] || [ ! -x "$PARLEY_BIN" ]; then
        echo "run_media_bench: no parley binary (set PARLEY_BIN)" >&2
        return 1
    fi
    mkdir -p "$dir/data"
    nice -n "$NICE" "$PARLEY_BIN" --general.data_dir="$dir/data" --general.web_root="$ROOT/web" \
        --general.loops="$1" \
        --http.port=19088 --http.bind=127.0.0.1 --ws.port=19089 --ws.bind=127.0.0.1 \
        --admin.port=19090 --auth.required=false --media.rtp_port_range=31000-31999 \
        --media.bind_ips=127.0.0.2 \
        >"$dir/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do
        grep -q "parley ready" "$dir/server.log" && break
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if ! grep -q "parley ready" "$dir/server.log"; then
        echo "run_media_bench: parley did not start; log:" >&2
        tail -n 30 "$dir/server.log" >&2
        stop_server
        return 1
    fi
    perf_start "$label"
    run_client "$label" 19088
    local rc=$?
    perf_stop
    stop_server
    return $rc
}

janus_configs() { # dir
    local d="$1" lib=/usr/lib/x86_64-linux-gnu/janus
    mkdir -p "$d/plugins" "$d/transports"
    # Private folders: Janus loads only the echotest plugin and the HTTP transport.
    ln -s "$lib/plugins/libjanus_echotest.so" "$d/plugins/"
    ln -s "$lib/transports/libjanus_http.so" "$d/transports/"
    cat >"$d/janus.jcfg" <<EOF
general: {
  configs_folder = "$d"
  plugins_folder = "$d/plugins"
  transports_folder = "$d/transports"
  events_folder = "$d/none"
  loggers_folder = "$d/none"
  debug_level = 4
  session_timeout = 60
  protected_folders = [ "/bin", "/etc", "/usr" ]
}
certificates: { }
media: {
  ipv6 = false
  rtp_port_range = "32000-32999"
}
nat: {
  nice_debug = false
  full_trickle = true
  ice_ignore_list = "vmnet"
}
plugins: { }
transports: { }
loggers: { }
events: { }
EOF
    cat >"$d/janus.transport.http.jcfg" <<EOF
general: {
  json = "indented"
  base_path = "/janus"
  http = true
  port = 19188
  https = false
}
admin: { admin_http = false }
cors: { }
EOF
    echo 'general: { }' >"$d/janus.plugin.echotest.jcfg"
}

run_janus() {
    local dir="$LOGDIR/janus"
    mkdir -p "$dir"
    janus_configs "$dir"
    nice -n "$NICE" /usr/bin/janus -C "$dir/janus.jcfg" -F "$dir" -o >"$dir/server.log" 2>&1 &
    SERVER_PID=$!
    local up=0
    for _ in $(seq 100); do
        if curl -s -m 1 http://127.0.0.1:19188/janus/info 2>/dev/null | grep -q server_info; then
            up=1; break
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ $up = 0 ]; then
        echo "run_media_bench: janus did not start; log:" >&2
        tail -n 30 "$dir/server.log" >&2
        stop_server
        return 1
    fi
    perf_start janus
    run_client janus 19188
    local rc=$?
    perf_stop
    stop_server
    return $rc
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
