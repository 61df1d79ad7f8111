#!/usr/bin/env bash
# fetch-prometheus.sh: put Debian's prometheus and promtool (and nothing else of the package)
# into a cache folder for the monitoring tests, without installing the package: `apt-get
# install prometheus` would run its maintainer scripts, which start a Prometheus service.
#
# Usage: scripts/fetch-prometheus.sh [CACHE_DIR]   (default: .cache/prometheus in the repo)
# Prints the directory holding prometheus and promtool. Idempotent.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${1:-$repo/.cache/prometheus}
bin=$cache/root/usr/bin

if [ -x "$bin/prometheus" ] && [ -x "$bin/promtool" ]; then
	echo "$bin"
	exit 0
fi

mkdir -p "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(
	cd "$work"
	# apt-get download needs package lists; refresh them once when they are missing.
	if ! apt-get download prometheus >/dev/null 2>&1; then
		apt-get update >/dev/null
		apt-get download prometheus >/dev/null
	fi
)
deb=$(ls "$work"/prometheus_*.deb)
rm -rf "$cache/root"
dpkg-deb -x "$deb" "$cache/root"
for b in prometheus promtool; do
	if [ ! -x "$bin/$b" ]; then
		echo "fetch-prometheus: $deb holds no $b" >&2
		exit 1
	fi
done
echo "$bin"
