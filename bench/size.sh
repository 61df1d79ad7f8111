#!/usr/bin/env bash
# The entrypoint's size (issue 16, Size): the Dockerfile's build stripped and gzipped, beside
# chrony_exporter's ($CHRONY_EXPORTER, built outside the repo; unset, left out), and what each
# package adds, from the linker's reachability graph (bench/sizes): "only-via" is what a build
# without that package would lose, the linker's other decisions unchanged.
# Env: N (packages tried, default 40). A benchmark, not a test: it prints figures.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
N=${N:-40}
bench_workdir bsize
bench_build_entrypoint "$work/entrypoint"
row() { printf '%-52s %10s %10s\n' "$@"; }
sizes() { echo "$(stat -c %s "$1")" "$(gzip -9c "$1" | wc -c)"; }
row binary "stripped" "gzip -9"
# shellcheck disable=SC2046 # two words
row "entrypoint (the Dockerfile's build)" $(sizes "$work/entrypoint")
CGO_ENABLED=0 go build -trimpath -tags urfave_cli_no_docs -ldflags '-s -w' -o "$work/old-tags" ./cmd/entrypoint
# shellcheck disable=SC2046
row "  without urfave_cli_no_suggest" $(sizes "$work/old-tags")
CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$work/no-tags" ./cmd/entrypoint
# shellcheck disable=SC2046
row "  without any urfave_cli_* tag" $(sizes "$work/no-tags")
if [ -n "${CHRONY_EXPORTER:-}" ]; then
	# shellcheck disable=SC2046
	row "chrony_exporter (\$CHRONY_EXPORTER)" $(sizes "$CHRONY_EXPORTER")
fi

echo
CGO_ENABLED=0 go build -trimpath -tags urfave_cli_no_docs,urfave_cli_no_suggest -ldflags=-dumpdep \
	-o "$work/entrypoint.sym" ./cmd/entrypoint 2>"$work/dumpdep"
go run ./bench/sizes "$work/dumpdep" "$work/entrypoint.sym" "$N"
