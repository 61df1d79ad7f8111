#!/usr/bin/env bash
# fetch-chrony.sh: put Debian's chronyd and chronyc (and nothing else of the package) into a cache
# folder for tests, without installing the package: `apt-get install chrony` would run its
# maintainer scripts, which may start a daemon that disciplines this machine's clock.
#
# Usage: scripts/fetch-chrony.sh [CACHE_DIR]   (default: .cache/chrony in the repo)
# Prints the path of chronyd. Idempotent: does nothing when the cache already holds it.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${1:-$repo/.cache/chrony}
chronyd=$cache/root/usr/sbin/chronyd

if [ -x "$chronyd" ]; then
	echo "$chronyd"
	exit 0
fi

mkdir -p "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(
	cd "$work"
	# apt-get download needs package lists; refresh them once when they are missing.
	if ! apt-get download chrony >/dev/null 2>&1; then
		apt-get update >/dev/null
		apt-get download chrony >/dev/null
	fi
)
deb=$(ls "$work"/chrony_*.deb)
rm -rf "$cache/root"
dpkg-deb -x "$deb" "$cache/root"
cp "$deb" "$cache/"
# Fail loudly here, not in a test, when a shared library chronyd needs is missing.
if ldd "$chronyd" | grep -q 'not found'; then
	echo "fetch-chrony: $chronyd misses libraries:" >&2
	ldd "$chronyd" | grep 'not found' >&2
	exit 1
fi
echo "$chronyd"
