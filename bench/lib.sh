# shellcheck shell=bash
# Setup shared by the benchmark scripts in bench/: sourced (after `cd` to the repository root),
# not run. Each function sets globals the scripts read: work, pids, up, upport.

# bench_need NAME PATH: exit unless PATH is executable (scripts/fetch-chrony.sh puts chronyd and
# chronyc under .cache).
bench_need() {
	[ -x "$2" ] || { echo "no $1 at $2: run scripts/fetch-chrony.sh" >&2; exit 1; }
}

# bench_tags: the Dockerfile's build tags (internal/entrypointtest's TestBuildTags checks that
# they stay the same): no urfave/cli doc generator nor "did you mean", and net/http without its
# bundled HTTP/2 (the entrypoint serves plain HTTP/1.1 to Prometheus and the kubelet).
bench_tags=urfave_cli_no_docs,urfave_cli_no_suggest,nethttpomithttp2

# bench_build_entrypoint OUT: the entrypoint built exactly as the Dockerfile builds it (its
# version ldflags only add two strings).
bench_build_entrypoint() {
	CGO_ENABLED=0 go build -trimpath -tags "$bench_tags" \
		-ldflags "-s -w -X main.version=bench -X main.revision=bench" -o "$1" ./cmd/entrypoint
}

# bench_workdir PREFIX: a fresh directory $work (/tmp/PREFIX.XXXXXX, mode 0755 so that the user nobody
# can reach into it) and an empty list pids; on exit every PID in pids gets SIGTERM and is
# waited for, then $work is removed.
bench_workdir() {
	work=$(mktemp -d "/tmp/$1.XXXXXX")
	chmod 0755 "$work"
	pids=()
	trap bench_cleanup EXIT
}

bench_cleanup() {
	# Entrypoints stop their chronyd on SIGTERM; bare chronyd and the upstream exit on it.
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}

# bench_upstream PORT: an upstream for the measured servers, $chronyd as stratum 1 from its
# local clock on 127.0.0.1:PORT, run as the current user in $work/up (sets up and upport; its
# PID joins pids). Always -x: this machine's clock is never touched.
bench_upstream() {
	upport=$1
	up=$work/up
	mkdir -m 0750 "$up"
	cat >"$up/chrony.conf" <<CONF
port $upport
bindaddress 127.0.0.1
cmdport 0
bindcmdaddress $up/chronyd.sock
pidfile $up/chronyd.pid
local stratum 1
allow 127.0.0.0/8
CONF
	"$chronyd" -x -d -U -u "$(id -un)" -f "$up/chrony.conf" 2>"$up/log" &
	pids+=($!)
}
