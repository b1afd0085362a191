# bench_common.sh: what run_media_bench.sh and run_calls_bench.sh share, sourced by both:
# entering a private network namespace and a scheduling session of their own, picking the
# binaries, the log dir, starting and stopping our server and Janus 1.1.2 (with a private
# config that loads one plugin and the HTTP transport), waiting until a server answers
# GET /janus/info, and optional perf recording.
#
# Processes: one server at a time, its pid in SERVER_PID (killed on exit), perf's in
# PERF_PID. Ownership: everything a run writes goes under LOGDIR (kept for reading).
# Callers set ROOT (the repository) before sourcing, and NAME (their name, for messages).

# Re-executes the calling script inside tests/tools/netns.sh, then in a session of its own
# (setsid), and gives that session's autogroup the nice value BENCH_NICE (default -10):
# the kernel shares the CPU between autogroups, so a plain nice value does nothing against
# other sessions' work on a shared machine. Sets NICE. Usage: bench_enter "$@"
bench_enter() {
    if [ "${PARLEY_NETNS:-}" != "1" ]; then
        exec "$ROOT/tests/tools/netns.sh" "$0" "$@"
    fi
    NICE="${BENCH_NICE:--10}"
    if [ "${PARLEY_BENCH_SESSION:-}" != "1" ]; then
        export PARLEY_BENCH_SESSION=1
        exec setsid -w "$0" "$@"
    fi
    if [ -w /proc/self/autogroup ] && ! echo "$NICE" >/proc/self/autogroup 2>/dev/null; then
        echo "note: could not set the autogroup nice value" >&2
    fi
}

# The newest build*/<path> that is not a sanitizer or fuzz build (those would measure the
# sanitizer).
bench_newest_build() { # path below the build dir
    ls -t "$ROOT"/build*/"$1" 2>/dev/null | grep -v -E 'asan|fuzz|tsan' | head -n 1
}

# A fresh log dir in LOGDIR; the server is killed when the script exits.
bench_init_logdir() { # mktemp template
    LOGDIR="$(mktemp -d "$1")"
    SERVER_PID=""
    PERF_PID=""
    trap bench_cleanup EXIT
}
bench_cleanup() { [ -n "$SERVER_PID" ] && kill -9 "$SERVER_PID" 2>/dev/null; }

# TERM, up to 10 s for the server to go, then KILL.
bench_stop_server() {
    [ -n "$SERVER_PID" ] || return
    kill -TERM "$SERVER_PID" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=""
}

# BENCH_PERF=1: `perf record` (BENCH_PERF_ARGS, default -g) the server into
# $LOGDIR/perf-<label>.data until bench_perf_stop.
bench_perf_start() { # label
    [ "${BENCH_PERF:-0}" = "1" ] || return 0
    # shellcheck disable=SC2086
    perf record ${BENCH_PERF_ARGS:--g} -o "$LOGDIR/perf-$1.data" -p "$SERVER_PID" >"$LOGDIR/perf-$1.log" 2>&1 &
    PERF_PID=$!
}
bench_perf_stop() {
    [ -n "$PERF_PID" ] || return 0
    kill -INT "$PERF_PID"; wait "$PERF_PID"; PERF_PID=""
}

# Waits (up to 15 s) until GET /janus/info answers on port; 0 when it lists plugin, 1 when
# the server is up without it, 2 when it did not come up (or exited).
bench_wait_info() { # port plugin
    local info=""
    for _ in $(seq 150); do
        info="$(curl -s -m 1 "http://127.0.0.1:$1/janus/info" 2>/dev/null)"
        [ -n "$info" ] && echo "$info" | grep -q '"server_info"\|"plugins"' && break
        info=""
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$info" ] || return 2
    echo "$info" | grep -q "\"$2\"" && return 0
    return 1
}

# Our server in the background (HTTP API on 19088, media on 127.0.0.2), logging to
# <dir>/server.log; 1 when there is no binary. Then bench_wait_info 19088 <plugin>.
bench_start_parley() { # dir rtp_port_range [extra server options...]
    local dir="$1" ports="$2"
    shift 2
    if [ -z "$PARLEY_BIN" ] || [ ! -x "$PARLEY_BIN" ]; then
        echo "$NAME: no parley binary (set PARLEY_BIN)" >&2
        return 1
    fi
    mkdir -p "$dir/data"
    nice -n "$NICE" "$PARLEY_BIN" --general.data_dir="$dir/data" --general.web_root="$ROOT/web" \
        "$@" \
        --http.port=19088 --http.bind=127.0.0.1 --ws.port=19089 --ws.bind=127.0.0.1 \
        --admin.port=19090 --auth.required=false --media.rtp_port_range="$ports" \
        --media.bind_ips=127.0.0.2 \
        >"$dir/server.log" 2>&1 &
    SERVER_PID=$!
}

# Janus 1.1.2 in the background with private folders that hold only <plugin> (e.g.
# videocall) and the HTTP transport (port 19188, base path /janus); logs to <dir>/server.log.
bench_start_janus() { # dir plugin rtp_port_range
    local d="$1" lib=/usr/lib/x86_64-linux-gnu/janus
    mkdir -p "$d/plugins" "$d/transports"
    ln -sf "$lib/plugins/libjanus_$2.so" "$d/plugins/"
    ln -sf "$lib/transports/libjanus_http.so" "$d/transports/"
    cat >"$d/janus.jcfg" <<JCFG
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
  rtp_port_range = "$3"
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
JCFG
    cat >"$d/janus.transport.http.jcfg" <<JCFG
general: {
  json = "indented"
  base_path = "/janus"
  http = true
  port = 19188
  https = false
}
admin: { admin_http = false }
cors: { }
JCFG
    echo 'general: { }' >"$d/janus.plugin.$2.jcfg"
    nice -n "$NICE" /usr/bin/janus -C "$d/janus.jcfg" -F "$d" -o >"$d/server.log" 2>&1 &
    SERVER_PID=$!
}

# After a failed start: says so with the server log's tail and stops it.
bench_start_failed() { # what dir
    echo "$NAME: $1; log:" >&2
    tail -n 30 "$2/server.log" >&2
    bench_stop_server
}

# The node benchmarks (chat_bench.mjs, push_bench.mjs) after bench_enter: against PARLEY_BIN
# (default: the newest non-sanitizer build), at the run's nice value. Does not return.
bench_exec_node() { # script [args...]
    PARLEY_BIN="${PARLEY_BIN:-$(bench_newest_build parley)}"
    export PARLEY_BIN PARLEY_ROOT="$ROOT"
    local script="$1"
    shift
    exec nice -n "$NICE" node "$ROOT/tests/bench/$script" "$@"
}
