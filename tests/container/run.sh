#!/bin/bash
# tests/container/run.sh: the container suite. Builds the image from what is committed
# (git archive HEAD into a temp dir) with podman, runs it inside a private network
# namespace with host networking, and checks what the issue asks of the image: it builds,
# becomes healthy through its own HEALTHCHECK, serves the browser echo test to headless
# Chromium, runs as non-root, and keeps its data across a stop/start on the same volume.
# Prints the figures for the README: image size, build time without and with cache, cold
# start to healthy.
#
# Usage: tests/container/run.sh            (as root; installs podman & co. when missing)
#   env CT_KEEP=1     keep the image, the container log and the build context afterwards
#       CT_REBUILD_BASE=1  remake the debootstrap base image even if it exists
#       CT_SOURCE=worktree build the working tree (tracked + untracked, not ignored) instead
# Output: "PASS name" / "FAIL name: why" / "SKIP name: reason" per check, then the figures,
# then exactly one line "container: N passed, N failed, N skipped". Exit 0 iff none failed.
# Where podman cannot run (not root, no packages, no namespaces) everything is skipped
# with the reason and the exit status is 0.
#
# The base image debian:bookworm-slim is made locally with debootstrap (no registry is
# reachable; ../shared/notes/containers.md) and stays in podman's storage, so only the
# first run pays for it (about 1.5 min). The run phase re-executes this script inside
# tests/tools/netns.sh: `--network host` then means the namespace's lo + veth0, so the
# server, Chromium and all media stay on loopback. Podman state is machine-wide: the suite
# removes its own image and prunes untagged (dangling) images before and after building.
set -u
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BASE_IMAGE="localhost/debian:bookworm-slim"
IMAGE="${CT_IMAGE:-localhost/parley-ct:test}"
# Ports moved off the defaults (8088/8188/7088/20000-40000) to prove the settings reach the
# server and that the health check follows them. The HTTP port is a flag, the others env.
HTTP_PORT=28088
WS_PORT=28188
ADMIN_PORT=27088
RTP_RANGE=40100-40199
# The published-ports container runs next to the first one: its own ports.
PUB_HTTP=29088
PUB_WS=29188
PUB_RTP=40200-40299

pass=0; fail=0; skipped=0
ok() { pass=$((pass + 1)); echo "PASS $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1${2:+: $2}"; }
skp() { skipped=$((skipped + 1)); echo "SKIP $1: $2"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
finish() {
    echo "container: $pass passed, $fail failed, $skipped skipped"
    [ "$fail" -eq 0 ]
    exit
}

# ---------------------------------------------------------------- run phase (in netns) --
# Called as: run.sh --inside STATE_FILE. Prints PASS/FAIL/SKIP lines, writes its counts
# and figures to STATE_FILE for the outer phase.
inside() {
    local state="$1"
    ct="parley-ct-$$"; vol="parley-ct-data-$$"; log="$(dirname "$state")/container.log"
    ct_pub="parley-ct-pub-$$"
    figure() { echo "$1=$2" >>"$state"; }
    cleanup_inside() {
        podman logs "$ct" >"$log" 2>&1 || true
        podman rm -f -t 2 "$ct" >/dev/null 2>&1
        podman rm -f -v -t 0 "$ct_pub" >/dev/null 2>&1
        podman volume rm -f "$vol" >/dev/null 2>&1
    }
    trap cleanup_inside EXIT
    is_running() { [ "$(podman inspect -f '{{.State.Running}}' "$ct" 2>/dev/null)" = true ]; }
    # Polls the image's own HEALTHCHECK (podman runs it only on demand here: no systemd
    # for its timers) until it passes; prints the last check output on failure.
    wait_healthy() {
        local deadline=$(( $(date +%s) + 60 )) out=""
        while [ "$(date +%s)" -lt "$deadline" ]; do
            if out="$(podman healthcheck run "$ct" 2>&1)"; then return 0; fi
            is_running || { echo "container stopped: $(podman logs --tail 20 "$ct" 2>&1)"; return 1; }
            sleep 0.2
        done
        echo "not healthy after 60 s: $out"; return 1
    }
    api() { # METHOD PATH [JSON] [TOKEN] -> sets api_body and api_status
        local out
        out="$(curl -s -m 10 -w '\n%{http_code}' -X "$1" -H 'content-type: application/json' \
            ${4:+-H "authorization: Bearer $4"} ${3:+--data "$3"} "http://127.0.0.1:$HTTP_PORT/api/v1$2")"
        api_status="${out##*$'\n'}"
        api_body="${out%$'\n'*}"
    }
    jfield() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=process.argv[1].split(".").reduce((o,k)=>o&&o[k],JSON.parse(s));console.log(v===undefined?"":v)})' "$1"; }

    podman volume create "$vol" >/dev/null
    local t0 t1 out
    t0="$(now)"
    if ! out="$(podman run -d --pull=never --name "$ct" --network host -v "$vol:/var/lib/parley" \
            -e PARLEY_WS_PORT=$WS_PORT -e PARLEY_ADMIN_PORT=$ADMIN_PORT \
            -e PARLEY_MEDIA_RTP_PORT_RANGE=$RTP_RANGE \
            "$IMAGE" --http.port=$HTTP_PORT --auth.required=false 2>&1)"; then
        bad run "podman run failed: $out"
        echo "$pass $fail $skipped" >"$state.counts"; return
    fi
    if out="$(wait_healthy)"; then
        t1="$(now)"
        ok "healthy (image HEALTHCHECK passes; cold start to healthy $(secs "$t0" "$t1") s)"
        figure cold_start "$(secs "$t0" "$t1")"
        [ "$(podman inspect -f '{{.State.Health.Status}}' "$ct")" = healthy ] \
            && ok "health-status (podman inspect: healthy)" \
            || bad health-status "$(podman inspect -f '{{.State.Health.Status}}' "$ct")"
    else
        bad healthy "$out"
        echo "$pass $fail $skipped" >"$state.counts"; return
    fi

    # The check can fail: the same image with no server running in it is not healthy.
    local ct2="parley-ct-idle-$$"
    podman run -d --pull=never --name "$ct2" --network host --entrypoint sleep "$IMAGE" 60 >/dev/null 2>&1
    if out="$(podman healthcheck run "$ct2" 2>&1)"; then
        bad health-negative "HEALTHCHECK passed with no server running: $out"
    else
        ok "health-negative (HEALTHCHECK fails when no server runs: $(echo "$out" | tail -n 1))"
    fi
    podman rm -f -v -t 0 "$ct2" >/dev/null 2>&1

    # Non-root: the id an exec gets, and the server process itself as the host sees it.
    local uid_exec uid_proc pid
    uid_exec="$(podman exec "$ct" id -u 2>&1)"
    pid="$(podman inspect -f '{{.State.Pid}}' "$ct")"
    uid_proc="$(awk '/^Uid:/{print $2}' "/proc/$pid/status" 2>/dev/null)"
    if [ "$uid_exec" != 0 ] && [ -n "$uid_proc" ] && [ "$uid_proc" != 0 ] && [ "$uid_exec" = "$uid_proc" ]; then
        ok "non-root (uid $uid_proc, exec id -u $uid_exec)"
    else
        bad non-root "exec id -u = '$uid_exec', server process uid = '$uid_proc'"
    fi

    # The demo page comes from the image's web root.
    if curl -sf -m 5 "http://127.0.0.1:$HTTP_PORT/" | grep -qi '<html'; then
        ok "web-root (GET / serves the demo page from the image)"
    else
        bad web-root "GET / on port $HTTP_PORT did not return the demo page"
    fi

    # Browser echo test against the container.
    out="$(CT_HTTP_PORT=$HTTP_PORT CT_WS_PORT=$WS_PORT timeout --kill-after=10 120 \
        node "$HERE/echotest.mjs" 2>&1)"
    case $? in
        0) ok "echotest (janus.js in headless Chromium, WebSocket and HTTP)"
           echo "$out" | sed 's/^/    /' ;;
        77) skp echotest "$(echo "$out" | sed -n 's/^SKIP: //p' | head -n 1)" ;;
        *) bad echotest "$(echo "$out" | tail -n 60)"
           echo "    --- container log ---"; podman logs --tail 40 "$ct" 2>&1 | sed 's/^/    /' ;;
    esac

    # Data persists: a user registered before a stop/start logs in afterwards, and the access
    # token issued before still works (the generated JWT key is in the volume too).
    local email="ct-$$@example.com" pw="Persist-$$-pw" body uid token uid2 token2
    api POST /auth/register "{\"email\":\"$email\",\"password\":\"$pw\",\"role\":\"caller\",\"display_name\":\"Container Test\"}"
    local reg_status="$api_status"; body="$api_body"
    uid="$(echo "$body" | jfield user.id)"
    api POST /auth/login "{\"email\":\"$email\",\"password\":\"$pw\",\"device_id\":\"ct-device\"}"
    local login_status="$api_status"; body="$api_body"
    token="$(echo "$body" | jfield access_token)"
    if [ "$reg_status" != 201 ] || [ "$login_status" != 200 ] || [ -z "$uid" ] || [ -z "$token" ]; then
        bad persist "before restart: register $reg_status, login $login_status: $body"
        echo "$pass $fail $skipped" >"$state.counts"; return
    fi
    podman stop -t 10 "$ct" >/dev/null 2>&1
    local code
    code="$(podman inspect -f '{{.State.ExitCode}}' "$ct")"
    [ "$code" = 0 ] && ok "clean-stop (podman stop: SIGTERM, exit code 0)" \
        || bad clean-stop "exit code $code after podman stop; log: $(podman logs --tail 20 "$ct" 2>&1)"
    t0="$(now)"
    podman start "$ct" >/dev/null 2>&1
    if ! out="$(wait_healthy)"; then
        bad persist "not healthy after restart: $out"
        echo "$pass $fail $skipped" >"$state.counts"; return
    fi
    figure restart "$(secs "$t0" "$(now)")"
    api POST /auth/login "{\"email\":\"$email\",\"password\":\"$pw\",\"device_id\":\"ct-device-2\"}"
    login_status="$api_status"; body="$api_body"
    uid2="$(echo "$body" | jfield user.id)"
    token2="$(echo "$body" | jfield access_token)"
    api GET /me "" "$token"
    local me_status="$api_status" uid_me; body="$api_body"
    uid_me="$(echo "$body" | jfield user.id)"
    [ -z "$uid_me" ] && uid_me="$(echo "$body" | jfield id)"
    if [ "$login_status" = 200 ] && [ -n "$token2" ] && [ "$uid2" = "$uid" ] && [ "$me_status" = 200 ] && [ "$uid_me" = "$uid" ]; then
        ok "persist (user $uid logs in after stop/start on the same volume; the old access token still works)"
    else
        bad persist "after restart: login $login_status (user '$uid2', want '$uid'), GET /me with the old token $me_status ('$uid_me'): $body"
    fi
    published
    echo "$pass $fail $skipped" >"$state.counts"
}

# The README's other run line: published ports (no host networking) plus the public-IP
# setting. The "public" address is 192.0.2.1 (TEST-NET-1) on an extra veth inside the
# namespace; the server's candidates carry it instead of the container's bridge address,
# so media can only arrive through the published UDP range (netavark's DNAT rule, whose
# packet counter must move).
published() {
    local ct3="$ct_pub" pub_ip=192.0.2.1 out dnat
    if ! out="$(ip link add ctpub0 type veth peer name ctpub1 2>&1 && ip addr add $pub_ip/32 dev ctpub0 \
            && ip link set ctpub0 up && ip link set ctpub1 up)"; then
        bad published-ports "cannot add the test address: $out"; return
    fi
    if ! out="$(podman run -d --pull=never --name "$ct3" \
            -p $PUB_HTTP:$PUB_HTTP -p $PUB_WS:$PUB_WS -p "$PUB_RTP:$PUB_RTP/udp" \
            -e PARLEY_MEDIA_RTP_PORT_RANGE=$PUB_RTP -e PARLEY_MEDIA_NAT_1_1_IP=$pub_ip \
            -e PARLEY_HTTP_PORT=$PUB_HTTP -e PARLEY_WS_PORT=$PUB_WS \
            "$IMAGE" --auth.required=false 2>&1)"; then
        bad published-ports "podman run -p failed: $(echo "$out" | grep -v 'level=error' | tail -n 5)"; return
    fi
    local saved="$ct"; ct="$ct3"
    if ! out="$(wait_healthy)"; then
        bad published-ports "$out"
    else
        out="$(CT_HOST=$pub_ip CT_HTTP_PORT=$PUB_HTTP CT_WS_PORT=$PUB_WS CT_TRANSPORTS=ws \
            timeout --kill-after=10 90 node "$HERE/echotest.mjs" 2>&1)"
        local rc=$?
        dnat="$(iptables -t nat -L -v -n -x 2>/dev/null \
            | awk -v r="dpts:${PUB_RTP/-/:}" '$3 == "DNAT" && $0 ~ r { n += $1 } END { print n + 0 }')"
        case $rc in
            0) if [ "$dnat" -gt 0 ]; then
                   ok "published-ports (-p HTTP/WS + UDP $PUB_RTP, NAT_1_1_IP=$pub_ip: echotest over WebSocket; $dnat media flows DNATed)"
                   echo "$out" | sed 's/^/    /'
               else
                   bad published-ports "echotest passed but no media flow went through the published UDP range"
               fi ;;
            77) skp published-ports "$(echo "$out" | sed -n 's/^SKIP: //p' | head -n 1)" ;;
            *) bad published-ports "$(echo "$out" | tail -n 40)"
               podman logs --tail 30 "$ct3" 2>&1 | sed 's/^/    /' ;;
        esac
    fi
    ct="$saved"
    podman rm -f -v -t 2 "$ct3" >/dev/null 2>&1
}

if [ "${1:-}" = "--inside" ]; then
    inside "$2"
    exit 0
fi

# ------------------------------------------------------------------ preparation --------
skip_all() { skp container "$1"; finish; }

[ "$(id -u)" = 0 ] || skip_all "needs root (rootful podman; rootless podman is not set up on these machines)"

PKGS="podman buildah runc fuse-overlayfs slirp4netns uidmap debootstrap netavark aardvark-dns catatonit containernetworking-plugins"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "installing:$missing"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing; } >/tmp/parley-ct-apt.log 2>&1; then
        tail -n 20 /tmp/parley-ct-apt.log
        skip_all "podman and its helpers are not installed and apt-get could not install them (log: /tmp/parley-ct-apt.log)"
    fi
fi

# The sandbox cannot raise rlimits and crun fails on its hybrid cgroup layout.
CONF=/etc/containers/containers.conf
if ! grep -qs '^runtime = "runc"' "$CONF" || ! grep -qs '^default_ulimits' "$CONF"; then
    mkdir -p /etc/containers
    [ -f "$CONF" ] && cp "$CONF" "$CONF.orig-parley"
    printf '%s\n' '[containers]' 'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]' \
        '[engine]' 'runtime = "runc"' >"$CONF"
fi

if ! out="$(podman info 2>&1 >/dev/null)"; then
    skip_all "podman cannot run here: $(echo "$out" | tail -n 3 | tr '\n' ' ')"
fi
if ! out="$("$ROOT/tests/tools/netns.sh" true 2>&1)"; then
    skip_all "no private network namespace for the run phase: $out"
fi

# Base image, made once with debootstrap from the machine's own Debian mirror.
make_base() {
    local rootfs mirror
    mirror="$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null)"
    [ -n "$mirror" ] || { echo "no URIs: line in /etc/apt/sources.list.d/debian.sources"; return 1; }
    rootfs="$(mktemp -d /var/tmp/parley-ct-rootfs.XXXXXX)"
    timeout 900 debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
        || { tail -n 20 "$rootfs.log"; rm -rf "$rootfs"; return 1; }
    # apt inside builds must reach the same mirror the same way the host does.
    cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/"
    cp -r /etc/apt/apt.conf.d/. "$rootfs/etc/apt/apt.conf.d/"
    rm -f "$rootfs/etc/apt/sources.list"
    # Like the official -slim images: no docs, man pages or locales, now or from later installs.
    mkdir -p "$rootfs/etc/dpkg/dpkg.cfg.d"
    printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
        'path-exclude /usr/share/man/*' 'path-exclude /usr/share/groff/*' \
        'path-exclude /usr/share/info/*' 'path-exclude /usr/share/lintian/*' \
        'path-exclude /usr/share/locale/*' >"$rootfs/etc/dpkg/dpkg.cfg.d/slim"
    chroot "$rootfs" apt-get clean
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
        "$rootfs"/usr/share/locale/* "$rootfs"/var/log/*.log "$rootfs"/var/cache/debconf/*-old
    find "$rootfs/usr/share/doc" -mindepth 1 -not -type d -not -name copyright -delete
    tar -C "$rootfs" -c . | podman import --change 'CMD ["bash"]' - "$BASE_IMAGE" >/dev/null
    local rc=$?
    rm -rf "$rootfs" "$rootfs.log"
    return $rc
}
if [ "${CT_REBUILD_BASE:-}" = 1 ] || ! podman image exists "$BASE_IMAGE"; then
    echo "making the base image $BASE_IMAGE with debootstrap (once; about 1.5 min)"
    t0="$(now)"
    if out="$(make_base 2>&1)"; then
        ok "base-image (debootstrap bookworm minbase, $(secs "$t0" "$(now)") s)"
    else
        bad base-image "$out"; finish
    fi
fi
if ! out="$("$ROOT/tests/tools/netns.sh" podman run --rm --pull=never --network host "$BASE_IMAGE" true 2>&1)"; then
    skip_all "podman cannot run a container here: $(echo "$out" | tail -n 3 | tr '\n' ' ')"
fi

# ------------------------------------------------------------------ build -------------
work="$(mktemp -d /var/tmp/parley-ct.XXXXXX)"
keep_logs=0
cleanup() {
    if [ "${CT_KEEP:-}" = 1 ]; then echo "(kept: $work and the image $IMAGE)"; return; fi
    # Images are large: remove ours and the build stage's untagged layers; keep the logs of
    # a failed run.
    podman rmi -f "$IMAGE" >/dev/null 2>&1
    podman image prune -f >/dev/null 2>&1
    if [ "$keep_logs" = 1 ]; then
        rm -rf "$work/src"; echo "(logs kept in $work)"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
ctx="$work/src"
mkdir -p "$ctx"
if [ "${CT_SOURCE:-}" = worktree ]; then
    # For trying uncommitted changes: tracked and untracked files, minus what git ignores.
    out="$(cd "$ROOT" && git ls-files -z -c -o --exclude-standard | xargs -0 -I{} sh -c '[ -e "{}" ] && echo "{}"' \
        | tar -c -T - 2>&1 | tar -x -C "$ctx" 2>&1)"
    commit="$(git -C "$ROOT" rev-parse --short HEAD)+worktree"
else
    out="$(git -C "$ROOT" archive --format=tar HEAD 2>&1 | tar -x -C "$ctx" 2>&1)"
    commit="$(git -C "$ROOT" rev-parse --short HEAD)"
fi
if [ ! -f "$ctx/Dockerfile" ]; then
    bad checkout "could not export the sources: $out"; finish
fi
echo "building $IMAGE from $commit (${CT_SOURCE:-git archive HEAD: what is committed, not the working tree})"

# Untagged layers of earlier builds would be cache candidates for the second build (buildah
# takes the first match, and its chain may end early): start from none.
podman rmi -f "$IMAGE" >/dev/null 2>&1
podman image prune -f >/dev/null 2>&1
# --format docker: the OCI image format has no HEALTHCHECK (podman would drop it).
t0="$(now)"
if timeout 1200 podman build --format docker --pull=never --no-cache -t "$IMAGE" "$ctx" >"$work/build1.log" 2>&1; then
    build_nocache="$(secs "$t0" "$(now)")"
    ok "build (no cache, ${build_nocache} s)"
else
    bad build "podman build failed (log $work/build1.log):
$(grep -v '^\(Get\|Selecting\|Preparing\|Unpacking\|Setting up\|Processing\)' "$work/build1.log" | tail -n 40)"
    keep_logs=1; finish
fi
id1="$(podman image inspect -f '{{.Id}}' "$IMAGE")"
t0="$(now)"
if timeout 600 podman build --format docker --pull=never -t "$IMAGE" "$ctx" >"$work/build2.log" 2>&1; then
    build_cached="$(secs "$t0" "$(now)")"
    id2="$(podman image inspect -f '{{.Id}}' "$IMAGE")"
    steps="$(grep -c 'STEP [0-9]*/' "$work/build2.log")"
    cached="$(grep -c '^--> Using cache' "$work/build2.log")"
    # Every step after each FROM comes from the cache, and the result is the same image.
    if [ "$id1" = "$id2" ] && [ "$cached" -ge $((steps - 2)) ]; then
        ok "build-cached (${build_cached} s, $cached of $steps steps from cache, same image id)"
    else
        bad build-cached "$cached of $steps steps from cache; image id $id1 -> $id2"
    fi
else
    bad build-cached "second podman build failed: $(tail -n 20 "$work/build2.log")"
fi

# A code change: only the layers from `COPY src` on are rebuilt (apt layers from cache).
EDIT_IMAGE="${IMAGE%:*}:edit"
echo "/* container test: a source edit */" >>"$ctx/src/main.c"
t0="$(now)"
if timeout 600 podman build --format docker --pull=never -t "$EDIT_IMAGE" "$ctx" >"$work/build3.log" 2>&1; then
    build_edit="$(secs "$t0" "$(now)")"
    # The two apt-get RUN steps (one per stage) must be cache hits.
    apt_cached="$(grep -A1 'RUN apt-get update' "$work/build3.log" | grep -c '^--> Using cache')"
    if [ "$apt_cached" = 2 ]; then
        ok "build-after-edit (${build_edit} s, both apt layers from cache, sources recompiled)"
    else
        bad build-after-edit "$apt_cached of 2 apt layers from cache"
    fi
else
    bad build-after-edit "podman build after a source edit failed: $(tail -n 20 "$work/build3.log")"
fi
podman rmi -f "$EDIT_IMAGE" >/dev/null 2>&1

size_bytes="$(podman image inspect -f '{{.Size}}' "$IMAGE")"
size_mb="$(awk -v b="$size_bytes" 'BEGIN { printf "%.1f", b / 1e6 }')"
# The image's metadata says what the issue asks: user, volume, health check, ports.
cfg="$(podman image inspect -f 'user={{.Config.User}} vol={{.Config.Volumes}} hc={{.Config.Healthcheck.Test}} ports={{.Config.ExposedPorts}}' "$IMAGE" 2>&1)"
case "$cfg" in
    *"user=parley"*"/var/lib/parley"*"hc=[CMD /usr/lib/parley/healthcheck]"*8088/tcp*8188/tcp*) ok "image-config ($cfg, $size_mb MB)" ;;
    *) bad image-config "$cfg" ;;
esac
out="$(podman run --rm --pull=never --network none --entrypoint bash "$IMAGE" \
    -c 'for c in curl wget gcc cc ninja systemctl; do command -v $c; done; echo end' 2>"$work/lean.err")"
if [ "$out" = end ]; then
    ok "image-lean (no compiler, curl, wget or systemd in the runtime stage)"
else
    bad image-lean "found in the runtime image: $out"
fi

# ------------------------------------------------------------------ run (in netns) ----
if [ ! -d "$ROOT/tests/integration/node_modules/playwright-core" ]; then
    echo "note: tests/integration/node_modules missing; running npm ci"
    (cd "$ROOT/tests/integration" && npm ci --no-audit --no-fund >/dev/null 2>&1) || echo "note: npm ci failed"
fi
state="$work/state"
: >"$state"
"$ROOT/tests/tools/netns.sh" bash "$HERE/run.sh" --inside "$state"
if [ -f "$state.counts" ]; then
    read -r p f s <"$state.counts"
    pass=$((pass + p)); fail=$((fail + f)); skipped=$((skipped + s))
else
    bad run-phase "the run phase in the network namespace ended without results"
fi
[ "$fail" -gt 0 ] && keep_logs=1
cold="$(sed -n 's/^cold_start=//p' "$state")"
restart="$(sed -n 's/^restart=//p' "$state")"

echo "figures (commit $commit; $(nproc) cores; podman $(podman version -f '{{.Client.Version}}' 2>/dev/null)):"
echo "  image size:                      $size_mb MB (podman image inspect -f '{{.Size}}')"
echo "  build without cache:             ${build_nocache:-?} s (podman build --no-cache, incl. apt downloads)"
echo "  build with cache:                ${build_cached:-?} s (same sources, every layer cached)"
echo "  build after a source edit:       ${build_edit:-?} s (apt layers cached, src/ recompiled)"
echo "  cold start to healthy:           ${cold:-?} s (podman run -> first passing HEALTHCHECK)"
echo "  restart to healthy:              ${restart:-?} s (podman start, same volume)"
finish
