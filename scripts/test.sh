#!/usr/bin/env bash
# test.sh: the project's test command (README "Test it"). Run from anywhere, as root (the
# privilege tests switch users and capabilities; the container tests talk to dockerd).
#
# Needs: Go, Debian's apt (for chronyd, fetched into .cache, never installed), a running dockerd,
# docker-compose, and for the Kubernetes tests containerd, runc, openssl and iproute2 (the
# cluster's other parts are built or fetched into .cache by scripts/k8s-up.sh). .ci/run
# installs and starts those on a fresh machine, then calls this script.
#
# Environment: FUZZTIME (a count such as 300000x, or a duration; default: a count per target that
# takes about 20 s on 2 cores) for every fuzz target; CHRONY_VERSIONS (default "4.3 4.6.1 4.9"):
# the chrony releases the packages that start a real chronyd run against (the first one also
# runs everything else); GOFLAGS passes through.
set -euo pipefail
cd "$(dirname "$0")/.."

# A test that needs chronyd, Docker or the cluster skips with a how-to message under a plain
# `go test ./...` (a laptop); here such a skip is a failure, so this command runs everything.
export CHRONY_TEST_STRICT=1

step() { printf '\n== %s\n' "$*"; }

read -r -a versions <<<"${CHRONY_VERSIONS:-4.3 4.6.1 4.9}"

step "Debian's chrony ${versions[*]} for the integration tests, 4.9 for the stand-in image (downloaded, never installed)"
for v in "${versions[@]}" 4.9; do
	scripts/fetch-chrony.sh "$v" >/dev/null
done

step "Debian prometheus and promtool for the monitoring tests (apt-get download, never installed)"
scripts/fetch-prometheus.sh

step "gofmt, go vet"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*'))
if [ -n "$unformatted" ]; then
	echo "gofmt: these files need formatting:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...

step "actionlint on .github/workflows"
go run github.com/rhysd/actionlint/cmd/actionlint@v1.7.12

step "docker engine"
if ! docker info >/dev/null 2>&1; then
	echo "test.sh: dockerd is not reachable; the container tests need it (.ci/run starts it)" >&2
	exit 1
fi

step "go test with chrony ${versions[0]} (unit, integration with the real chronyd -x, container end-to-end)"
# test/k8s runs on its own below, with its cluster up only meanwhile: a cluster idling beside
# the timing-sensitive packages only loads the machine.
mapfile -t pkgs < <(go list ./... | grep -v '/test/k8s$')
CHRONY_VERSION=${versions[0]} go test -count=1 -timeout 30m "${pkgs[@]}"

step "Kubernetes: a one-node cluster (scripts/k8s-up.sh), test/k8s on it, scripts/k8s-down.sh"
# Builds the Kubernetes binaries into .cache/k8s the first time (about 9 minutes on 2 cores).
# A cluster that cannot come up fails the run here (k8s-up.sh cleans up after itself; it refuses
# to touch a cluster another run is using); test/k8s fails without it too.
CHRONY_K8S_ENV=$(scripts/k8s-up.sh)
trap 'scripts/k8s-down.sh' EXIT
trap 'exit 130' INT TERM
CHRONY_K8S_ENV=$CHRONY_K8S_ENV CHRONY_K8S_REQUIRED=1 go test -count=1 -timeout 30m ./test/k8s/...
trap - EXIT
scripts/k8s-down.sh

# The packages that start a real chronyd (found by what their tests call), once per other
# release. The container tests are not among them: the stand-in carries 4.9 (test/standin).
mapfile -t chronyd_pkgs < <(grep -lE 'chronytest\.(Start|StartUpstream|Chronyd|Chronyc)\(|entrypointtest\.(Start|NewContainer)\(' \
	--include='*_test.go' -r cmd pkg internal test bench | xargs -n1 dirname | sort -u | sed 's|^|./|')
for v in "${versions[@]:1}"; do
	step "go test with chrony $v: ${chronyd_pkgs[*]} ./internal/chronytest"
	CHRONY_VERSION=$v go test -count=1 -timeout 20m "${chronyd_pkgs[@]}" ./internal/chronytest
done

# Fuzz budgets are counts of executions, not durations. With a duration, Go's fuzz coordinator
# (go1.26) can report "context deadline exceeded" and fail at the deadline without any failing
# input (go.dev/issue/75804, fixed in go1.27): CI hit it on FuzzDirectives after 324,784 clean
# execs. A count has no deadline to race; -timeout still bounds the run in time. A real finding
# writes its input to testdata/fuzz/ and fails as before.
fuzz() { # target package default-count
	go test -run '^$' -fuzz "^$1\$" -fuzztime "${FUZZTIME:-$3}" -timeout 5m "$2"
}
step "fuzz (${FUZZTIME:-about 20 s of executions} per target)"
fuzz FuzzEnvironment ./pkg/chronyconf 300000x
fuzz FuzzDirectives ./pkg/chronyconf 300000x
fuzz FuzzRefclock ./pkg/chronyconf 300000x
fuzz FuzzMatchers ./pkg/config 1000000x
