#!/usr/bin/env bash
# stress.sh: runs test packages COUNT times while LOAD busy loops take the CPU, to find the tests
# that pass on an idle machine and fail on a loaded one, as CI's shared machines can be. Ends
# only the busy loops it started, by PID, however it exits.
#
# Usage: scripts/stress.sh [-n COUNT] [-l LOAD] [-r REGEXP] PACKAGE...
#   COUNT  go test -count (default 3)
#   LOAD   busy loops (default: one per core, which halves the CPU a test gets)
#   REGEXP go test -run (default: every test)
# The packages need what scripts/test.sh gives them (chronyd in .cache, dockerd for test/e2e,
# the cluster for test/k8s); CHRONY_VERSION passes through, and a skip is a failure here too.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: scripts/stress.sh [-n COUNT] [-l LOAD] [-r REGEXP] PACKAGE..." >&2; exit 2; }
count=3 load=$(nproc) run=.
while getopts n:l:r: o; do
	case $o in
	n) count=$OPTARG ;;
	l) load=$OPTARG ;;
	r) run=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || usage
[[ $count =~ ^[1-9][0-9]*$ && $load =~ ^[0-9]+$ ]] || usage

pids=()
stop() { [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true; }
trap stop EXIT
for _ in $(seq 1 "$load"); do
	(while :; do :; done) &
	pids+=($!)
done

echo "stress: go test -count=$count -run '$run' $* beside $load busy loops" >&2
CHRONY_TEST_STRICT=1 go test -count="$count" -timeout 60m -run "$run" "$@"
