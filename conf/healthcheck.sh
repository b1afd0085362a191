#!/bin/bash
# Container health check (the Dockerfile's HEALTHCHECK): GET /healthz on the running
# server's own HTTP listener. Exit 0 healthy, 1 unhealthy (reason on stdout).
#
# No curl in the image: HTTP/1.0 is spoken over bash's /dev/tcp. The address and port are
# the server's effective settings, not assumed defaults: `parley --check-config` is run in
# the server's working directory with the container's environment and the flags the
# server was started with (read from /proc), so moving the port with PARLEY_HTTP_PORT, a
# flag or a config file keeps the check pointing at the right place.
set -u

pid=""
for d in /proc/[0-9]*; do
    if [ "$(readlink "$d/exe" 2>/dev/null)" = /usr/bin/parley ]; then
        pid="${d#/proc/}"
        break
    fi
done
if [ -z "$pid" ]; then
    echo "unhealthy: no parley process"
    exit 1
fi

mapfile -d '' argv <"/proc/$pid/cmdline"
cd "/proc/$pid/cwd" 2>/dev/null || cd /
if ! cfg="$(/usr/bin/parley --check-config "${argv[@]:1}" 2>&1)"; then
    echo "unhealthy: $cfg"
    exit 1
fi
section() { sed -n "/^\[$1\]/,/^\[/p" <<<"$cfg"; }
port="$(section http | sed -n 's/^port = \([0-9]*\)$/\1/p')"
bind="$(section http | sed -n 's/^bind = "\(.*\)"$/\1/p')"
case "$bind" in
    "" | 0.0.0.0 | :: | "[::]") host=127.0.0.1 ;; # wildcard: loopback reaches it
    *) host="$bind" ;;
esac

if ! exec 3<>"/dev/tcp/$host/$port"; then
    echo "unhealthy: cannot connect to $host:$port"
    exit 1
fi
printf 'GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
if ! IFS= read -r -t 2 status <&3; then
    echo "unhealthy: no answer from $host:$port"
    exit 1
fi
status="${status%$'\r'}"
case "$status" in
    "HTTP/1."?" 200"*) echo "healthy: $host:$port $status"; exit 0 ;;
esac
echo "unhealthy: $host:$port answered: $status"
exit 1
