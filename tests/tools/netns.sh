#!/bin/bash
# netns.sh CMD... : run CMD inside a fresh, private network namespace.
#
# Inside: `lo` is up (127.0.0.1, ::1) and a veth pair exists whose end veth0 carries
# 127.0.0.2/32. Stacks that skip loopback interfaces or 127.0.0.1 (libnice's automatic
# gathering, aioice) gather on veth0, and nothing sent inside can leave the machine.
# Servers started inside are reachable only from inside, so start servers and clients
# under the same invocation. Needs root (or CAP_SYS_ADMIN); exits 2 with a message when
# the namespace cannot be made. PARLEY_NETNS=1 is exported to CMD so tests can tell.
set -u
if [ $# -eq 0 ]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi
if ! unshare --net true 2>/dev/null; then
    echo "netns.sh: cannot create a network namespace (need root / CAP_SYS_ADMIN)" >&2
    exit 2
fi
exec unshare --net bash -c '
set -e
ip link set lo up
ip link add veth0 type veth peer name veth1
ip addr add 127.0.0.2/32 dev veth0
ip link set veth0 up
ip link set veth1 up
export PARLEY_NETNS=1
exec "$@"' netns "$@"
