#!/usr/bin/env bash
# The entrypoint's size (issue 16, Size): the Dockerfile's build stripped and gzipped, beside
# chrony_exporter's ($CHRONY_EXPORTER, built outside the repo; unset, left out), and what each
# package adds, from the linker's reachability graph (bench/sizes): "only-via" is what a build
# without that package would lose, the linker's other decisions unchanged.
# Also a build without urfave/cli's text/template help (a patched copy of the module, outside the
# repository: not shippable), which shows the floor the four libraries leave.
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
CGO_ENABLED=0 go build -trimpath -tags urfave_cli_no_docs,urfave_cli_no_suggest -ldflags '-s -w' -o "$work/with-h2" ./cmd/entrypoint
# shellcheck disable=SC2046
row "  without nethttpomithttp2 (net/http's HTTP/2 in)" $(sizes "$work/with-h2")
CGO_ENABLED=0 go build -trimpath -tags urfave_cli_no_docs -ldflags '-s -w' -o "$work/old-tags" ./cmd/entrypoint
# shellcheck disable=SC2046
row "  ... and without urfave_cli_no_suggest" $(sizes "$work/old-tags")
CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$work/no-tags" ./cmd/entrypoint
# shellcheck disable=SC2046
row "  ... and without urfave_cli_no_docs (no tags)" $(sizes "$work/no-tags")

# What urfave/cli's help costs through text/template: reflect's MethodByName with a computed
# name makes the linker keep every exported method of every type that reaches an interface.
# A copy of the module, outside the repository, whose printHelpCustom prints the template's
# source unrendered and whose fish completion returns an error (neither references
# text/template any more), built through a replace in a copy of go.mod (-modfile): a size
# measurement only, never shipped (help would print raw templates).
cli_mod=github.com/urfave/cli/v2
cli_dir=$(go list -m -f '{{.Dir}}' "$cli_mod")
cp -r "$cli_dir" "$work/cli"
chmod -R u+w "$work/cli"
stub() { # FILE FUNC-LINE-PREFIX STUB: replace the function from its first line to its closing brace
	awk -v start="$2" -v stub="$3" '
		!skip && index($0, start) == 1 { print stub; skip = 1; next }
		skip && $0 == "}" { skip = 0; next }
		!skip && $0 != "\t\"text/template\"" { print }' "$1" >"$1.new"
	mv "$1.new" "$1"
}
stub "$work/cli/help.go" "func printHelpCustom(" 'func printHelpCustom(out io.Writer, templ string, data interface{}, customFuncs map[string]interface{}) {
	w := tabwriter.NewWriter(out, 1, 8, 2, '"' '"', 0)
	_, _ = io.WriteString(w, templ)
	_ = w.Flush()
}'
stub "$work/cli/fish.go" "func (a *App) writeFishCompletionTemplate(" 'func (a *App) writeFishCompletionTemplate(w io.Writer) error {
	return fmt.Errorf("fish completion: not in this build")
}'
if grep -l 'text/template' "$work/cli/help.go" "$work/cli/fish.go"; then
	echo "size.sh: the urfave/cli patch no longer applies (the files above still use text/template)" >&2
	exit 1
fi
cp go.mod "$work/go.mod"
cp go.sum "$work/go.sum"
go mod edit -modfile="$work/go.mod" -replace "$cli_mod=$work/cli"
CGO_ENABLED=0 go build -modfile="$work/go.mod" -trimpath -tags "$bench_tags" -ldflags '-s -w' -o "$work/no-template" ./cmd/entrypoint
if go list -modfile="$work/go.mod" -tags "$bench_tags" -deps ./cmd/entrypoint | grep -qx text/template; then
	echo "size.sh: text/template is still imported without urfave/cli's help: the row below overstates" >&2
fi
# shellcheck disable=SC2046
row "without urfave/cli's text/template help (not shippable: keeps the 4 chosen libraries only if we keep help)" $(sizes "$work/no-template")
if [ -n "${CHRONY_EXPORTER:-}" ]; then
	# shellcheck disable=SC2046
	row "chrony_exporter (\$CHRONY_EXPORTER)" $(sizes "$CHRONY_EXPORTER")
fi

echo
CGO_ENABLED=0 go build -trimpath -tags "$bench_tags" -ldflags=-dumpdep \
	-o "$work/entrypoint.sym" ./cmd/entrypoint 2>"$work/dumpdep"
go run ./bench/sizes "$work/dumpdep" "$work/entrypoint.sym" "$N"
