#!/bin/bash
# install-deps.sh [--test]: installs the Debian 12 packages parley needs to build and run
# (and, with --test, those the test suite needs: Chromium, aiortc, Janus for benchmarks,
# clang for the fuzzers, iproute2/iptables for network namespaces). Installs only what is
# missing, so a second run is quick. Needs root or sudo.
set -euo pipefail
BUILD_PKGS="build-essential meson ninja-build pkg-config libglib2.0-dev libnice-dev libsrtp2-dev libusrsctp-dev
 libmicrohttpd-dev libjansson-dev libsqlite3-dev libssl-dev libopus-dev libcurl4-openssl-dev"
TEST_PKGS="clang libclang-rt-14-dev chromium python3-aiortc janus iproute2 iptables nodejs npm curl sqlite3 procps
 psmisc coturn"
pkgs="$BUILD_PKGS"
if [ "${1:-}" = "--test" ]; then pkgs="$pkgs $TEST_PKGS"; fi
missing=()
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node/npm may come from elsewhere than Debian (e.g. nodesource): accept any working binary.
if command -v node >/dev/null && command -v npm >/dev/null; then
    missing=("${missing[@]/nodejs/}"); missing=("${missing[@]/npm/}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
echo "installing: ${missing[*]}" >&2
$SUDO apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
