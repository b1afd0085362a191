#!/bin/bash
# run_all.sh: the README's test command. Installs what is missing, builds twice (optimised,
# and ASan+UBSan), runs the unit tests on both, the integration tests (real server, real
# browsers and aiortc, inside a private network namespace) on both binaries, and every
# libFuzzer target for a bounded time. Ends with one line: "N passed, N failed, N skipped".
#
# Environment knobs: FUZZ_SECONDS (default 20 per target), SKIP_ASAN=1, SKIP_TSAN=1, SKIP_FUZZ=1,
# SKIP_INTEGRATION=1 (for quick local runs; CI runs everything).
# build-tsan (ThreadSanitizer) runs the unit tests of suite 'concurrency' only.
set -u
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
pass=0; fail=0; skip=0
failed_names=()
digest=

note() { printf '\n=== %s\n' "$*"; }
add_counts() { pass=$((pass + $1)); fail=$((fail + $2)); skip=$((skip + $3)); }
record_fail() { fail=$((fail + 1)); failed_names+=("$1"); }

note "dependencies"
if ! scripts/install-deps.sh --test; then
    echo "dependency installation failed"; record_fail "install-deps"
fi
if [ -f tests/integration/package-lock.json ]; then
    (cd tests/integration && npm ci --no-audit --no-fund --loglevel=error) || record_fail "npm ci"
fi

# meson test summary -> counts
run_meson_suite() {
    local dir="$1" suite="$2" label="$3" out
    out="$(meson test -C "$dir" --suite "$suite" --print-errorlogs --num-processes 2 2>&1)"
    echo "$out" | grep -E "^ *[0-9]+/[0-9]+ " || true
    local ok failn skipn to
    ok=$(echo "$out" | awk '/^Ok:/{print $2}'); ok=${ok:-0}
    failn=$(echo "$out" | awk '/^Fail:/{print $2}'); failn=${failn:-0}
    to=$(echo "$out" | awk '/^Timeout:/{print $2}'); to=${to:-0}
    skipn=$(echo "$out" | awk '/^Skipped:/{print $2}'); skipn=${skipn:-0}
    if [ "$failn" != "0" ] || [ "$to" != "0" ]; then
        echo "$out" | tail -n 60
        failed_names+=("$label")
    fi
    if ! echo "$out" | grep -q "^Ok:"; then
        echo "$out" | tail -n 40; record_fail "$label (meson test did not run)"; return
    fi
    add_counts "$ok" "$((failn + to))" "$skipn"
    echo "$label: $ok passed, $((failn + to)) failed, $skipn skipped"
}

build_dir() {
    local dir="$1"; shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@" >/dev/null || return 1
    fi
    ninja -C "$dir" >"$dir.log" 2>&1 || { tail -n 60 "$dir.log"; return 1; }
    if grep -E "warning:" "$dir.log" | grep -v "/usr/include" | head -n 20 | grep -q .; then
        echo "compiler warnings in $dir:"; grep -E "warning:" "$dir.log" | head -n 20
    fi
}

run_integration() {
    local bin="$1" label="$2" out
    out="$(PARLEY_BIN="$bin" tests/integration/run.sh 2>&1)"
    echo "$out" | grep -E "^(PASS|FAIL|SKIP) " || true
    local line
    line="$(echo "$out" | grep -E '^integration: [0-9]+ passed' | tail -n 1)"
    if [ -z "$line" ]; then
        echo "$out" | tail -n 60; record_fail "$label (runner crashed)"; return
    fi
    local p f s
    p=$(echo "$line" | sed -E 's/.* ([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    s=$(echo "$line" | sed -E 's/.* ([0-9]+) skipped.*/\1/')
    if [ "$f" != "0" ]; then
        echo "$out" | grep -v -E "^(PASS|SKIP) " | tail -n 120
        failed_names+=("$label")
        # The head of each failed test's output (its assertion), repeated at the very end:
        # CI shows the tail of this script's output.
        # Its assertion lines first (FAILED / assertion / Error), then its first lines.
        digest+="$(echo "$out" | awk -v label="$label" '
            function flush() { if (head != "") printf "%s%s%s", head, hits, first; head = hits = first = "" }
            /^(PASS|SKIP) |^integration: / { flush(); inblock = 0 }
            /^FAIL / { flush(); inblock = 1; n = m = 0; head = "[" label "] " $0 "\n"; next }
            inblock && m < 4 && /FAILED|assertion|Error:|Traceback|error:/ { m++; hits = hits "    " substr($0, 1, 400) "\n" }
            inblock && n < 4 { n++; first = first "    " substr($0, 1, 200) "\n" }
            END { flush() }')"$'\n'
    fi
    add_counts "$p" "$f" "$s"
    echo "$label: $p passed, $f failed, $s skipped"
}

note "build (optimised)"
if build_dir build --buildtype=debugoptimized; then
    note "unit tests (optimised)"
    run_meson_suite build unit "unit"
    if [ "${SKIP_INTEGRATION:-}" != "1" ]; then
        note "integration tests (optimised)"
        run_integration "$ROOT/build/parley" "integration"
    fi
else
    record_fail "build"
fi

if [ "${SKIP_ASAN:-}" != "1" ]; then
    note "build (ASan + UBSan)"
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:halt_on_error=1"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
    export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0"
    if build_dir build-asan --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false; then
        note "unit tests (ASan + UBSan)"
        run_meson_suite build-asan unit "unit-asan"
        if [ "${SKIP_INTEGRATION:-}" != "1" ]; then
            note "integration tests (ASan + UBSan)"
            run_integration "$ROOT/build-asan/parley" "integration-asan"
        fi
    else
        record_fail "build-asan"
    fi
    unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
fi

if [ "${SKIP_TSAN:-}" != "1" ]; then
    note "build (TSan)"
    # tests/tsan.supp: GLib-internal races only; GLib's locks are made visible to TSan by
    # tests/unit/core/tsan_glib.c, linked into the concurrency tests of this build.
    export TSAN_OPTIONS="suppressions=$ROOT/tests/tsan.supp:halt_on_error=1:second_deadlock_stack=1"
    if build_dir build-tsan --buildtype=debug -Db_sanitize=thread -Db_lundef=false; then
        note "concurrency tests (TSan)"
        run_meson_suite build-tsan concurrency "concurrency-tsan"
    else
        record_fail "build-tsan"
    fi
    unset TSAN_OPTIONS
fi

if [ "${SKIP_FUZZ:-}" != "1" ]; then
    note "fuzz targets (${FUZZ_SECONDS}s each)"
    if [ ! -f build-fuzz/build.ninja ]; then
        CC=clang meson setup build-fuzz --buildtype=debugoptimized -Dfuzz=true -Db_sanitize=address,undefined \
            -Db_lundef=false -Dc_args=-fsanitize=fuzzer-no-link >/dev/null
    fi
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
    if ninja -C build-fuzz >build-fuzz.log 2>&1; then
        for f in $(find build-fuzz/tests/fuzz -maxdepth 2 -type f -name 'fuzz_*' -perm -u+x | sort); do
            name="$(basename "$f")"
            area="$(basename "$(dirname "$f")")"
            corpus_src="tests/fuzz/$area/corpus_${name#fuzz_}"
            work="$(mktemp -d)"
            [ -d "$corpus_src" ] && cp -r "$corpus_src/." "$work/"
            if "$f" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
                -artifact_prefix="$work/" "$work" >"$work.log" 2>&1; then
                pass=$((pass + 1)); echo "PASS $name"
            else
                tail -n 40 "$work.log"; record_fail "$name"; echo "FAIL $name (artifacts in $work)"
            fi
        done
    else
        tail -n 40 build-fuzz.log; record_fail "build-fuzz"
    fi
fi

# The container suite: builds the image from the committed tree with podman and runs the
# browser echo test against it (skips, with the reason, where podman cannot run).
if [ "${SKIP_CONTAINER:-}" != "1" ] && [ -x tests/container/run.sh ]; then
    note "container suite (podman)"
    out="$(tests/container/run.sh 2>&1)"
    echo "$out" | grep -E "^(PASS|FAIL|SKIP) " || true
    line="$(echo "$out" | grep -E '^container: [0-9]+ passed' | tail -n 1)"
    if [ -z "$line" ]; then
        echo "$out" | tail -n 60; record_fail "container (runner crashed)"
    else
        p=$(echo "$line" | sed -E 's/.* ([0-9]+) passed.*/\1/')
        f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
        s=$(echo "$line" | sed -E 's/.* ([0-9]+) skipped.*/\1/')
        if [ "$f" != "0" ]; then echo "$out" | tail -n 80; failed_names+=("container"); fi
        add_counts "$p" "$f" "$s"
        echo "$line"
    fi
fi

if [ -n "$digest" ]; then
    printf '\n=== failed integration tests (first lines of each)\n%s\n' "$digest"
fi
if [ ${#failed_names[@]} -gt 0 ]; then
    printf '\nfailures in: %s\n' "${failed_names[*]}"
fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
