#!/usr/bin/env bash
# The tiered layout at fleet scale, simulated on loopback (issue 11, part 3): CLIENTS node
# clients (real chronyd -x each) prefer SERVERS in-cluster servers, which take time from one
# upstream; every client keeps a rarely polled fallback source. Prints (a) the upstream's
# packets/s for several numbers of servers and clients, (b) how many clients stay synchronised
# to a reachable source when one server, then every server, is killed, with the fallback and
# without it, (c) the spread of the clients' offsets. See bench/fleet/main.go.
# Always -x: this machine's clock is never touched. Loopback only. About 6 minutes.
# Env: CLIENTS (default 100), SERVERS (3). Must run as root (chronyd's -u root).
set -euo pipefail
cd "$(dirname "$0")/.."
chronyd=${CHRONYD:-$(scripts/fetch-chrony.sh)}
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
work=$(mktemp -d /tmp/fleet.XXXXXX)
trap 'rm -rf "$work"' EXIT
go build -o "$work/fleet" ./bench/fleet
"$work/fleet" -chronyd "$chronyd" -clients "${CLIENTS:-100}" -servers "${SERVERS:-3}" -work "$work/run"
