#!/usr/bin/env bash
# test.sh: the project's test command (README "Test it"). Run from anywhere, as root (the
# privilege tests switch users and capabilities; the container tests talk to dockerd).
#
# Needs: Go, Debian's apt (for chronyd, fetched into .cache, never installed), a running dockerd,
# docker-compose. .ci/run installs and starts those on a fresh machine, then calls this script.
#
# Environment: FUZZTIME (default 20s) per fuzz target; GOFLAGS passes through.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-20s}

step() { printf '\n== %s\n' "$*"; }

step "Debian chronyd for the integration tests (apt-get download, never installed)"
scripts/fetch-chrony.sh

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

step "go test (unit, integration with the real chronyd -x, container end-to-end)"
go test -count=1 -timeout 30m ./...

step "fuzz (${fuzztime} per target)"
go test -run '^$' -fuzz '^FuzzEnvironment$' -fuzztime "$fuzztime" ./pkg/chronyconf
go test -run '^$' -fuzz '^FuzzDirectives$' -fuzztime "$fuzztime" ./pkg/chronyconf
go test -run '^$' -fuzz '^FuzzRefclock$' -fuzztime "$fuzztime" ./pkg/chronyconf
